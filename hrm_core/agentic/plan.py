"""Tier 1, the manager: plan a balanced mix of messages to ask Claude for.

The mix is a grid of cells, channel × domain (which specialist writes it) × label combination ×
difficulty. The manager fills what the current `examples` table lacks: every (channel, domain,
labels) key is topped up towards the same count, smallest first, so a run on a lake that is already
full of, say, clean internal emails spends its budget on the rare combinations. Difficulty is not a
column of the table, so each key's share is split evenly across difficulties.

Email and chat cells also get threads (tier 3): a task of `THREAD_TURNS` turns, each one an example.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from hrm_core.agentic.pricing import cost_usd
from hrm_core.data.contract import CHANNELS, DOC_HEADS

DOMAINS: tuple[str, ...] = ("legal", "finance", "hr", "security", "engineering", "casual")
DIFFICULTIES: tuple[str, ...] = ("easy", "medium", "hard")
# Every 0/1 assignment of the four doc heads, in a fixed order.
LABEL_COMBOS: tuple[tuple[int, ...], ...] = tuple(itertools.product((0, 1), repeat=len(DOC_HEADS)))
ROLE_TO_DOMAIN: dict[str, str] = {
    "LEGAL": "legal", "FINANCE": "finance", "HR": "hr", "SECURITY": "security", "ENG": "engineering",
}  # fmt: skip
THREAD_CHANNELS: tuple[str, ...] = ("email", "chat")
THREAD_TURNS = 3
THREAD_SHARE = 0.3  # share of a thread-capable cell's examples written as threads

# Token estimates per request, measured on the prompts in agents.py (system + tool schema + user turn)
# and on typical generated messages. Thread turns carry the previous turns in the prompt.
EST_INPUT_TOKENS = 1100
EST_INPUT_TOKENS_PER_PREVIOUS_TURN = 300
EST_OUTPUT_TOKENS = 550
EST_JUDGE_INPUT_TOKENS = 900
EST_JUDGE_OUTPUT_TOKENS = 120
EST_ACCEPTANCE = 0.85  # share of generated messages that survive extraction, rules and dedupe

Key = tuple[str, str, tuple[int, ...]]  # (channel, domain, labels)


def label_key(labels: tuple[int, ...]) -> str:
    """``s1e0c1o0``: a compact, sortable name for a label combination."""
    return "".join(f"{h[0]}{v}" for h, v in zip(DOC_HEADS, labels, strict=True))


@dataclass(frozen=True)
class Cell:
    """One kind of message: which channel, which specialist, which labels, how hard to detect."""

    channel: str
    domain: str
    labels: tuple[int, ...]
    difficulty: str

    def labels_dict(self) -> dict[str, int]:
        return dict(zip(DOC_HEADS, self.labels, strict=True))


@dataclass(frozen=True)
class Task:
    """One unit of work: a single message (turns == 1) or a thread of `turns` messages."""

    index: int
    cell: Cell
    turns: int
    variant: int = 0  # > 0 for top-up tasks that re-ask a cell after rejections (a different prompt)

    @property
    def thread_id(self) -> str | None:
        return f"thread-{self.index:07d}" if self.turns > 1 else None


@dataclass
class Plan:
    """The manager's plan: examples per cell and the task list that realises them, interleaved by cell."""

    target: int
    cell_counts: dict[Cell, int]
    tasks: list[Task] = field(default_factory=list)

    def task(self, i: int) -> Task:
        """Task `i`; past the planned list, the plan repeats as top-up variants (for rejected examples)."""
        base = self.tasks[i % len(self.tasks)]
        return Task(index=i, cell=base.cell, turns=base.turns, variant=i // len(self.tasks))

    def requests(self, judge: bool = False) -> int:
        """Generation requests (one per turn) plus judge requests, before rejections."""
        n = sum(t.turns for t in self.tasks)
        return 2 * n if judge else n

    def mix(self) -> dict[str, dict[str, int]]:
        """Planned examples by channel, domain, label combination and difficulty."""
        out: dict[str, Counter] = {k: Counter() for k in ("channel", "domain", "labels", "difficulty")}
        for c, n in self.cell_counts.items():
            out["channel"][c.channel] += n
            out["domain"][c.domain] += n
            out["labels"][label_key(c.labels)] += n
            out["difficulty"][c.difficulty] += n
        return {k: dict(sorted(v.items())) for k, v in out.items()}


def _allocate(target: int, current: Mapping[Key, int]) -> dict[Key, int]:
    # Water-filling: each new example goes to the key with the fewest (existing + planned); ties by key
    # order, so the plan is deterministic.
    keys = [(ch, d, lab) for ch in CHANNELS for d in DOMAINS for lab in LABEL_COMBOS]
    heap = [(int(current.get(k, 0)), i) for i, k in enumerate(keys)]
    heapq.heapify(heap)
    alloc: dict[Key, int] = {}
    for _ in range(target):
        have, i = heapq.heappop(heap)
        alloc[keys[i]] = alloc.get(keys[i], 0) + 1
        heapq.heappush(heap, (have + 1, i))
    return alloc


def _tasks_for(cell: Cell, n: int) -> list[tuple[Cell, int]]:
    threads = int(n * THREAD_SHARE) // THREAD_TURNS if cell.channel in THREAD_CHANNELS else 0
    return [(cell, THREAD_TURNS)] * threads + [(cell, 1)] * (n - threads * THREAD_TURNS)


def plan_mix(target: int, current_counts: Mapping[Key, int] | None = None) -> Plan:
    """Plan `target` new examples that even out `current_counts` ((channel, domain, labels) -> rows)."""
    if target <= 0:
        raise ValueError(f"target must be positive, got {target}")
    alloc = _allocate(target, current_counts or {})
    cell_counts: dict[Cell, int] = {}
    for k, ((ch, dom, lab), n) in enumerate(alloc.items()):
        for j, diff in enumerate(DIFFICULTIES):
            # The remainder goes to a different difficulty for each key, so difficulties stay even too.
            extra = 1 if (j - k) % len(DIFFICULTIES) < n % len(DIFFICULTIES) else 0
            share = n // len(DIFFICULTIES) + extra
            if share:
                cell_counts[Cell(ch, dom, lab, diff)] = share
    # Round-robin over cells, so that a run stopped half-way is still balanced.
    queues = [_tasks_for(c, n) for c, n in cell_counts.items()]
    ordered = [t for group in itertools.zip_longest(*queues) for t in group if t is not None]
    plan = Plan(target=target, cell_counts=cell_counts)
    plan.tasks = [Task(index=i, cell=c, turns=turns) for i, (c, turns) in enumerate(ordered)]
    return plan


def estimate(plan: Plan, model: str, judge: bool = False, batch: bool = True) -> dict[str, float | int]:
    """Expected requests, tokens and USD for `plan`, allowing for the examples lost to rejection."""
    gen_in = gen_out = 0
    for t in plan.tasks:
        for turn in range(t.turns):
            gen_in += EST_INPUT_TOKENS + turn * EST_INPUT_TOKENS_PER_PREVIOUS_TURN
            gen_out += EST_OUTPUT_TOKENS
    n_gen = sum(t.turns for t in plan.tasks)
    scale = 1.0 / EST_ACCEPTANCE
    gen_in, gen_out = int(gen_in * scale), int(gen_out * scale)
    judge_n = int(n_gen * scale) if judge else 0
    in_tok = gen_in + judge_n * EST_JUDGE_INPUT_TOKENS
    out_tok = gen_out + judge_n * EST_JUDGE_OUTPUT_TOKENS
    return {
        "examples": plan.target,
        "tasks": len(plan.tasks),
        "threads": sum(1 for t in plan.tasks if t.turns > 1),
        "requests_planned": plan.requests(judge),
        "requests_expected": int(n_gen * scale) + judge_n,
        "input_tokens": in_tok,
        "output_tokens": out_tok,
        "cost_usd": round(cost_usd(model, in_tok, out_tok, batch=batch), 2),
        "batch_pricing": batch,
        "assumed_acceptance": EST_ACCEPTANCE,
    }


def counts_from_rows(rows: list[dict]) -> dict[Key, int]:
    """(channel, domain, labels) counts from rows with channel, user_role, the four heads and n.

    Rows with a null head (a source that does not label it) count towards no combination.
    """
    out: Counter = Counter()
    for r in rows:
        labels = tuple(r.get(h) for h in DOC_HEADS)
        if any(v is None or v != v for v in labels):  # v != v: NaN from pandas
            continue
        domain = ROLE_TO_DOMAIN.get(str(r["user_role"]), "casual")
        out[(str(r["channel"]), domain, tuple(int(v or 0) for v in labels))] += int(r["n"])
    return dict(out)


COUNTS_SQL = (
    "SELECT channel, user_role, sensitivity, exposure, context, obfuscation, count(*) AS n "
    "FROM examples GROUP BY ALL"
)


def read_current_counts(lake_root: str | None = None) -> dict[Key, int]:
    """Counts of the lake's current `examples` table; empty for a fresh lake or a missing table."""
    from pathlib import Path

    import duckdb

    from hrm_core.data.lake import Lake
    from hrm_core.data.warehouse import query

    lake = Lake(Path(lake_root)) if lake_root else Lake()
    if not lake.root.exists():
        return {}
    try:
        df = query(lake, COUNTS_SQL)
    except duckdb.Error:  # no view yet, or a table mid-rewrite: plan as if the lake were empty
        return {}
    return counts_from_rows(df.to_dict("records"))
