"""Admission by work: lanes filled in order, refused past the deadline with the expected wait, an idle
thread always admits, max_pending caps the count, and the observed slowdown prices later work."""

from __future__ import annotations

import pytest

from hrm_core.serve.admission import Admission, Overloaded


def test_work_is_admitted_while_it_can_finish_by_the_deadline():
    a = Admission(deadline_s=10.0, workers=2, max_pending=10)
    tickets = [a.admit(4.0) for _ in range(4)]  # lanes: 4+4 | 4+4 -> the fourth starts at 4, ends at 8
    with pytest.raises(Overloaded) as busy:
        a.admit(4.0)  # would start at 8 and end at 12 > 10
    assert busy.value.retry_after_s == 8 and a.pending == 4
    assert a.admit(2.0) is not None  # starts at 8, ends at 10: fits exactly
    for t in tickets:
        a.finish(t)
    assert a.pending == 1


def test_an_idle_thread_admits_anything_and_max_pending_caps_the_count():
    a = Admission(deadline_s=1.0, workers=1, max_pending=2)
    first = a.admit(50.0)  # idle: the scanner's window allowance decides (413), not admission
    a.start(first)
    with pytest.raises(Overloaded) as busy:
        a.admit(0.1)  # the thread is busy for about 50 s
    assert busy.value.retry_after_s == 50
    b = Admission(deadline_s=100.0, workers=4, max_pending=2)
    b.admit(0.1), b.admit(0.1)
    with pytest.raises(Overloaded):
        b.admit(0.1)


def test_the_observed_slowdown_raises_later_prices():
    a = Admission(deadline_s=10.0, workers=1, max_pending=10)
    t = a.admit(1.0)
    a.start(t)
    a.finish(t, measured_s=1.0, observed_s=3.0)  # scans ran 3x slower than measured at start
    assert a.slowdown == pytest.approx(1.4)
    a.start(a.admit(4.0))
    with pytest.raises(Overloaded):  # 4 s priced 5.6 s: a second one would end at 11.2 > 10
        a.admit(4.0)
