"""One checkpointed, resumable agentic run: plan -> requests -> examples, until `target` are accepted.

Tasks are taken from the plan in order, a chunk at a time. Within a chunk, thread turns go in waves
(all first turns, then all second turns with the first ones in the prompt, ...), the judge pass
follows, and then results are committed in task order, so that a checkpoint always falls on a task
boundary. Rejected messages are replaced by later tasks (the plan repeats as top-up variants).
Calling `run_agentic` again on the same run directory resumes from the last checkpoint.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from hrm_core.agentic.agents import build_request, org_domain_for
from hrm_core.agentic.checkpoint import RunStore
from hrm_core.agentic.client import MessageClient, SpendLimitReached
from hrm_core.agentic.extract import Deduper, Rejected, build_example, tool_input
from hrm_core.agentic.judge import JudgeScore, build_judge_request, parse_judge
from hrm_core.agentic.plan import Plan, Task, label_key
from hrm_core.agentic.pricing import Usage
from hrm_core.data.contract import Example


@dataclass
class RunConfig:
    """Knobs of one run (the model, token and concurrency settings live on the `MessageClient`)."""

    target: int
    run_id: str = "run"
    max_tokens: int = 1024
    checkpoint_every: int = 50
    chunk_tasks: int = 64
    judge: bool = False
    judge_model: str | None = None  # default: the generation model
    min_realism: int = 3
    max_task_factor: float = 3.0  # give up after this many times the planned tasks (a broken prompt)


@dataclass
class RunResult:
    examples: list[Example]
    audit: list[dict[str, Any]]
    generated: int
    rejections: dict[str, int]
    usage: dict[str, Any]
    stopped: str  # "target" | "spend_limit" | "exhausted"
    retries: int = 0
    batch_fallbacks: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def acceptance_rate(self) -> float:
        return len(self.examples) / self.generated if self.generated else 0.0


@dataclass
class _Candidate:
    task: Task
    turn: int
    example: Example | None = None
    rejected: Rejected | None = None
    stats: dict[str, int] = field(default_factory=dict)
    score: JudgeScore | None = None


def plan_fingerprint(plan: Plan, config: RunConfig, model: str) -> str:
    """Identifies what a run directory was started with; resuming with another plan is refused."""
    head = [
        (t.cell.channel, t.cell.domain, t.cell.labels, t.cell.difficulty, t.turns) for t in plan.tasks[:1000]
    ]
    blob = repr((len(plan.tasks), head, config.run_id, model, config.max_tokens))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _next_chunk(plan: Plan, start: int, remaining: int, max_tasks: int, limit: int) -> list[Task]:
    # Only as many tasks as can still be accepted (a thread counts its turns): no paid-for overshoot.
    tasks: list[Task] = []
    examples = 0
    i = start
    while examples < remaining and len(tasks) < max_tasks and i < limit:
        tasks.append(plan.task(i))
        examples += tasks[-1].turns
        i += 1
    return tasks


def _generate_chunk(tasks: list[Task], client: MessageClient, config: RunConfig) -> list[_Candidate]:
    cands: dict[tuple[int, int], _Candidate] = {}
    history: dict[int, list[dict[str, Any]]] = {t.index: [] for t in tasks}
    for turn in range(max(t.turns for t in tasks)):
        # A thread whose previous turn was rejected ends there: the next turn would reply to nothing.
        active = [t for t in tasks if t.turns > turn and len(history[t.index]) == turn]
        if not active:
            break
        reqs = [build_request(t, turn, history[t.index], client.model, config.max_tokens) for t in active]
        for t, resp in zip(active, client.complete_all(reqs), strict=True):
            c = _Candidate(t, turn)
            try:
                if isinstance(resp, Exception):
                    raise Rejected("api_error", type(resp).__name__)
                data = tool_input(resp)
                c.example, c.stats = build_example(t, turn, data, org_domain_for(t), config.run_id)
                history[t.index].append(data)
            except Rejected as r:
                c.rejected = r
            cands[(t.index, turn)] = c
    if config.judge:
        _judge(list(cands.values()), client, config)
    return sorted(cands.values(), key=lambda c: (c.task.index, c.turn))


def _judge(cands: list[_Candidate], client: MessageClient, config: RunConfig) -> None:
    todo = [c for c in cands if c.example is not None]
    model = config.judge_model or client.model
    reqs = [build_judge_request(c.example, model) for c in todo if c.example is not None]
    for c, resp in zip(todo, client.complete_all(reqs), strict=True):
        c.score = None if isinstance(resp, Exception) else parse_judge(resp)
        if c.score is not None and not c.score.passes(config.min_realism):
            c.rejected = Rejected(
                "judge_rejected", f"realism={c.score.realism} agreement={c.score.label_agreement}"
            )
            c.example = None


def _audit_row(c: _Candidate, run_id: str, accepted: bool) -> dict[str, Any]:
    cell = c.task.cell
    return {
        "run_id": run_id,
        "example_id": f"agentic-{run_id}-{c.task.index:07d}-{c.turn}",
        "task": c.task.index,
        "turn": c.turn,
        "thread_id": c.task.thread_id,
        "agent": cell.domain,
        "channel": cell.channel,
        "difficulty": cell.difficulty,
        "planned_labels": label_key(cell.labels),
        "status": "accepted" if accepted else "rejected",
        "reason": None if accepted else c.rejected.reason if c.rejected else None,
        "detail": None if accepted or not c.rejected else c.rejected.detail,
        "spans": c.stats.get("spans"),
        "repaired_values": c.stats.get("repaired"),
        "realism": c.score.realism if c.score else None,
        "label_agreement": c.score.label_agreement if c.score else None,
    }


def run_agentic(
    plan: Plan,
    client: MessageClient,
    run_dir: str | os.PathLike[str],
    config: RunConfig,
    on_accepted: Callable[[Example], None] | None = None,
    progress: bool = False,
) -> RunResult:
    """Generate until `config.target` examples are accepted, checkpointing every `checkpoint_every`.

    Resumes from `run_dir` when it holds a checkpoint of the same plan.
    """
    store = RunStore(run_dir)
    state = store.load()
    fingerprint = plan_fingerprint(plan, config, client.model)
    if state.plan_fingerprint and state.plan_fingerprint != fingerprint:
        raise ValueError(f"{run_dir} holds a run of another plan or config; use a new run directory")
    state.plan_fingerprint = fingerprint
    base_usage = Usage.from_dict(state.usage)
    dedupe = Deduper.empty()
    for ex in store.read_examples():
        dedupe.add(ex)
    rejections: Counter[str] = Counter(state.rejections)
    buf_ex: list[Example] = []
    buf_audit: list[dict[str, Any]] = []

    def commit() -> None:
        total = Usage.from_dict(base_usage.as_dict())
        for k, v in client.usage.as_dict().items():
            setattr(total, k, getattr(total, k) + v)
        state.usage = total.as_dict()
        state.rejections = dict(rejections)
        store.commit(state, buf_ex, buf_audit)
        buf_ex.clear()
        buf_audit.clear()

    limit = int(config.max_task_factor * len(plan.tasks)) + 1
    stopped = "target"
    bar = tqdm(total=config.target, initial=state.accepted, disable=not progress, desc="agentic", unit="ex")
    try:
        while state.accepted < config.target:
            if state.next_task >= limit:
                stopped = "exhausted"
                break
            tasks = _next_chunk(
                plan, state.next_task, config.target - state.accepted, config.chunk_tasks, limit
            )
            try:
                cands = _generate_chunk(tasks, client, config)
            except SpendLimitReached:
                stopped = "spend_limit"
                break
            by_task: dict[int, list[_Candidate]] = {}
            for c in cands:
                by_task.setdefault(c.task.index, []).append(c)
            for t in tasks:
                for c in by_task.get(t.index, []):
                    if state.accepted >= config.target:
                        break
                    if c.example is not None:
                        try:
                            dedupe.check(c.example)
                        except Rejected as r:
                            c.rejected, c.example = r, None
                    if c.example is not None:
                        dedupe.add(c.example)
                        buf_ex.append(c.example)
                        state.accepted += 1
                        bar.update(1)
                        if on_accepted is not None:
                            on_accepted(c.example)
                    else:
                        assert c.rejected is not None
                        rejections[c.rejected.reason] += 1
                    buf_audit.append(_audit_row(c, config.run_id, c.example is not None))
                state.next_task = t.index + 1
                if len(buf_ex) >= config.checkpoint_every:
                    commit()
                if state.accepted >= config.target:
                    break
            bar.set_postfix(rejected=sum(rejections.values()), cost=f"${client.usage.cost_usd:.2f}")
        commit()
    finally:
        bar.close()
    audit = store.read_audit()
    return RunResult(
        examples=store.read_examples(),
        audit=audit,
        generated=len(audit),
        rejections=dict(rejections),
        usage=state.usage,
        stopped=stopped,
        retries=client.retries,
        batch_fallbacks=client.batch_fallbacks,
    )
