"""Sliding windows over long token sequences: one rule shared by the trainer and the scanner.

Windows of ``max_len`` tokens start ``stride = max_len - overlap`` apart; the last window is pulled back
to end exactly at the last token, so every token is covered. A sequence that needs k windows then runs
them at the shortest length (in whole model segments) that still takes k (`window_length`): a message
just over one window runs two of about half a window each, not two full ones.

A long message's header repeats at the head of every window (`header_length`): the tokens up to its
``<BODY>`` tag (channel, sender role, organisation, recipients with their destination classes, subject),
at most a quarter of a window. The context head judges whether this sender may send this content to
these recipients, and a window cut from the middle of a long body cannot know either: context AUPRC on
the demo's validation rows over 512 tokens was 0.75 against 0.93 for the rest. The body slides through
the rest of each window. A message that fits one window is one window, as before.

Merging per-token tag logits: in an overlap, a token takes the logits of the window in which it sits
further from the edge (the cut is the overlap's midpoint), because a token near a window edge has
seen only one side of its context.

Merging document scores: ``max`` over windows for sensitivity, exposure and obfuscation (one window
holding a secret, an outside recipient or a hidden value makes the whole message so) and ``min`` for
context (a message is a legitimate workflow only if every part of it looks like one: a pasted key in
the middle of a routine NDA thread should lower it). Both are monotone, so the merge gives the same
answer on logits as on probabilities.

Merging the memory vector (what seeds the next message of a thread): the mean over windows. Training
seeds a message with the memory of one random window of its predecessor, so the mean is that seed's
expected value, and it does not depend on where the message happened to be cut.

`run_windows` is the one place that applies all of this: the scanner, the trainer's validation
(`predict_rows` / `evaluate`), calibration and evaluation all call it, so thresholds are fitted on the
statistic production serves. Overlap: `default_overlap(max_len)` (a quarter of a window) everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hrm_core.data.contract import DOC_HEADS

DEFAULT_DOC_REDUCERS: dict[str, str] = {
    "sensitivity": "max",
    "exposure": "max",
    "context": "min",
    "obfuscation": "max",
}


WindowRunner = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], Sequence[np.ndarray]]
"""Runs one padded batch of windows: ``(input_ids [B,T] int64, attention_mask [B,T] int64, memory_seed
[B,D] float32, candidate_ids [B,T] int64) -> (doc_logits [B,4], span_logits [B,T,21], memory [B,D])``
as NumPy arrays, optionally followed by ``probe_logits [B,K]`` (per-type presence logits, merged with
``max``). ``candidate_ids`` are the recognizers' tags per token (`features.candidate_tags`, 0 = none),
cut and padded with the same windows as the ids."""


def default_overlap(max_len: int) -> int:
    """Tokens neighbouring windows share: a quarter of a window of context on each side of a cut."""
    return max_len // 4


def header_length(ids: Sequence[int] | np.ndarray, body_tag_id: int, max_len: int) -> int:
    """Leading tokens every window of ``ids`` repeats: through the first ``<BODY>`` tag, at most
    ``max_len // 4``; 0 when the sequence fits one window, ``body_tag_id`` is negative (a model trained
    before headers were repeated) or the tag is absent. A body quoting ``<BODY>`` comes after the
    serializer's tag; a subject or recipient quoting it ends the header early (less is repeated)."""
    if body_tag_id < 0 or len(ids) <= max_len:
        return 0
    hits = np.flatnonzero(np.asarray(ids) == body_tag_id)
    return min(int(hits[0]) + 1, max_len // 4) if hits.size else 0


def window_indices(start: int, n_tokens: int, max_len: int, head: int = 0) -> np.ndarray:
    """Token indices of the window at ``start`` (`window_starts`): the ``head`` header tokens, then the
    sequence from ``start``, ``max_len`` in all (fewer at the end of a short sequence)."""
    return np.r_[0:head, start : min(start + max_len - head, n_tokens)].astype(np.int64)


def window_starts(n_tokens: int, max_len: int, overlap: int, head: int = 0) -> list[int]:
    """Start index of each window so that windows of ``max_len`` cover ``range(n_tokens)``.

    ``[0]`` when the sequence fits; otherwise ``0, stride, 2*stride, ...`` plus a last start at
    ``n_tokens - max_len``, i.e. ``1 + ceil((n_tokens - max_len) / stride)`` windows. With a repeated
    header of ``head`` tokens (`header_length`), the same rule over the tokens after it with windows of
    ``max_len - head`` and an overlap shortened by the header (to no less than half), shifted by
    ``head``: the first window is still the first ``max_len`` tokens.
    """
    if max_len <= 0 or not 0 <= overlap < max_len:
        raise ValueError(f"need max_len > 0 and 0 <= overlap < max_len, got {max_len=} {overlap=}")
    if n_tokens <= max_len:
        return [0]
    if head > 0:
        if head >= max_len:
            raise ValueError(f"a repeated header of {head} tokens leaves no room in windows of {max_len}")
        # The header and the overlap are both context a window repeats: together they stay what the
        # overlap alone was (at least half the overlap is kept), so a repeated header does not add
        # windows (a 2 KB bench message: 2 windows, not 3). A window keeps at least one new token.
        rest = max_len - head
        kept = min(rest - 1, max(overlap - head, overlap // 2))
        return [head + s for s in window_starts(n_tokens - head, rest, kept)]
    stride = max_len - overlap
    starts = list(range(0, n_tokens - max_len, stride))
    starts.append(n_tokens - max_len)
    return starts


def window_length(n_tokens: int, max_len: int, overlap: int, head: int = 0, multiple: int = 1) -> int:
    """The shortest window length, at most ``max_len`` and a multiple of ``multiple`` (or ``max_len``),
    whose `window_starts` are no more windows than those of ``max_len``: the windows a long sequence
    needs anyway, shrunk evenly to share it.

    With full windows the last one is pulled back over its neighbour: a 2 KB message of 933 tokens ran
    three windows of 512 (1,536 tokens). The model pads a window to whole segments of
    ``slow_update_stride`` tokens (``multiple``), so only whole segments are worth saving: that message
    now runs three windows of 416 (1,248), while one of 850 tokens still runs two of 512 (489 would pad
    back to 512). Every overlap stays at least ``overlap``. The engine runs each window at its own
    length; a static-shape graph pads it back to the graph's.
    """
    count = len(window_starts(n_tokens, max_len, overlap, head))
    if count == 1:
        return max_len
    lo, hi = max(overlap, head) + 1, max_len  # fewer windows as the length grows; max_len needs `count`
    while lo < hi:
        mid = (lo + hi) // 2
        if len(window_starts(n_tokens, mid, overlap, head)) <= count:
            hi = mid
        else:
            lo = mid + 1
    return min(max_len, -(-hi // multiple) * multiple)


def window_bounds(n_tokens: int, max_len: int, overlap: int) -> list[tuple[int, int]]:
    """Windows ``[start, end)`` of `window_starts` (a lone short sequence gives ``[(0, n_tokens)]``)."""
    return [(s, min(s + max_len, n_tokens)) for s in window_starts(n_tokens, max_len, overlap)]


def window_owner_bounds(
    starts: Sequence[int], n_tokens: int, max_len: int, head: int = 0
) -> list[tuple[int, int]]:
    """For each window, the token range ``[lo, hi)`` whose merged output it supplies (midpoint cuts);
    the first window supplies the header too."""
    ends = [min(s + max_len - head, n_tokens) for s in starts]
    cuts = [(starts[i + 1] + ends[i]) // 2 for i in range(len(starts) - 1)]
    los = [0, *cuts]
    his = [*cuts, n_tokens]
    return list(zip(los, his, strict=True))


def merge_window_tag_logits(
    window_logits: Sequence[np.ndarray], starts: Sequence[int], n_tokens: int, max_len: int, head: int = 0
) -> np.ndarray:
    """Per-token logits ``(n_tokens, n_tags)`` from per-window logits ``(len_w, n_tags)`` (see module doc).

    A window's array (`window_indices` order: header, then its slice) may be padded past its real
    length; the padding is ignored. Accepts NumPy arrays or CPU torch tensors.
    """
    if len(window_logits) != len(starts):
        raise ValueError(f"{len(window_logits)} window outputs for {len(starts)} windows")
    first = np.asarray(window_logits[0])
    merged = np.zeros((n_tokens, *first.shape[1:]), dtype=first.dtype)  # (T, n_tags)
    for logits, start, (lo, hi) in zip(
        window_logits, starts, window_owner_bounds(starts, n_tokens, max_len, head), strict=True
    ):
        # Token t >= head sits at head + t - start; the first window (start == head) holds t at t.
        merged[lo:hi] = np.asarray(logits)[head + lo - start : head + hi - start]
    return merged


def merge_doc_scores(
    window_scores: np.ndarray | Sequence[Sequence[float]],
    heads: Sequence[str] = DOC_HEADS,
    reducers: Mapping[str, str] | None = None,
) -> np.ndarray:
    """One score per head ``(n_heads,)`` from per-window scores ``(n_windows, n_heads)``.

    ``reducers`` maps head name to ``"max"``, ``"min"`` or ``"mean"`` (default `DEFAULT_DOC_REDUCERS`,
    ``max`` for a head it does not name).
    """
    scores = np.asarray(window_scores, dtype=np.float64)  # (W, H)
    if scores.ndim != 2 or scores.shape[1] != len(heads) or scores.shape[0] == 0:
        raise ValueError(f"expected (n_windows >= 1, {len(heads)}) scores, got shape {scores.shape}")
    rules = {**DEFAULT_DOC_REDUCERS, **(reducers or {})}
    merged = []
    for j, head in enumerate(heads):
        rule, column = rules.get(head, "max"), scores[:, j]
        if rule not in ("max", "min", "mean"):
            raise ValueError(f"unknown reducer {rule!r} for head {head!r}")
        merged.append(column.max() if rule == "max" else column.min() if rule == "min" else column.mean())
    return np.array(merged)


def merge_window_memory(window_memory: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """One memory vector ``(D,)`` from per-window vectors ``(n_windows, D)``: the mean (see module doc)."""
    return np.mean(np.asarray(window_memory, dtype=np.float32), axis=0).astype(np.float32)


@dataclass
class MergedOutput:
    """A model's outputs for one whole sequence, merged over its windows."""

    doc_logits: np.ndarray  # [n_heads] by `merge_doc_scores`
    tag_logits: np.ndarray  # [n_tokens, n_tags] by `merge_window_tag_logits`
    memory: np.ndarray  # [D] by `merge_window_memory`
    probe_logits: np.ndarray | None  # [K] max over windows, when the runner returns them
    starts: list[int]  # window starts (`window_starts`)


def run_windows(
    run: WindowRunner,
    sequences: Sequence[Sequence[int] | np.ndarray],
    memory_seeds: np.ndarray,
    *,
    max_len: int,
    overlap: int | None = None,
    pad_id: int = 0,
    batch_size: int = 16,
    fixed_batch: int | None = None,
    fixed_len: int | None = None,
    reducers: Mapping[str, str] | None = None,
    candidates: Sequence[Sequence[int] | np.ndarray] | None = None,
    heads: Sequence[int] | None = None,
    multiple: int = 1,
) -> list[MergedOutput]:
    """Cut each sequence into windows, run them in batches through `run`, merge per sequence.

    ``memory_seeds [N, D]`` seeds every window of sequence i (thread order is the caller's business:
    a message's seed must come from an earlier call). Windows go in (sequence, window) order, in batches
    of ``batch_size``; a static-shape graph takes exactly ``fixed_batch`` rows of ``fixed_len`` tokens
    (unused rows and positions are padding with a zero mask). ``overlap`` None is `default_overlap`.
    ``candidates`` (one tag sequence per sequence, same lengths; None: all zeros) go with the ids.
    ``heads``: each sequence's repeated header (`header_length`; None: none). Windows are as long as
    `window_length` says (``multiple``: the model's segment, the unit its compute pads to).
    """
    overlap = default_overlap(max_len) if overlap is None else overlap
    if fixed_len is not None and fixed_len < max_len:
        raise ValueError(f"windows of {max_len} tokens do not fit a graph of fixed length {fixed_len}")
    seeds = np.asarray(memory_seeds, dtype=np.float32)  # [N, D]
    if seeds.ndim != 2 or len(seeds) != len(sequences):
        raise ValueError(f"need one memory seed per sequence, got {seeds.shape} for {len(sequences)}")
    if any(len(seq) == 0 for seq in sequences):
        raise ValueError("cannot window an empty sequence")
    if candidates is not None and [len(c) for c in candidates] != [len(q) for q in sequences]:
        raise ValueError("need one candidate tag per token of every sequence")
    heads = [0] * len(sequences) if heads is None else [int(h) for h in heads]
    lengths = [
        window_length(len(seq), max_len, overlap, h, multiple)
        for seq, h in zip(sequences, heads, strict=True)
    ]
    starts = [
        window_starts(len(seq), n, overlap, h) for seq, n, h in zip(sequences, lengths, heads, strict=True)
    ]
    jobs = [(i, s) for i, st in enumerate(starts) for s in st]  # one job per window
    arrays = [np.asarray(seq, dtype=np.int64) for seq in sequences]
    cands = None if candidates is None else [np.asarray(c, dtype=np.int64) for c in candidates]
    outputs: list[list[Sequence[np.ndarray]]] = [[] for _ in sequences]
    step = fixed_batch or batch_size
    for b in range(0, len(jobs), step):
        chunk = jobs[b : b + step]
        where = [window_indices(s, len(sequences[i]), lengths[i], heads[i]) for i, s in chunk]
        windows = [arrays[i][w] for (i, _), w in zip(chunk, where, strict=True)]
        rows, width = fixed_batch or len(chunk), fixed_len or max(len(w) for w in windows)
        ids = np.full((rows, width), pad_id, dtype=np.int64)  # [B, T]
        mask = np.zeros((rows, width), dtype=np.int64)
        cand = np.zeros((rows, width), dtype=np.int64)
        seed = np.zeros((rows, seeds.shape[1]), dtype=np.float32)  # [B, D]
        for r, ((i, _), w, at) in enumerate(zip(chunk, windows, where, strict=True)):
            ids[r, : len(w)], mask[r, : len(w)], seed[r] = w, 1, seeds[i]
            if cands is not None:
                cand[r, : len(w)] = cands[i][at]
        out = [np.asarray(o) for o in run(ids, mask, seed, cand)]
        for r, ((i, _), w) in enumerate(zip(chunk, windows, strict=True)):
            # doc [4], span [len_w, 21], memory [D], (probe [K])
            outputs[i].append([out[0][r], out[1][r, : len(w)], out[2][r], *(o[r] for o in out[3:4])])
    merged = []
    for seq, st, n, outs, head in zip(sequences, starts, lengths, outputs, heads, strict=True):
        probe = np.max(np.stack([o[3] for o in outs]), axis=0) if len(outs[0]) > 3 else None
        merged.append(
            MergedOutput(
                doc_logits=merge_doc_scores(np.stack([o[0] for o in outs]), reducers=reducers),
                tag_logits=merge_window_tag_logits([o[1] for o in outs], st, len(seq), n, head),
                memory=merge_window_memory(np.stack([o[2] for o in outs])),
                probe_logits=probe,
                starts=st,
            )
        )
    return merged
