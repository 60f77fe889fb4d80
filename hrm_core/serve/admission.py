"""Admission by work: a scan is let in only while the work ahead of it can finish within its deadline.

A request's price is the model time it will probably take: `Scanner.estimate_windows` × the time of
one full window measured at start (`Scanner.warmup`). The CPU is treated as one server (scans that
run side by side share its cores), so admitted work drains at the rate of one scan running alone:

    admit(price)   refused when ``max_pending`` scans are admitted already, or when the admitted work
                   plus this one exceeds the deadline; `Overloaded` carries the seconds the admitted
                   work needs, for ``Retry-After``
    release(ticket) when the scan's thread ends (done, failed or cancelled), not when its HTTP answer
                   went out: a 504's work still running is still counted

An idle service admits any one request (whether it fits the deadline is decided from its exact window
count, in the scanner). ``max_pending`` also bounds the memory held by request bodies waiting for a
thread.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass


class Overloaded(Exception):
    """No room for this request now; retry after ``retry_after_s`` seconds."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"scanner busy, retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Ticket:
    price_s: float


class Admission:
    """Counts the scans admitted and the model seconds they are expected to take (thread-safe)."""

    def __init__(self, deadline_s: float, max_pending: int) -> None:
        self.deadline_s, self.max_pending = deadline_s, max_pending
        self._lock = threading.Lock()
        self.pending = 0
        self.queued_s = 0.0

    def admit(self, price_s: float) -> Ticket:
        """A ticket for a scan expected to take ``price_s`` seconds, or `Overloaded`."""
        with self._lock:
            full = self.pending >= self.max_pending
            late = self.pending > 0 and self.queued_s + price_s > self.deadline_s
            if full or late:
                raise Overloaded(max(1, math.ceil(self.queued_s)))
            self.pending += 1
            self.queued_s += price_s
        return Ticket(price_s)

    def release(self, ticket: Ticket) -> None:
        with self._lock:
            self.pending -= 1
            self.queued_s = max(0.0, self.queued_s - ticket.price_s) if self.pending else 0.0
