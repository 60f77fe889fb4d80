"""Sliding windows over long token sequences: one rule shared by the trainer and the scanner.

Windows are ``max_len`` tokens apart by ``stride = max_len - overlap``; the last window is pulled back
to end exactly at the last token, so every window but a lone short one is full length (no padding
waste) and every token is covered.

Merging per-token tag logits: in an overlap, a token takes the logits of the window in which it sits
further from the edge (the cut is the overlap's midpoint), because a token near a window edge has
seen only one side of its context.

Merging document scores: ``max`` over windows for sensitivity, exposure and obfuscation (one window
holding a secret, an outside recipient or a hidden value makes the whole message so) and ``min`` for
context (a message is a legitimate workflow only if every part of it looks like one: a pasted key in
the middle of a routine NDA thread should lower it). Both are monotone, so the merge gives the same
answer on logits as on probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hrm_core.data.contract import DOC_HEADS

DEFAULT_DOC_REDUCERS: dict[str, str] = {
    "sensitivity": "max",
    "exposure": "max",
    "context": "min",
    "obfuscation": "max",
}


def window_starts(n_tokens: int, max_len: int, overlap: int) -> list[int]:
    """Start index of each window so that windows of ``max_len`` cover ``range(n_tokens)``.

    ``[0]`` when the sequence fits; otherwise ``0, stride, 2*stride, ...`` plus a last start at
    ``n_tokens - max_len``, i.e. ``1 + ceil((n_tokens - max_len) / stride)`` windows.
    """
    if max_len <= 0 or not 0 <= overlap < max_len:
        raise ValueError(f"need max_len > 0 and 0 <= overlap < max_len, got {max_len=} {overlap=}")
    if n_tokens <= max_len:
        return [0]
    stride = max_len - overlap
    starts = list(range(0, n_tokens - max_len, stride))
    starts.append(n_tokens - max_len)
    return starts


def window_owner_bounds(starts: Sequence[int], n_tokens: int, max_len: int) -> list[tuple[int, int]]:
    """For each window, the token range ``[lo, hi)`` whose merged output it supplies (midpoint cuts)."""
    ends = [min(s + max_len, n_tokens) for s in starts]
    cuts = [(starts[i + 1] + ends[i]) // 2 for i in range(len(starts) - 1)]
    los = [0, *cuts]
    his = [*cuts, n_tokens]
    return list(zip(los, his, strict=True))


def merge_window_tag_logits(
    window_logits: Sequence[np.ndarray], starts: Sequence[int], n_tokens: int, max_len: int
) -> np.ndarray:
    """Per-token logits ``(n_tokens, n_tags)`` from per-window logits ``(len_w, n_tags)`` (see module doc).

    A window's array may be padded past its real length (``min(max_len, n_tokens - start)``);
    the padding is ignored. Accepts NumPy arrays or CPU torch tensors.
    """
    if len(window_logits) != len(starts):
        raise ValueError(f"{len(window_logits)} window outputs for {len(starts)} windows")
    first = np.asarray(window_logits[0])
    merged = np.zeros((n_tokens, *first.shape[1:]), dtype=first.dtype)  # (T, n_tags)
    for logits, start, (lo, hi) in zip(
        window_logits, starts, window_owner_bounds(starts, n_tokens, max_len), strict=True
    ):
        merged[lo:hi] = np.asarray(logits)[lo - start : hi - start]
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
