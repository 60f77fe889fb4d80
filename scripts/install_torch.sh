#!/usr/bin/env bash
# Install torch without ever pulling CUDA wheels onto a CPU-only machine.
#   GPU machine (nvidia-smi answers): the default PyPI build (CUDA), plus onnxruntime-gpu later.
#   CPU machine with a local CPU wheel (pip find-links): that wheel, no network needed.
#   CPU machine otherwise: the CPU build from PyTorch's CPU index.
set -euo pipefail
PIP="$1/bin/pip"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
if "$1/bin/python" -c "import torch" 2>/dev/null; then
  echo "torch already installed: $("$1/bin/python" -c 'import torch; print(torch.__version__)')"
  exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "GPU found: installing the CUDA build of torch==$TORCH_VERSION"
  "$PIP" install -q "torch==$TORCH_VERSION"
elif "$PIP" install -q --no-index "torch==$TORCH_VERSION" 2>/dev/null; then
  echo "installed the local CPU build of torch==$TORCH_VERSION"
else
  echo "no GPU: installing the CPU build of torch==$TORCH_VERSION"
  "$PIP" install -q "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
fi
