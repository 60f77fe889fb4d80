"""How many CPU cores this process may use: one answer for the ONNX sessions, the bench and the data build."""

from __future__ import annotations

import os


def usable_cpu_count() -> int:
    """CPU cores this process may run on (cgroup/affinity aware where the OS tells us)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
