"""Train / val / test splits by thread, and the de-duplicated `examples` table built from all sources.

A split is a pure function of the thread id (or the example id when a message has no thread), via
a salted SHA-256: no thread can straddle two splits, and the split of a message never changes when
other data is added or the pipeline is re-run.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

from hrm_core.data.records import ARROW_SCHEMA

SPLITS: tuple[str, ...] = ("train", "val", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)
DEFAULT_SALT = "hrm-dlp"
# When two sources hold the same content, keep the most trusted copy: human-labeled files first,
# then model-written, then template-generated. Unknown sources rank last.
SOURCE_PRIORITY: tuple[str, ...] = ("landed", "agentic", "synthetic")


def assign_split(
    group_key: str, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS, salt: str = DEFAULT_SALT
) -> str:
    """The split ("train" | "val" | "test") of a thread id (or example id), stable across runs."""
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    digest = hashlib.sha256(f"{salt}\x00{group_key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    if u < fractions[0]:
        return "train"
    return "val" if u < fractions[0] + fractions[1] else "test"


@dataclass
class SplitStats:
    """What `build_examples_table` did: rows in, duplicates dropped, rows per split, thread leakage."""

    rows_in: int = 0
    duplicates: int = 0
    rows_out: int = 0
    per_split: dict[str, int] = field(default_factory=dict)
    leakage: int = 0  # threads whose messages landed in more than one split; must be 0

    def as_dict(self) -> dict[str, object]:
        return {
            "rows_in": self.rows_in,
            "duplicates": self.duplicates,
            "rows_out": self.rows_out,
            "per_split": dict(self.per_split),
            "leakage": self.leakage,
        }


def _source_rank(source: str | None) -> int:
    family = (source or "").split(":", 1)[0]
    return SOURCE_PRIORITY.index(family) if family in SOURCE_PRIORITY else len(SOURCE_PRIORITY)


def build_examples_table(
    tables: list[pa.Table],
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    salt: str = DEFAULT_SALT,
) -> tuple[pa.Table, SplitStats]:
    """Union source tables, drop exact duplicates (by `content_hash`, keeping the highest-priority
    source's copy, then the earliest), and add a `split` column assigned by thread."""
    parts = [t.select(list(ARROW_SCHEMA.names)).cast(ARROW_SCHEMA) for t in tables if t.num_rows]
    union = pa.concat_tables(parts) if parts else ARROW_SCHEMA.empty_table()
    hashes = union.column("content_hash").to_pylist()
    sources = union.column("source").to_pylist()
    ids = union.column("id").to_pylist()
    threads = union.column("thread_id").to_pylist()

    # Stable sort by priority: for each hash the first index visited is the copy we keep.
    order = sorted(range(union.num_rows), key=lambda i: _source_rank(sources[i]))
    seen: set[str] = set()
    keep: list[int] = []
    for i in order:
        if hashes[i] not in seen:
            seen.add(hashes[i])
            keep.append(i)
    keep.sort()  # output keeps input order, so re-runs over the same inputs write the same file

    groups = [threads[i] or ids[i] for i in keep]
    split_of_group = {g: assign_split(g, fractions, salt) for g in set(groups)}
    splits = [split_of_group[g] for g in groups]
    out = union.take(pa.array(keep, pa.int64())).append_column("split", pa.array(splits, pa.string()))

    groups_per_thread: dict[str, set[str]] = {}
    for g, s in zip(groups, splits, strict=True):
        groups_per_thread.setdefault(g, set()).add(s)
    counts = Counter(splits)
    stats = SplitStats(
        rows_in=union.num_rows,
        duplicates=union.num_rows - len(keep),
        rows_out=len(keep),
        per_split={s: counts.get(s, 0) for s in SPLITS},
        leakage=sum(1 for s in groups_per_thread.values() if len(s) > 1),
    )
    return out, stats
