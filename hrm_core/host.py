"""What this process may use of its host: how many CPU cores (one answer for the ONNX sessions, the bench and
the data build), and how the C library's malloc keeps the memory a training step frees."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
# Blocks up to 32 MB (the largest threshold glibc accepts on 64-bit) come from the heap, not from a mapping
# of their own; the heap is given back to the OS only when 1 GB of it is free, and grows 256 MB at a time.
HEAP_SETTINGS: tuple[tuple[int, int], ...] = (
    (_M_MMAP_THRESHOLD, 32 << 20),
    (_M_TRIM_THRESHOLD, 1 << 30),
    (_M_TOP_PAD, 256 << 20),
)


def usable_cpu_count() -> int:
    """CPU cores this process may run on (cgroup/affinity aware where the OS tells us)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@functools.cache
def keep_freed_memory() -> bool:
    """Have glibc's malloc keep what a CPU training step frees for the next step (`HEAP_SETTINGS`).

    A fresh process otherwise returns much of what a step frees to the OS and faults it in again, zeroed, at
    the next step (twice the page faults); with the heap kept, cpu-small trains about 10% more tokens a second
    on 2 cores in a fresh process (`benchmarks/bench_train_throughput.py --compare-heap 4`), nothing
    measurable in one whose heap other work has already grown. For the rest of the process: its resident
    memory stays near its high-water mark. False, and nothing changed, where the C library has no ``mallopt``
    (musl, macOS, Windows) or refuses a setting. Called once per process; later calls return the answer."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    return all(mallopt(param, value) == 1 for param, value in HEAP_SETTINGS)
