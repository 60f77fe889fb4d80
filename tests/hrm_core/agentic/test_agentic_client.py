"""MessageClient over the real anthropic SDK and a MockTransport: success, retries (retry-after), batches, cache."""

from __future__ import annotations

import email.utils
import logging
from datetime import UTC, datetime, timedelta

import anthropic
import httpx2
import pytest

from hrm_core.agentic.agents import build_request
from hrm_core.agentic.client import MessageClient, request_key
from hrm_core.agentic.fake_api import FakeClaude
from hrm_core.agentic.plan import plan_mix

MODEL = "claude-sonnet-4-6"


def _requests(n: int) -> list[dict]:
    plan = plan_mix(n)
    return [build_request(plan.task(i), 0, [], MODEL, 512) for i in range(n)]


def _client(fake: FakeClaude, tmp_path, sleeps: list[float] | None = None, **kw) -> MessageClient:
    rec = sleeps if sleeps is not None else []
    return MessageClient(fake.client(), tmp_path / "cache", MODEL, sleep=rec.append, **kw)


def test_success_returns_tool_use_and_counts_usage(tmp_path):
    fake = FakeClaude()
    mc = _client(fake, tmp_path, mode="concurrent", concurrency=2)
    out = mc.complete_all(_requests(3))
    assert fake.message_calls == 3
    assert all(
        m["content"][0]["type"] == "tool_use" and m["content"][0]["name"] == "emit_message" for m in out
    )
    assert mc.usage.requests == 3
    assert mc.usage.input_tokens == sum(m["usage"]["input_tokens"] for m in out)
    # Sonnet 4.6 interactive price: $3 / $15 per million tokens.
    expected = (mc.usage.input_tokens * 3 + mc.usage.output_tokens * 15) / 1e6
    assert mc.usage.cost_usd == pytest.approx(expected)


def test_429_then_success_retries_with_bounded_backoff(tmp_path):
    fake = FakeClaude()
    fake.errors = [429, 529, 503]
    sleeps: list[float] = []
    mc = _client(fake, tmp_path, sleeps, mode="concurrent", concurrency=1, backoff_max_s=4.0)
    [msg] = mc.complete_all(_requests(1))
    assert msg["type"] == "message"
    assert fake.message_calls == 4  # three failures, then the success
    assert mc.retries == 3 and len(sleeps) == 3
    assert all(0 <= s <= 4.0 for s in sleeps)


def test_retries_give_up_after_max_attempts(tmp_path):
    fake = FakeClaude()
    fake.errors = [429] * 10
    mc = _client(fake, tmp_path, mode="concurrent", max_attempts=3)
    [err] = mc.complete_all(_requests(1))
    assert isinstance(err, Exception) and getattr(err, "status_code", None) == 429
    assert fake.message_calls == 3


def test_batch_mode_uses_batches_api(tmp_path):
    fake = FakeClaude(batch_polls_to_end=2)
    mc = _client(fake, tmp_path, mode="auto", batch_min=3, batch_poll_s=0)
    out = mc.complete_all(_requests(4))
    assert fake.message_calls == 0 and len(fake.batches) == 1
    assert all(m["content"][0]["name"] == "emit_message" for m in out)
    assert mc.usage.batch_requests == 4
    # Half price on the batch: $1.5 / $7.5 per million.
    assert mc.usage.cost_usd == pytest.approx(
        (mc.usage.input_tokens * 1.5 + mc.usage.output_tokens * 7.5) / 1e6
    )


def test_batch_timeout_cancels_and_falls_back_to_concurrent(tmp_path):
    fake = FakeClaude(batch_polls_to_end=None)  # never ends
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    mc = MessageClient(fake.client(), tmp_path / "cache", MODEL, mode="batch", batch_timeout_s=60,
                       batch_poll_s=20, sleep=sleep, clock=lambda: now[0])  # fmt: skip
    out = mc.complete_all(_requests(3))
    assert ("POST", "/v1/messages/batches/msgbatch_fake0000/cancel") in fake.requests
    assert fake.batches["msgbatch_fake0000"]["status"] == "canceling"
    assert fake.message_calls == 3 and mc.batch_fallbacks == 1
    assert all(m["type"] == "message" for m in out)
    assert now[0] <= 60 + 20  # gave up within one poll of the timeout


