"""The one onnxruntime session factory: parity checks, quantization checks and the scanner all use it.

Parity measured on a session configured unlike the served one would not vouch for what is served, so
there is a single policy, the serving one: one message is a few small matmuls, so all usable cores on
one op (intra-op) beats running ops side by side (inter-op 1, sequential execution); the service scales
with worker threads, each calling ``run()`` on one thread-safe session. Full graph optimisation, warnings
about unused initializers silenced (severity 3), CUDA first when onnxruntime-gpu sees a GPU.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def usable_cpu_count() -> int:
    """CPU cores this process may run on (cgroup/affinity aware where the OS tells us)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def select_providers(available: Sequence[str] | None = None) -> list[str]:
    """ONNX Runtime providers to use: CUDA first when onnxruntime-gpu sees one, CPU always as fallback."""
    import onnxruntime as ort

    available = list(available if available is not None else ort.get_available_providers())
    chosen = [p for p in ("CUDAExecutionProvider",) if p in available]
    return [*chosen, "CPUExecutionProvider"]


def session_options(threads: int | None = None) -> Any:
    """`onnxruntime.SessionOptions` of the serving policy; ``threads`` None is `usable_cpu_count()`."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or usable_cpu_count()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return opts


def make_session(path: Path | str, threads: int | None = None, providers: Sequence[str] | None = None) -> Any:
    """An onnxruntime InferenceSession over `path` with `session_options` and `select_providers`.

    ``threads`` overrides intra-op parallelism (tests pin it to 1); ``providers`` overrides the choice.
    """
    import onnxruntime as ort

    return ort.InferenceSession(
        str(path),
        sess_options=session_options(threads),
        providers=list(providers) if providers is not None else select_providers(),
    )
