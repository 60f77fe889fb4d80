"""A scan's budget inside the scanner: refused before model work when too long (untokenized when even a
lower bound is), stopped between window batches when cancelled, the same answer when within budget."""

from __future__ import annotations

import pytest

from hrm_core.serve.budget import ScanBudget, ScanCancelled, ScanTooLong
from tests.hrm_core.serve.scan_fixtures import DigitTaggingEngine, digit_scanner

LONG_BODY = " ".join(f"row {i} card {i}{i}{i}" for i in range(300))  # dozens of 64-token windows


class CountingEngine(DigitTaggingEngine):
    """The digit engine, counting its calls; cancels ``budget`` when call ``cancel_at`` starts."""

    def __init__(self, tok, budget: ScanBudget | None = None, cancel_at: int | None = None) -> None:
        super().__init__(tok)
        self.calls, self.budget, self.cancel_at = 0, budget, cancel_at

    def run(self, input_ids, attention_mask, memory_seed):
        self.calls += 1
        if self.budget is not None and self.calls == self.cancel_at:
            self.budget.cancel()
        return super().run(input_ids, attention_mask, memory_seed)


def _scanner_with(engine_factory, batch_size: int = 1):
    scanner = digit_scanner(batch_size=batch_size)
    scanner.engine = engine_factory(scanner.tokenizer)
    return scanner


def test_a_cancelled_scan_stops_at_the_next_window_batch():
    budget = ScanBudget()
    scanner = _scanner_with(lambda tok: CountingEngine(tok, budget, cancel_at=3))
    windows = scanner._windows(len(scanner._prepare(scanner_request(LONG_BODY)).ids))
    assert windows > 20
    with pytest.raises(ScanCancelled):
        scanner.scan_batch([{"body": LONG_BODY}], budget=budget)
    assert scanner.engine.calls == 3  # the batch in progress finished; no later one started
    assert budget.tokens_run == 3 * scanner.max_len  # the three batches that ran, metered


def test_an_expired_deadline_runs_nothing():
    scanner = _scanner_with(CountingEngine)
    with pytest.raises(ScanCancelled, match="deadline"):
        scanner.scan_batch([{"body": "hello"}], budget=ScanBudget(seconds=0.0))
    assert scanner.engine.calls == 0


def test_too_many_windows_is_refused_before_the_model_and_a_huge_body_before_tokenizing(monkeypatch):
    scanner = _scanner_with(CountingEngine)
    exact = scanner._windows(len(scanner._prepare(scanner_request(LONG_BODY)).ids))
    with pytest.raises(ScanTooLong) as err:
        scanner.scan_batch([{"body": LONG_BODY}], budget=ScanBudget(max_windows=exact - 1))
    assert (err.value.windows, err.value.max_windows, err.value.estimated) == (exact, exact - 1, False)
    assert scanner.engine.calls == 0
    encoded: list[int] = []
    real_encode = scanner.tokenizer.encode
    monkeypatch.setattr(
        scanner.tokenizer, "encode", lambda text: encoded.append(len(text)) or real_encode(text)
    )
    with pytest.raises(ScanTooLong) as err:  # 40x the allowance: refused from the lower bound alone
        scanner.scan_batch([{"body": LONG_BODY * 40}], budget=ScanBudget(max_windows=exact))
    assert err.value.estimated and err.value.windows > exact and encoded == []
    assert err.value.windows <= scanner._windows(len(real_encode(LONG_BODY * 40)[0]))  # a true lower bound


def test_within_budget_the_answer_is_the_unbudgeted_one():
    scanner = digit_scanner(batch_size=4)
    plain = scanner.scan_batch([{"body": LONG_BODY}, {"body": "hi 42"}])
    budget = ScanBudget(seconds=60, max_windows=1000)
    budgeted = scanner.scan_batch([{"body": LONG_BODY}, {"body": "hi 42"}], budget=budget)
    for a, b in zip(plain, budgeted, strict=True):
        assert {**a, "latency_ms": 0} == {**b, "latency_ms": 0}
    assert budget.tokens_run > 20 * 48 and budget.model_seconds > 0


def scanner_request(body: str):
    from hrm_core.serve.scanner import parse_scan_request

    return parse_scan_request({"body": body})


def test_a_message_likely_too_long_is_counted_piece_by_piece_and_refused_early(monkeypatch):
    scanner = _scanner_with(CountingEngine)
    body = (LONG_BODY + " ") * 60  # ~300k characters
    request = scanner_request(body)
    allowance = scanner._windows(scanner._min_tokens(request))  # the lower bound just passes
    seen: list[int] = []
    real_encode = scanner.tokenizer.encode
    monkeypatch.setattr(scanner.tokenizer, "encode", lambda text: seen.append(len(text)) or real_encode(text))
    with pytest.raises(ScanTooLong) as err:
        scanner.scan_batch([request], budget=ScanBudget(max_windows=allowance))
    assert err.value.estimated and err.value.windows > allowance
    assert seen and max(seen) <= 32_768 and sum(seen) < len(body) / 2  # never the whole body at once
    assert scanner.engine.calls == 0
