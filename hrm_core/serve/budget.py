"""A scan's budget: a deadline, a window allowance and a cancel flag, checked between window batches.

The service gives every request one `ScanBudget`; `Scanner.scan_batch(..., budget=b)` then

  * refuses before any model work when the messages need more windows than ``b.max_windows``
    (`ScanTooLong`: first from a lower bound on the token count, so an oversized body is not even
    tokenized, then from the exact count);
  * checks ``b`` before each batch of windows and stops with `ScanCancelled` once the deadline has
    passed or ``b.cancel()`` was called (by the service when the client went away or the answer was
    already a 504). A model call in progress is not interrupted: cancellation is cooperative, so the
    work done past a deadline is at most one window batch;
  * records what it ran (tokens, seconds in the model), which the service uses to price later work.

A budget is used by one scan; ``cancel`` may be called from any thread.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence

import numpy as np

from hrm_core.tokens.windows import WindowRunner


class ScanCancelled(Exception):
    """The scan stopped between window batches: its deadline passed or it was cancelled."""


class ScanTooLong(ValueError):
    """The messages need more windows than the budget allows (``windows`` may be a lower bound)."""

    def __init__(self, windows: int, max_windows: int, estimated: bool) -> None:
        at_least = "at least " if estimated else ""
        super().__init__(f"needs {at_least}{windows} windows, at most {max_windows} fit the deadline")
        self.windows, self.max_windows, self.estimated = windows, max_windows, estimated


class ScanBudget:
    """Deadline (``seconds`` from now; None: none), window allowance (None: any) and a cancel flag."""

    def __init__(self, seconds: float | None = None, max_windows: int | None = None) -> None:
        self.expires_at = None if seconds is None else time.monotonic() + seconds
        self.max_windows = max_windows
        self._cancelled = threading.Event()
        self.tokens_run = 0  # real (unpadded) tokens the model has run so far
        self.model_seconds = 0.0  # wall time inside the model calls

    def cancel(self) -> None:
        """Stop the scan at its next window batch (thread-safe)."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def remaining(self) -> float:
        """Seconds left before the deadline (``inf`` without one; negative once passed)."""
        return math.inf if self.expires_at is None else self.expires_at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def check(self) -> None:
        """Raise `ScanCancelled` when the deadline has passed or the scan was cancelled."""
        if self._cancelled.is_set():
            raise ScanCancelled("scan cancelled")
        if self.expired():
            raise ScanCancelled("scan deadline passed")

    def admit_windows(self, windows: int, estimated: bool = False) -> None:
        """Raise `ScanTooLong` when ``windows`` exceed the allowance."""
        if self.max_windows is not None and windows > self.max_windows:
            raise ScanTooLong(windows, self.max_windows, estimated)

    def metered(self, run: WindowRunner) -> WindowRunner:
        """``run`` that checks this budget before each window batch and counts what it ran."""

        def guarded(
            ids: np.ndarray, mask: np.ndarray, seed: np.ndarray, cand: np.ndarray
        ) -> Sequence[np.ndarray]:
            self.check()
            t0 = time.perf_counter()
            out = run(ids, mask, seed, cand)
            self.model_seconds += time.perf_counter() - t0
            self.tokens_run += int(np.count_nonzero(mask))
            return out

        return guarded
