#!/usr/bin/env bash
# Install torch without ever pulling CUDA wheels onto a CPU-only machine.
#   GPU machine (nvidia-smi answers): the default PyPI build (CUDA); the Makefile adds onnxruntime-gpu.
#   CPU machine with a local CPU wheel in pip's find-links (as on our build machines): that wheel file.
#   CPU machine otherwise: the CPU build from PyTorch's CPU index.
set -euo pipefail
PY="$1/bin/python"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
if "$PY" -c "import torch" 2>/dev/null; then
  echo "torch already installed: $("$PY" -c 'import torch; print(torch.__version__)')"
  exit 0
fi

local_cpu_wheel() {
  local dirs
  dirs="$("$PY" -m pip config list 2>/dev/null | sed -n "s/.*find-links='\(.*\)'/\1/p") ${PIP_FIND_LINKS:-}"
  for d in $dirs; do
    d="${d#file://}"
    ls "$d"/torch-"$TORCH_VERSION"+cpu-*.whl 2>/dev/null || true
  done | head -n 1
}

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "GPU found: installing the CUDA build of torch==$TORCH_VERSION"
  "$PY" -m pip install -q "torch==$TORCH_VERSION"
elif wheel="$(local_cpu_wheel)" && [ -n "$wheel" ]; then
  echo "installing the local CPU build: $wheel"
  "$PY" -m pip install -q "$wheel"
else
  echo "no GPU: installing the CPU build of torch==$TORCH_VERSION"
  "$PY" -m pip install -q "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu \
    --extra-index-url https://pypi.org/simple
fi
