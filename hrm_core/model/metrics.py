"""Evaluation metrics for the doc heads and the span tagger (numpy only, no sklearn).

Conventions shared by every function here, so the evaluation report never has to special-case:

- Labels are 0/1; ``None`` or NaN labels are *unlabeled* and dropped with their scores.
- A NaN score means the scorer produced nothing for that row: it is never flagged at any threshold
  (it counts as a miss for a positive, never as a false positive).
- A row is flagged when ``score >= threshold``.
- Empty input (after dropping unlabeled rows) gives NaN; divisions by zero inside precision / recall /
  F1 give 0.0 (the seqeval / sklearn ``zero_division=0`` convention).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

SpanTuple = tuple[str, int, int]
# Floating tolerance when comparing a reached recall to the target (0.95 * 20 positives must be 19).
_RECALL_EPS = 1e-9


def _labeled(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Drop unlabeled rows; return (y as int8 0/1, scores as float64 with NaN -> -inf)."""
    y = np.asarray(
        [np.nan if v is None else v for v in np.asarray(y_true, dtype=object).ravel()], dtype=float
    )
    s = np.asarray(scores, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} rows but scores has {s.size}")
    keep = ~np.isnan(y)
    y, s = y[keep], s[keep]
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0, 1, None or NaN")
    # -inf sorts last and is never >= a finite threshold: an unscored row is never flagged.
    return y.astype(np.int8), np.where(np.isnan(s), -np.inf, s)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2 * precision * recall, precision + recall)


def _cumulative_counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP and FP counts when flagging at each distinct score, from the highest score down.

    Returns (thresholds descending, tps, fps), one entry per distinct finite score.
    """
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    finite = np.isfinite(s_sorted)
    s_sorted, y_sorted = s_sorted[finite], y_sorted[finite]
    if s_sorted.size == 0:
        return np.empty(0), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    # Last index of each run of equal scores: ties are flagged together.
    last_of_run = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last_of_run]
    fps = (last_of_run + 1) - tps
    return s_sorted[last_of_run], tps.astype(np.int64), fps.astype(np.int64)


def pr_curve(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision-recall curve as sklearn (>= 1.1) ``precision_recall_curve`` returns it (for plots).

    Returns (precision, recall, thresholds): thresholds ascending, one per distinct score;
    precision/recall one longer, ending at (1.0, 0.0). With no positives recall is 1.0 everywhere.
    """
    y, s = _labeled(y_true, scores)
    thr, tps, fps = _cumulative_counts(y, s)
    n_pos = int(y.sum())
    if thr.size == 0:
        return np.array([1.0]), np.array([0.0]), np.empty(0)
    precision = tps / np.maximum(tps + fps, 1)
    recall = tps / n_pos if n_pos else np.ones_like(tps, dtype=float)
    sl = slice(None, None, -1)  # ascending thresholds, as sklearn
    return np.r_[precision[sl], 1.0], np.r_[recall[sl], 0.0], thr[sl]


def auprc(y_true: Any, scores: Any) -> float:
    """Area under the precision-recall curve, step-wise: ``sum_n (R_n - R_{n-1}) * P_n``.

    Equal to sklearn's ``average_precision_score``. NaN on empty input, 0.0 when there are no
    positives (sklearn's value), 1.0 when every row is positive and scored.
    """
    y, s = _labeled(y_true, scores)
    if y.size == 0:
        return math.nan
    n_pos = int(y.sum())
    if n_pos == 0:
        return 0.0
    _, tps, fps = _cumulative_counts(y, s)
    if tps.size == 0:
        return 0.0
    precision = tps / (tps + fps)
    recall_gain = np.diff(np.r_[0, tps]) / n_pos
    return float(np.sum(recall_gain * precision))


@dataclass(frozen=True)
class OperatingPoint:
    """The highest threshold that reaches a target recall, and what it costs on the negatives."""

    threshold: float
    recall: float
    fp_rate: float
    reached: bool


def operating_point_at_recall(y_true: Any, scores: Any, recall: float = 0.95) -> OperatingPoint:
    """Choose the highest threshold whose recall is >= `recall` (flagging ``score >= threshold``).

    Unreachable (too many positives unscored): ``reached=False``, threshold -inf, fp_rate 1.0.
    No positives: recall is vacuous, so the threshold is +inf (flag nothing) and fp_rate 0.0.
    Empty input: NaN everywhere.
    """
    y, s = _labeled(y_true, scores)
    if y.size == 0:
        return OperatingPoint(math.nan, math.nan, math.nan, False)
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    if n_pos == 0:
        return OperatingPoint(math.inf, 1.0, 0.0, True)
    thr, tps, fps = _cumulative_counts(y, s)
    hits = np.flatnonzero(tps >= recall * n_pos - _RECALL_EPS)
    if hits.size == 0:
        reached_recall = float(tps[-1]) / n_pos if tps.size else 0.0
        return OperatingPoint(-math.inf, reached_recall, 1.0, False)
    i = int(hits[0])  # thresholds descend, so the first hit is the highest threshold
    return OperatingPoint(float(thr[i]), float(tps[i]) / n_pos, _ratio(fps[i], n_neg), True)


def fp_rate_at_recall(y_true: Any, scores: Any, recall: float = 0.95) -> float:
    """False-positive rate among negatives at the highest threshold reaching `recall`; 1.0 if unreachable."""
    return operating_point_at_recall(y_true, scores, recall).fp_rate


def threshold_for_recall(y_true: Any, scores: Any, recall: float = 0.95) -> float:
    """The highest threshold reaching `recall` (-inf if unreachable, +inf with no positives)."""
    return operating_point_at_recall(y_true, scores, recall).threshold


