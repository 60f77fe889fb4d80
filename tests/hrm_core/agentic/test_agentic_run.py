"""The resumable run end to end over the fake API: rejections, threads, judge, crash and resume."""

from __future__ import annotations

import hashlib

import pytest

from hrm_core.agentic.client import MessageClient
from hrm_core.agentic.fake_api import FakeClaude
from hrm_core.agentic.plan import DOMAINS, LABEL_COMBOS, plan_mix
from hrm_core.agentic.run import RunConfig, run_agentic
from hrm_core.data.contract import CHANNELS

MODEL = "claude-sonnet-4-6"


def _client(fake: FakeClaude, tmp_path, **kw) -> MessageClient:
    kw = {"mode": "concurrent", "concurrency": 2, **kw}
    return MessageClient(fake.client(), tmp_path / "cache", MODEL, sleep=lambda s: None, batch_poll_s=0, **kw)


def _fault_every(n: int, kind: str):
    # Deterministic by prompt seed: task indexes divisible by n answer badly (first turn only).
    def fault(seed: str, req: dict) -> str | None:
        task, turn, _ = seed.split("-")
        return kind if int(task) % n == 0 and turn == "0" else None

    return fault


@pytest.mark.parametrize("kind,reason", [("no_tool_use", "no_tool_use"), ("bad_tool_input", "malformed_output"),
                                         ("value_not_found", "value_not_found"),
                                         ("label_contradiction", "label_contradiction")])  # fmt: skip
def test_bad_answers_are_rejected_and_replaced(tmp_path, kind, reason):
    fake = FakeClaude(fault=_fault_every(4, kind))
    res = run_agentic(
        plan_mix(12), _client(fake, tmp_path), tmp_path / "run", RunConfig(target=12, run_id="t")
    )
    assert len(res.examples) == 12 and res.stopped == "target"
    assert res.rejections == {reason: res.generated - 12} and res.rejections[reason] >= 3
    rejected = [r for r in res.audit if r["status"] == "rejected"]
    assert {r["reason"] for r in rejected} == {reason} and all(r["task"] % 4 == 0 for r in rejected)
    assert res.acceptance_rate == pytest.approx(12 / res.generated)


def test_threads_carry_previous_turns_and_share_a_thread_id(tmp_path):
    fake = FakeClaude()
    # Every key but one is already full, so the whole plan goes to (chat, hr, 0000): enough for threads.
    full = {(ch, d, lab): 1000 for ch in CHANNELS for d in DOMAINS for lab in LABEL_COMBOS}
    full[("chat", "hr", (0, 0, 0, 0))] = 0
    plan = plan_mix(40, full)
    assert {(t.cell.channel, t.cell.domain, t.cell.labels) for t in plan.tasks} == {
        ("chat", "hr", (0, 0, 0, 0))
    }
    threads = [t for t in plan.tasks if t.turns > 1]
    assert threads, "email/chat cells should plan threads"
    res = run_agentic(plan, _client(fake, tmp_path), tmp_path / "run", RunConfig(target=40, run_id="t"))
    by_thread: dict[str, list] = {}
    for ex in res.examples:
        if ex.thread_id:
            by_thread.setdefault(ex.thread_id, []).append(ex)
    assert len(by_thread) == len(threads) and all(len(v) == 3 for v in by_thread.values())
    # Turns 2 and 3 were written by the conversational agent with the earlier turns in the prompt.
    followups = [r for r in fake.seen if "The thread so far" in r["messages"][0]["content"]]
    assert len(followups) == 2 * len(threads)
    assert all("continuing an existing conversation" in r["system"] for r in followups)
    assert all([e.meta.model_extra["turn"] for e in v] == [0, 1, 2] for v in by_thread.values())


def test_judge_rejects_low_realism(tmp_path):
    def fault(seed: str, req: dict) -> str | None:
        is_judge = req["tools"][0]["name"] == "score_example"
        return (
            "judge_low"
            if is_judge and hashlib.sha256(req["messages"][0]["content"].encode()).digest()[0] < 64
            else None
        )

    fake = FakeClaude(fault=fault)
    res = run_agentic(
        plan_mix(16), _client(fake, tmp_path), tmp_path / "run", RunConfig(target=16, judge=True)
    )
    assert len(res.examples) == 16 and res.rejections.get("judge_rejected", 0) >= 1
    accepted = [r for r in res.audit if r["status"] == "accepted"]
    assert all(r["realism"] == 4 and r["label_agreement"] == 1.0 for r in accepted)
    assert {r["realism"] for r in res.audit if r["reason"] == "judge_rejected"} == {1}


class Crash(RuntimeError):
    pass


def test_crash_mid_run_then_resume_has_no_duplicates_and_no_gaps(tmp_path):
    target, k = 30, 17
    fake = FakeClaude(fault=_fault_every(5, "value_not_found"))
    cfg = RunConfig(target=target, run_id="t", checkpoint_every=4, chunk_tasks=8)
    plan = plan_mix(target)
    seen: list[str] = []

    def crash_after_k(ex) -> None:
        seen.append(ex.id)
        if len(seen) == k:
            raise Crash("power cut")

    with pytest.raises(Crash):
        run_agentic(plan, _client(fake, tmp_path), tmp_path / "run", cfg, on_accepted=crash_after_k)
    calls_before = fake.message_calls
    # Resume in a fresh process-like setting: new client, same cache and run directory.
    fake2 = FakeClaude(fault=_fault_every(5, "value_not_found"))
    res = run_agentic(plan, _client(fake2, tmp_path), tmp_path / "run", cfg)
    ids = [e.id for e in res.examples]
    assert len(ids) == target and len(set(ids)) == target
    assert len({e.content_hash() for e in res.examples}) == target
    assert res.rejections["value_not_found"] == len([r for r in res.audit if r["status"] == "rejected"])
    assert len({r["example_id"] for r in res.audit}) == len(res.audit)  # each message audited once
    # Work done before the crash came back from the cache: only messages past it were requested.
    assert fake2.message_calls < target and calls_before >= k
    # Same result as an uninterrupted run.
    clean = run_agentic(plan, _client(FakeClaude(fault=_fault_every(5, "value_not_found")), tmp_path),
                        tmp_path / "clean", cfg)  # fmt: skip
    assert [e.id for e in clean.examples] == ids


def test_rerun_is_served_from_cache_with_zero_requests(tmp_path):
    plan = plan_mix(10)
    run_agentic(plan, _client(FakeClaude(), tmp_path), tmp_path / "a", RunConfig(target=10))
    fake = FakeClaude()
    res = run_agentic(
        plan, _client(fake, tmp_path, mode="auto", batch_min=1), tmp_path / "b", RunConfig(target=10)
    )
    assert fake.requests == [] and len(res.examples) == 10 and res.usage["cost_usd"] == 0


def test_resume_with_another_plan_is_refused(tmp_path):
    run_agentic(plan_mix(4), _client(FakeClaude(), tmp_path), tmp_path / "run", RunConfig(target=4))
    with pytest.raises(ValueError, match="another plan"):
        run_agentic(plan_mix(8), _client(FakeClaude(), tmp_path), tmp_path / "run", RunConfig(target=8))


def test_all_rejected_stops_as_exhausted(tmp_path):
    fake = FakeClaude(fault=lambda seed, req: "no_tool_use")
    res = run_agentic(
        plan_mix(3), _client(fake, tmp_path), tmp_path / "run", RunConfig(target=3, max_task_factor=2)
    )
    assert res.stopped == "exhausted" and res.examples == [] and res.rejections == {"no_tool_use": 7}
