"""Admission by work: a scan is let in only when it can start and finish within its deadline.

A request's price is the model time it will probably take: `Scanner.estimate_windows` × the time of
one full window, measured at start (`Scanner.warmup`) and scaled by the slowdown observed since
(scans running side by side share the cores). The ``workers`` threads are lanes: a new request
starts when the earliest lane is free, after the work running there and the work admitted before it.

    admit(price)    refused with `Overloaded` when ``max_pending`` scans are admitted already, when it
                    would wait more than ``max_wait_s`` for a thread, or when the expected start plus
                    the price passes the deadline (unless a thread is idle: then only the scanner's
                    window allowance can refuse it, with a 413)
    start(ticket)   when a thread picks the scan up
    finish(ticket)  when the thread ends (done, failed or cancelled), not when the HTTP answer went
                    out: a 504's work still running still holds its lane; records the observed rate

`Overloaded.retry_after_s` is the expected wait for a thread, for ``Retry-After``. ``max_pending`` also
bounds the memory held by request bodies waiting for a thread.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from dataclasses import dataclass, field


class Overloaded(Exception):
    """No room for this request now; retry after ``retry_after_s`` seconds."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"scanner busy, retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(eq=False)
class Ticket:
    price_s: float  # expected model seconds when admitted (already scaled by the slowdown)
    started_at: float | None = field(default=None)


class Admission:
    """Admitted scans, waiting and running, and the observed slowdown (thread-safe)."""

    def __init__(
        self, deadline_s: float, workers: int, max_pending: int, max_wait_s: float | None = None
    ) -> None:
        self.deadline_s, self.workers, self.max_pending = deadline_s, workers, max_pending
        self.max_wait_s = deadline_s if max_wait_s is None else max_wait_s
        self._lock = threading.Lock()
        self._waiting: list[Ticket] = []  # in admission order: the pool's queue is FIFO
        self._running: list[Ticket] = []
        self.slowdown = 1.0  # observed model seconds / measured ones, a running average (>= 1)

    @property
    def pending(self) -> int:
        return len(self._waiting) + len(self._running)

    def admit(self, price_s: float) -> Ticket:
        """A ticket for a scan expected to take ``price_s`` model seconds when alone, or `Overloaded`."""
        with self._lock:
            price = price_s * self.slowdown
            start = self._expected_start()
            idle = not self._waiting and len(self._running) < self.workers
            late = start > self.max_wait_s or start + price > self.deadline_s
            if self.pending >= self.max_pending or (not idle and late):
                raise Overloaded(max(1, math.ceil(start)))
            ticket = Ticket(price)
            self._waiting.append(ticket)
        return ticket

    def start(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket in self._waiting:
                self._waiting.remove(ticket)
                ticket.started_at = time.monotonic()
                self._running.append(ticket)

    def finish(self, ticket: Ticket, measured_s: float = 0.0, observed_s: float = 0.0) -> None:
        """Release ``ticket``; ``observed_s`` model seconds were spent on work priced ``measured_s``."""
        with self._lock:
            for queue in (self._waiting, self._running):
                if ticket in queue:
                    queue.remove(ticket)
            if measured_s > 0.05:  # enough work to say something about the machine's current speed
                ratio = min(8.0, max(1.0, observed_s / measured_s))
                self.slowdown = 0.8 * self.slowdown + 0.2 * ratio

    def _expected_start(self) -> float:
        """Seconds until a thread is free for a request admitted now (lanes filled in FIFO order)."""
        now = time.monotonic()
        lanes = [max(0.0, t.price_s - (now - (t.started_at or now))) for t in self._running]
        lanes += [0.0] * max(0, self.workers - len(lanes))
        heapq.heapify(lanes)
        for t in self._waiting:
            heapq.heappush(lanes, heapq.heappop(lanes) + t.price_s)
        return lanes[0]