def precision_recall_f1_at(y_true: Any, scores: Any, threshold: float) -> dict[str, float]:
    """Precision, recall, F1 and the confusion counts when flagging ``score >= threshold``."""
    y, s = _labeled(y_true, scores)
    flagged = s >= threshold
    tp = int(np.sum(flagged & (y == 1)))
    fp = int(np.sum(flagged & (y == 0)))
    fn = int(np.sum(~flagged & (y == 1)))
    tn = int(np.sum(~flagged & (y == 0)))
    p, r = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {"precision": p, "recall": r, "f1": _f1(p, r), "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def expected_calibration_error(y_true: Any, probs: Any, n_bins: int = 15) -> float:
    """ECE of the positive-class probability over `n_bins` equal-width bins.

    ``sum_b |B|/n * |mean(y in B) - mean(p in B)|``; bins are (lo, hi] with 0.0 in the first bin.
    Probabilities are clipped to [0, 1]; unscored (NaN) rows are dropped. NaN on empty input.
    """
    y, p = _labeled(y_true, probs)
    keep = np.isfinite(p)
    y, p = y[keep].astype(float), np.clip(p[keep], 0.0, 1.0)
    if y.size == 0:
        return math.nan
    bins = np.clip(np.ceil(p * n_bins).astype(int) - 1, 0, n_bins - 1)
    sum_y = np.bincount(bins, weights=y, minlength=n_bins)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    # |sum_y - sum_p| / n == |B|/n * |mean_y - mean_p| per bin, and 0 for empty bins.
    return float(np.sum(np.abs(sum_y - sum_p)) / y.size)


def doc_head_report(y_true: Any, scores: Any, threshold: float | None = None) -> dict[str, Any] | None:
    """Every doc-head metric of the evaluation report, or None when no row has a label.

    `threshold` is the calibrated decision threshold; None uses the 95 %-recall threshold of this very
    data (optimistic: only for sources without a validation split). Scores must be probabilities.
    """
    y, s = _labeled(y_true, scores)
    if y.size == 0:
        return None
    op = operating_point_at_recall(y, s, 0.95)
    thr = op.threshold if threshold is None else float(threshold)
    at = precision_recall_f1_at(y, s, thr)
    return {
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "auprc": auprc(y, s),
        "fp_at_95_recall": op.fp_rate,
        "reached_95_recall": op.reached,
        "threshold": thr,
        "precision": at["precision"],
        "recall": at["recall"],
        "f1": at["f1"],
        "ece": expected_calibration_error(y, s),
    }


def _overlaps(a: SpanTuple, b: SpanTuple) -> bool:
    return a[1] < b[2] and b[1] < a[2]


def _match_doc(gold: list[SpanTuple], pred: list[SpanTuple], match: str) -> list[bool]:
    """For each gold span, whether a prediction matched it; each gold and each prediction used once."""
    matched = [False] * len(gold)
    for p in sorted(pred, key=lambda t: (t[1], t[2], t[0])):
        for gi, g in enumerate(gold):
            if matched[gi] or g[0] != p[0]:
                continue
            if (g == p) if match == "exact" else _overlaps(g, p):
                matched[gi] = True
                break
    return matched


def _prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    p, r = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {"precision": p, "recall": r, "f1": _f1(p, r), "tp": tp, "fp": fp, "fn": fn}


def span_prf(
    gold: Sequence[Sequence[SpanTuple]],
    pred: Sequence[Sequence[SpanTuple]],
    types: Sequence[str],
    match: Literal["exact", "overlap"] = "exact",
    scored_types: Sequence[set[str] | frozenset[str] | Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Micro and per-type span precision / recall / F1 over documents.

    `gold[i]` and `pred[i]` are ``(type, start, end)`` spans of document i. Only types in `types` and in
    that document's `scored_types[i]` (all of `types` when None) are scored: a prediction of another
    type is ignored, not a false positive. A type no document scores is absent from ``per_type``.
    ``exact``: same type, start and end. ``overlap``: same type and at least one shared character; each
    gold span and each prediction is matched at most once, predictions taken in text order.
    """
    if match not in ("exact", "overlap"):
        raise ValueError(f"match must be 'exact' or 'overlap', got {match!r}")
    if len(gold) != len(pred) or (scored_types is not None and len(scored_types) != len(gold)):
        raise ValueError("gold, pred and scored_types must have one entry per document")
    counts: dict[str, list[int]] = {}  # type -> [tp, fp, fn]
    for i, (g_doc, p_doc) in enumerate(zip(gold, pred, strict=True)):
        scored = set(types) if scored_types is None else set(scored_types[i]) & set(types)
        for t in scored:
            counts.setdefault(t, [0, 0, 0])
        g_doc = [(str(g[0]), int(g[1]), int(g[2])) for g in g_doc if g[0] in scored]
        p_doc = [(str(p[0]), int(p[1]), int(p[2])) for p in p_doc if p[0] in scored]
        matched = _match_doc(g_doc, p_doc, match)
        for g, ok in zip(g_doc, matched, strict=True):
            counts[g[0]][0 if ok else 2] += 1
        for t in {p[0] for p in p_doc}:
            n_tp = sum(ok for g, ok in zip(g_doc, matched, strict=True) if g[0] == t)
            counts[t][1] += sum(p[0] == t for p in p_doc) - n_tp
    per_type = {t: _prf(*counts[t]) for t in types if t in counts}
    tp, fp, fn = (sum(c[k] for c in counts.values()) for k in range(3))
    return {"micro": _prf(tp, fp, fn), "per_type": per_type}
