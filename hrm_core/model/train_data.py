"""Pre-tokenized training data: the `tokenized_examples` table, batch order and collation.

The table (written by `hrm_core.tokens.features`) has one row per message: id, split, thread_id,
thread_index, input_ids (full length), bio (-100 = ignore, -2 = O or a not-annotated type),
candidates (the recognizers' BIO tags), dest_evidence, obf_evidence and ctx_evidence (-1 = none),
doc_labels[4] (-1 = null), types_present[10] (-1 = unknown), hard_negative, obfuscated, shuffled,
n_tokens. Tables written before a per-token channel existed load without it (zeros / -1).

Batch order is a pure function of (seed, epoch, rank, world size), so a resumed run replays exactly the
batches it would have seen. Within an epoch, batches go by thread position (all first messages, then
all second messages, ...) so that when message k of a thread is trained, message k-1 has already
produced the memory vector that seeds it (see `ThreadMemory`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from hrm_core.tokens.features import LEGACY_CANDIDATE_MARKS, tokenized_candidate_marks, tokenized_dsl_version
from hrm_core.tokens.windows import header_length, window_indices

COLUMNS = (
    "id", "split", "thread_id", "thread_index", "input_ids", "bio", "doc_labels", "types_present",
    "hard_negative", "obfuscated", "shuffled", "n_tokens",
)  # fmt: skip
# Per-token columns a table may lack (older tables), with the value a missing one is filled with: the
# recognizer candidates (0 = none) and the dense evidence labels (-1 = no label). The batch carries each
# under its own name, the candidates as ``candidate_ids``.
CHANNELS: dict[str, int] = {"candidates": 0, "dest_evidence": -1, "obf_evidence": -1, "ctx_evidence": -1}
BATCH_KEY = {"candidates": "candidate_ids"}


@dataclass
class TokenizedSet:
    """Columns of the tokenized table as Python/numpy values, plus the thread predecessor of each row."""

    ids: list[str]
    split: np.ndarray  # [N] str
    thread_index: np.ndarray  # [N] int
    input_ids: list[np.ndarray]  # each [n_tokens] int64
    bio: list[np.ndarray]  # each [n_tokens] int64
    doc_labels: np.ndarray  # [N, 4] int64
    types_present: np.ndarray  # [N, 10] int64
    hard_negative: np.ndarray  # [N] bool
    obfuscated: np.ndarray  # [N] bool
    shuffled: np.ndarray  # [N] int64
    prev_row: np.ndarray  # [N] row of the previous message in the thread, -1 if none
    # Per-token channels; empty means none (zeros / -1 for every token).
    candidates: list[np.ndarray] = field(default_factory=list)  # recognizer candidate tags (0 = none)
    dest_evidence: list[np.ndarray] = field(default_factory=list)  # exposure evidence (-1 = no label)
    obf_evidence: list[np.ndarray] = field(default_factory=list)  # obfuscation evidence (-1 = no label)
    ctx_evidence: list[np.ndarray] = field(default_factory=list)  # context evidence (-1 = no label)
    dsl_version: int = 1  # the DSL the rows were serialized in (`features.tokenized_dsl_version`)
    # the untyped marks in `candidates` (`features.tokenized_candidate_marks`)
    candidate_marks: frozenset[str] = LEGACY_CANDIDATE_MARKS

    def __post_init__(self) -> None:
        for name, fill in CHANNELS.items():
            if not getattr(self, name):
                setattr(self, name, [np.full(len(x), fill, dtype=np.int64) for x in self.input_ids])

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, split: str) -> np.ndarray:
        """Row indices of one split."""
        return np.flatnonzero(self.split == split)


def load_tokenized(source: str | Path | pa.Table) -> TokenizedSet:
    """Read the tokenized table from a Parquet path or an Arrow table."""
    if isinstance(source, pa.Table):
        schema = source.schema
    else:
        schema = pq.read_schema(source)
        source = pq.read_table(source, columns=[*COLUMNS, *(c for c in CHANNELS if c in schema.names)])
    d = source.to_pydict()
    lengths = [len(x) for x in d["input_ids"]]
    channels = {
        c: [np.asarray(x, dtype=np.int64) for x in d[c]]
        if c in d
        else [np.full(n, CHANNELS[c], dtype=np.int64) for n in lengths]
        for c in CHANNELS
    }
    thread_id = d["thread_id"]
    thread_index = np.asarray(d["thread_index"], dtype=np.int64)
    where = {
        (t, int(k)): i for i, (t, k) in enumerate(zip(thread_id, thread_index, strict=True)) if t is not None
    }
    prev = [
        where.get((t, int(k) - 1), -1) if t is not None and k > 0 else -1
        for t, k in zip(thread_id, thread_index, strict=True)
    ]
    return TokenizedSet(
        ids=list(d["id"]),
        split=np.asarray(d["split"], dtype=object),
        thread_index=thread_index,
        input_ids=[np.asarray(x, dtype=np.int64) for x in d["input_ids"]],
        bio=[np.asarray(x, dtype=np.int64) for x in d["bio"]],
        **channels,
        doc_labels=np.asarray(d["doc_labels"], dtype=np.int64).reshape(-1, 4),
        types_present=np.asarray(d["types_present"], dtype=np.int64).reshape(-1, 10),
        hard_negative=np.asarray(d["hard_negative"], dtype=bool),
        obfuscated=np.asarray(d["obfuscated"], dtype=bool),
        shuffled=np.asarray(d["shuffled"], dtype=np.int64),
        prev_row=np.asarray(prev, dtype=np.int64),
        dsl_version=tokenized_dsl_version(schema),
        candidate_marks=tokenized_candidate_marks(schema),
    )


def epoch_batches(
    data: TokenizedSet,
    rows: np.ndarray,
    batch_size: int,
    seed: int,
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
    window: int | None = None,
) -> list[list[int]]:
    """This rank's batches for one epoch: by thread position, length-bucketed, shuffled from (seed, epoch).

    Every rank gets the same number of batches (DDP would hang otherwise); the few left over are dropped.
    """
    rng = np.random.default_rng([seed, epoch])
    lengths = np.asarray([min(len(data.input_ids[r]), window or 1 << 30) for r in rows])
    positions = data.thread_index[rows]
    out: list[list[int]] = []
    for pos in np.unique(positions):
        group = rows[positions == pos]
        glen = lengths[positions == pos]
        perm = rng.permutation(len(group))
        group, glen = group[perm], glen[perm]
        # Length buckets: sort within chunks of 16 batches so batches pad little but stay random.
        batches: list[list[int]] = []
        chunk = batch_size * 16
        for c in range(0, len(group), chunk):
            order = np.argsort(glen[c : c + chunk], kind="stable")
            part = group[c : c + chunk][order]
            batches += [part[i : i + batch_size].tolist() for i in range(0, len(part), batch_size)]
        batches = [batches[i] for i in rng.permutation(len(batches))]
        usable = len(batches) - len(batches) % world_size
        out += batches[rank:usable:world_size]
    return out


def crop_doc_labels(data: TokenizedSet, row: int, at: np.ndarray, context_values: bool = False) -> np.ndarray:
    """Doc labels ``[4]`` of the window ``at`` (token indices) of ``row``: the row's, except those the
    window cannot see, which become -1 (not scored).

    The scanner merges sensitivity, exposure and obfuscation with ``max`` over windows and context
    with ``min``, so the one window that holds the value (or the outside destination) decides the
    message. A window cut from a long row without any of the row's labelled values (any span token) is
    no evidence of sensitivity, and training it positive teaches the head to fire on text like it, in
    negatives too; likewise obfuscation without the hidden value's tokens and exposure without an
    outside destination's class token (links come after the body, outside the repeated header). An
    illegitimate context (0) rests on both, so it goes with either, and, with ``context_values`` (models
    that learn context from its values, ``ModelConfig.context_evidence``), with the values that make it
    illegitimate (``ctx_evidence`` 0) where the row knows them. Whole rows keep their labels.
    """
    labels = data.doc_labels[row].copy()
    if len(at) == len(data.input_ids[row]):
        return labels

    def unseen(evidence: np.ndarray) -> bool:  # the row has such tokens, and the window has none
        return bool(evidence.any()) and not bool(evidence[at].any())

    if labels[0] == 1 and unseen(data.bio[row] > 0):
        labels[0] = -1
    if labels[1] == 1 and unseen(data.dest_evidence[row] == 1):
        labels[1] = -1
    if labels[3] == 1 and unseen(data.obf_evidence[row] == 1):
        labels[3] = -1
    hidden_reason = context_values and unseen(data.ctx_evidence[row] == 0)
    if labels[2] == 0 and (labels[0] == -1 or labels[1] == -1 or hidden_reason):
        labels[2] = -1
    return labels


def collate(
    data: TokenizedSet,
    batch: Sequence[int],
    window: int,
    rng: np.random.Generator | None,
    memory: dict[int, np.ndarray] | None = None,
    memory_dim: int = 256,
    pad_id: int = 0,
    body_tag_id: int = -1,
    unseen_labels: bool = True,
    context_values: bool = False,
) -> dict[str, torch.Tensor]:
    """Tensors for one batch. Long rows take a random window (`rng` given) or the first one (`rng` None).

    A window of a long row is the scanner's kind (`hrm_core.tokens.windows`): the row's header
    (`header_length`, from ``body_tag_id``), then ``window`` minus that many tokens from a random start
    after it, so the context label is trained on windows that show who sends to whom.

    With ``unseen_labels`` (`crop_doc_labels`), a window that leaves out every value (or outside
    destination) behind one of its row's labels does not learn that label; ``context_values`` as there.
    """
    where = []
    for r in batch:
        n = len(data.input_ids[r])
        head = header_length(data.input_ids[r], body_tag_id, window)
        start = head
        if rng is not None and n > window:
            start = int(rng.integers(head, n - (window - head) + 1))
        where.append(window_indices(start, n, window, head))
    T = max(len(w) for w in where)
    B = len(batch)
    ids = np.full((B, T), pad_id, dtype=np.int64)
    bio = np.full((B, T), -100, dtype=np.int64)
    mask = np.zeros((B, T), dtype=np.int64)
    channels = {name: np.full((B, T), fill, dtype=np.int64) for name, fill in CHANNELS.items()}
    for i, (r, at) in enumerate(zip(batch, where, strict=True)):
        n = len(at)
        ids[i, :n] = data.input_ids[r][at]
        bio[i, :n] = data.bio[r][at]
        for name, out in channels.items():
            out[i, :n] = getattr(data, name)[r][at]
        mask[i, :n] = 1
    seeds = np.zeros((B, memory_dim), dtype=np.float32)
    if memory is not None:
        for i, r in enumerate(batch):
            prev = int(data.prev_row[r])
            if prev >= 0 and prev in memory:
                seeds[i] = memory[prev]
    idx = np.asarray(batch)
    labels = data.doc_labels[idx]
    if unseen_labels:
        labels = np.stack(
            [crop_doc_labels(data, r, at, context_values) for r, at in zip(batch, where, strict=True)]
        )
    return {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "bio": torch.from_numpy(bio),
        **{BATCH_KEY.get(name, name): torch.from_numpy(out) for name, out in channels.items()},
        "doc_labels": torch.from_numpy(labels),
        "types_present": torch.from_numpy(data.types_present[idx]),
        "shuffled": torch.from_numpy(data.shuffled[idx]),
        "memory_seed": torch.from_numpy(seeds),
    }


def curriculum_rows(data: TokenizedSet, rows: np.ndarray, clean_only: bool) -> np.ndarray:
    """First-epoch rows: no hard negatives and no obfuscations; later epochs: everything."""
    if not clean_only:
        return rows
    return rows[~(data.hard_negative[rows] | data.obfuscated[rows])]


def synthetic_table(
    n: int, vocab_size: int, max_tokens: int, seed: int = 0, thread_share: float = 0.3, **overrides: Any
) -> pa.Table:
    """A random table with the tokenized schema and learnable labels (tests, benchmarks).

    A token id in [2, 12) marks a span: its BIO tag is B-type for the first token, I-type after; the
    sensitivity label says whether any span is present; shuffled rows start with id 1.
    """
    rng = np.random.default_rng(seed)
    rows: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    thread_no, k = 0, 0
    for i in range(n):
        L = int(rng.integers(max(8, max_tokens // 4), max_tokens + 1))
        ids = rng.integers(12, vocab_size - 1, L)
        bio = np.zeros(L, dtype=np.int64)
        present = np.zeros(10, dtype=np.int64)
        for _ in range(int(rng.integers(0, 3))):
            t, s, w = int(rng.integers(0, 10)), int(rng.integers(1, L - 4)), int(rng.integers(1, 4))
            if bio[s - 1 : s + w + 1].any():
                continue
            ids[s : s + w] = 2 + t
            bio[s], bio[s + 1 : s + w] = 1 + 2 * t, 2 + 2 * t
            present[t] = 1
        shuffled = int(rng.random() < 0.3)
        ids[0] = 1 if shuffled else 12
        in_thread = rng.random() < thread_share
        k = k + 1 if in_thread and k < 3 else 0
        thread_no += k == 0
        sens = int(present.any())
        rows["id"].append(f"ex{i}")
        rows["split"].append("val" if i % 5 == 4 else "train")
        rows["thread_id"].append(f"t{thread_no}")
        rows["thread_index"].append(k)
        rows["input_ids"].append(ids.astype(np.int32).tolist())
        rows["bio"].append(bio.astype(np.int8).tolist())
        rows["doc_labels"].append([sens, int(present[:4].any()), int(present[6:8].any()), -1])
        rows["types_present"].append(present.astype(np.int8).tolist())
        rows["hard_negative"].append(bool(rng.random() < 0.1))
        rows["obfuscated"].append(bool(rng.random() < 0.1))
        rows["shuffled"].append(bool(shuffled))
        rows["n_tokens"].append(L)
    rows.update(overrides)
    return pa.table(rows)
