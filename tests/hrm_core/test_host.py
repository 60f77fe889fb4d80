"""How malloc keeps the memory a training step frees (`hrm_core.host.keep_freed_memory`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from hrm_core import host

# A step's worth of activations (2.4-20 MB, each touched) allocated and freed 20 times: the minor page
# faults counted are the pages malloc gave back to the OS and took again, zeroed.
_STEPS = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from hrm_core.host import keep_freed_memory
    kept = keep_freed_memory() if sys.argv[1] == "kept" else False
    def step():
        bufs = [np.ones(n) for n in (300_000, 1_200_000, 2_500_000, 700_000, 2_000_000)]
        del bufs
    for _ in range(3):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        step()
    print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_kept_heap_stops_the_page_faults_of_freed_activations():
    faults = {}
    for heap in ("default", "kept"):
        out = subprocess.run([sys.executable, "-c", _STEPS, heap], capture_output=True, text=True, check=True)
        kept, n = out.stdout.split()
        faults[heap] = (kept, int(n))
    assert faults["kept"][0] == "True" and faults["default"][0] == "False"
    # measured: about 39,000 faults with malloc's defaults, none with the heap kept
    assert faults["default"][1] > 10_000 and faults["kept"][1] < faults["default"][1] / 100, faults


def test_without_mallopt_nothing_changes_and_the_answer_is_false(monkeypatch):
    host.keep_freed_memory.cache_clear()
    monkeypatch.setattr(host.ctypes.util, "find_library", lambda name: None)  # no C library found
    try:
        assert host.keep_freed_memory() is False
    finally:
        host.keep_freed_memory.cache_clear()