def test_cache_hits_send_zero_requests(tmp_path):
    reqs = _requests(5)
    first = _client(FakeClaude(), tmp_path, mode="concurrent").complete_all(reqs)
    fake = FakeClaude()
    mc = _client(fake, tmp_path, mode="auto", batch_min=1)
    again = mc.complete_all(reqs)
    assert fake.requests == []
    assert again == first and mc.usage.cache_hits == 5 and mc.usage.cost_usd == 0


def test_request_key_changes_with_any_field():
    req = _requests(1)[0]
    assert request_key(req) == request_key(dict(req))
    for k, v in (("model", "claude-haiku-4-5"), ("max_tokens", 99), ("system", "x")):
        assert request_key({**req, k: v}) != request_key(req)


def test_spend_limit_stops_sending(tmp_path):
    from hrm_core.agentic.client import SpendLimitReached

    fake = FakeClaude()
    mc = _client(fake, tmp_path, mode="concurrent", concurrency=1, spend_limit_usd=1e-9)
    mc.complete_all(_requests(1))
    with pytest.raises(SpendLimitReached):
        mc.complete_all(_requests(2)[1:])
    assert fake.message_calls == 1


def test_api_key_never_in_logs_or_repr(tmp_path, caplog, monkeypatch):
    secret = "sk-ant-test-SECRET-123"
    import anthropic
    import httpx2

    fake = FakeClaude()
    fake.errors = [429]
    client = anthropic.Anthropic(api_key=secret, max_retries=0,
                                 http_client=httpx2.Client(transport=httpx2.MockTransport(fake.handler)))  # fmt: skip
    caplog.set_level(logging.DEBUG)
    mc = MessageClient(client, tmp_path / "cache", MODEL, mode="concurrent", sleep=lambda s: None)
    mc.complete_all(_requests(1))
    assert mc.retries == 1
    assert secret not in caplog.text and secret not in repr(mc)
    assert all(secret not in p.read_text() for p in (tmp_path / "cache").rglob("*.json"))


def _rate_limited_then(fake: FakeClaude, headers: list[dict[str, str]]) -> anthropic.Anthropic:
    """The real SDK over a MockTransport: one 429 per entry of `headers` (with those headers), then `fake`."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/v1/messages" and headers:
            body = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
            return httpx2.Response(429, json=body, headers=headers.pop(0))
        return fake.handler(request)

    transport = httpx2.MockTransport(handler)
    return anthropic.Anthropic(api_key="test", max_retries=0, http_client=httpx2.Client(transport=transport))


def test_429_waits_what_retry_after_asks_in_seconds_or_as_a_date(tmp_path):
    now = 1_790_000_000.0  # a whole second: an HTTP date has one-second resolution
    in_3s = email.utils.format_datetime(datetime.fromtimestamp(now, UTC) + timedelta(seconds=3), usegmt=True)
    asks = [{"retry-after": "2"}, {"retry-after": in_3s}, {"retry-after-ms": "1500", "retry-after": "9"}]
    fake, sleeps = FakeClaude(), []
    mc = MessageClient(
        _rate_limited_then(fake, asks),
        tmp_path / "c",
        MODEL,
        sleep=sleeps.append,
        wall_clock=lambda: now,
        mode="concurrent",
        backoff_max_s=0.5,
    )
    [msg] = mc.complete_all(_requests(1))
    assert msg["type"] == "message" and mc.retries == 3
    assert sleeps[0] == 2.0  # not the 0.5 s backoff cap: the server's word
    assert sleeps[1] == 3.0  # the date, relative to the client's wall clock
    assert sleeps[2] == 1.5  # the precise header wins


def test_retry_after_is_capped_and_a_missing_or_zero_one_falls_back_to_backoff(tmp_path):
    asks = [{"retry-after": "3600"}, {"retry-after": "0"}, {"retry-after": "soon"}, {}]
    sleeps: list[float] = []
    mc = MessageClient(
        _rate_limited_then(FakeClaude(), asks), tmp_path / "c", MODEL, sleep=sleeps.append,
        mode="concurrent", backoff_max_s=0.25, retry_after_max_s=30.0,
    )  # fmt: skip
    [msg] = mc.complete_all(_requests(1))
    assert msg["type"] == "message"
    assert sleeps[0] == 30.0
    assert all(0 <= s <= 0.25 for s in sleeps[1:]) and len(sleeps) == 4
