"""Per-head temperature scaling of the doc logits, the 95 %-recall thresholds, and reliability plots.

Each doc head gets one temperature ``T`` fitted on validation logits by minimising the binary NLL of
``sigmoid(logit / T)``; null labels (-1 or NaN) are ignored. Temperature scaling never changes the
ranking, so AUPRC and FP@95R are untouched; it only makes a score of 0.8 mean "right 80 % of the
time", which the decision policy's fixed thresholds rely on.

``calibration.json`` (written by `TemperatureCalibrator.save`, read by `load`)::

    {"format": "hrm-dlp.calibration/1", "method": "temperature", "recall_target": 0.95, "n_bins": 15,
     "heads": {"sensitivity": {"temperature": 1.93, "threshold": 0.27, "threshold_reached": true,
                               "ece_before": 0.081, "ece_after": 0.012,
                               "n_labeled": 812, "n_positive": 301}, ...}}

``threshold`` is on the calibrated probability (flag when ``prob >= threshold``); it is ``null``
when the head had no labeled positive on validation (nothing to reach recall on: never flag).

The document may also hold ``"spans": {"min_score": 0.7, "exact_f1": {"0.0": 0.886, ...}}``: the
lowest score a decoded span must have to be served (`fit_span_min_score`), chosen on validation; a
document without it (older bundles) serves every decoded span (``min_score`` 0).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hrm_core.data.contract import DOC_HEADS, SPAN_TYPES
from hrm_core.model.metrics import expected_calibration_error, span_prf, threshold_for_recall

CALIBRATION_FORMAT = "hrm-dlp.calibration/1"
# A temperature outside this range means the logits carry no usable scale (e.g. one class only).
T_MIN, T_MAX = 0.05, 20.0


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return np.exp(-np.logaddexp(0.0, -x))


def _labeled_column(logits: np.ndarray, labels: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray]:
    """(logits, 0/1 labels) of head `j`, rows with a null label (-1 or NaN) dropped."""
    y = labels[:, j]
    keep = np.isfinite(y) & (y >= 0)
    return logits[keep, j], y[keep]


def _nll(z: np.ndarray, y: np.ndarray, inv_t: float) -> float:
    """Mean binary cross-entropy of sigmoid(z * inv_t) against y, computed from logits."""
    s = z * inv_t
    return float(np.mean(np.logaddexp(0.0, s) - y * s))


def fit_temperature(z: np.ndarray, y: np.ndarray, iters: int = 80) -> float:
    """The NLL-minimising temperature for one head, clipped to [T_MIN, T_MAX].

    The NLL is convex in 1/T, so a golden-section search over 1/T finds the minimum without a
    learning rate to tune. No rows, or no finite logits: T = 1 (leave the head as it is).
    """
    keep = np.isfinite(z)
    z, y = z[keep].astype(np.float64), y[keep].astype(np.float64)
    if z.size == 0:
        return 1.0
    lo, hi = 1.0 / T_MAX, 1.0 / T_MIN
    g = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = _nll(z, y, a), _nll(z, y, b)
    for _ in range(iters):
        if fa < fb:  # minimum in [lo, b]
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = _nll(z, y, a)
        else:  # minimum in [a, hi]
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = _nll(z, y, b)
    return float(np.clip(1.0 / ((lo + hi) / 2.0), T_MIN, T_MAX))


# Span score floors tried on validation (a decoded span's score is the mean probability of its type over
# its tokens, so below 0.5 the model itself rates the span more likely not that type).
SPAN_SCORE_GRID = tuple(round(0.1 * k, 1) for k in range(10))

ScoredSpan = tuple[str, int, int, float]


FLOOR_RESAMPLES = 200  # bootstrap resamples of the validation messages behind a floor's standard error


def fit_span_min_score(
    gold: Sequence[Sequence[tuple[str, int, int]]],
    predicted: Sequence[Sequence[ScoredSpan]],
    scored_types: Sequence[Sequence[str]] | None = None,
    grid: Sequence[float] = SPAN_SCORE_GRID,
) -> tuple[float, dict[str, float]]:
    """The span score floor to serve, chosen on validation exact span micro F1 (the gate's span metric).

    `gold[i]` / `predicted[i]` are the spans of validation message i as the scanner serves them
    (``(type, start, end[, score])``). Returns the floor and the F1 at every floor tried. The decoder
    keeps a run when its path beats ``O``; runs the model rates below the floor are mostly one- or
    two-token fragments (a year, a colour code, a word of a clause) that cost precision and never match
    a value exactly.

    The floor is the lowest one whose F1 is within one standard error of the best floor's (the one
    standard error rule): the error is that of the paired difference of the two floors' F1 over
    `FLOOR_RESAMPLES` bootstrap resamples of the validation messages (seeded, so the same spans give
    the same floor). Floors that validation cannot tell apart go to the lower one, which keeps more
    recall: a span the model rates lower on text unlike its training is still served.
    """
    floors = list(grid)
    counts = np.zeros((len(floors), len(gold), 3))  # [floor, message, (tp, fp, fn)]
    for f, floor in enumerate(floors):
        for d, (g_doc, p_doc) in enumerate(zip(gold, predicted, strict=True)):
            kept = [p[:3] for p in p_doc if p[3] >= floor]
            scored = None if scored_types is None else [scored_types[d]]
            micro = span_prf([g_doc], [kept], SPAN_TYPES, "exact", scored)["micro"]
            counts[f, d] = [micro["tp"], micro["fp"], micro["fn"]]
    f1 = _exact_f1(counts.sum(axis=1))  # [F]: micro F1 over all messages
    table = {f"{floor:.1f}": float(v) for floor, v in zip(floors, f1, strict=True)}
    best = int(np.argmax(f1))
    if not gold:
        return float(floors[best]), table
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(gold), (FLOOR_RESAMPLES, len(gold)))
    boot = _exact_f1(counts[:, draws, :].sum(axis=2))  # [F, R]: each floor's F1 on each resample
    se = (boot[best] - boot).std(axis=1)
    chosen = next(f for f in range(len(floors)) if f1[best] - f1[f] <= se[f])
    return float(floors[chosen]), table


def _exact_f1(counts: np.ndarray) -> np.ndarray:
    """Micro F1 = 2 TP / (2 TP + FP + FN) of ``[..., (tp, fp, fn)]`` counts; 0 where nothing was scored."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros_like(tp, dtype=float), where=denom > 0)


@dataclass
class HeadCalibration:
    """What calibration learned and measured for one doc head."""

    temperature: float = 1.0
    threshold: float | None = None  # on the calibrated probability; None = never flag (no positives seen)
    threshold_reached: bool = True
    ece_before: float | None = None
    ece_after: float | None = None
    n_labeled: int = 0
    n_positive: int = 0


@dataclass
class TemperatureCalibrator:
    """Per-head temperature scaling plus the validation thresholds for a target recall."""

    heads: Sequence[str] = DOC_HEADS
    recall_target: float = 0.95
    n_bins: int = 15
    per_head: dict[str, HeadCalibration] = field(default_factory=dict)
    span_min_score: float = 0.0  # decoded spans scored below this are not served
    span_exact_f1: dict[str, float] = field(default_factory=dict)  # validation F1 per floor tried
    # Validation AUPRC per head of the scores the scanner serves with these temperatures and this floor
    # (`hrm_core.release.evaluation.served_auprc`: context with the workflow veto, context_model without).
    served_auprc: dict[str, float] = field(default_factory=dict)

    def with_span_floor(self, floor: float, exact_f1: dict[str, float]) -> TemperatureCalibrator:
        """Record the span floor chosen on validation and the F1 table it was chosen from
        (`hrm_core.release.evaluation.fit_served_span_floor`); returns self."""
        self.span_min_score, self.span_exact_f1 = floor, dict(exact_f1)
        return self

    def with_served_auprc(self, auprcs: dict[str, float]) -> TemperatureCalibrator:
        """Record the served validation AUPRC per head (`served_auprc`); returns self."""
        self.served_auprc = dict(auprcs)
        return self

    def __post_init__(self) -> None:
        self.heads = tuple(self.heads)
        for h in self.heads:
            self.per_head.setdefault(h, HeadCalibration())

    @property
    def temperatures(self) -> np.ndarray:
        """[H] temperatures in head order."""
        return np.array([self.per_head[h].temperature for h in self.heads], dtype=np.float64)

    def fit(self, logits: Any, labels: Any) -> TemperatureCalibrator:
        """Fit T per head on validation `logits` [N, H] and `labels` [N, H] (-1 / NaN = null); returns self.

        Also picks each head's threshold for `recall_target` on the calibrated probabilities and
        records ECE before (T = 1) and after.
        """
        z = np.asarray(logits, dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
        if z.ndim != 2 or z.shape != y.shape or z.shape[1] != len(self.heads):
            raise ValueError(f"logits {z.shape} and labels {y.shape} must both be [N, {len(self.heads)}]")
        for j, head in enumerate(self.heads):
            zj, yj = _labeled_column(z, y, j)
            t = fit_temperature(zj, yj)
            probs = sigmoid(zj / t)
            thr = threshold_for_recall(yj, probs, self.recall_target) if yj.size else math.inf
            self.per_head[head] = HeadCalibration(
                temperature=t,
                threshold=float(thr) if math.isfinite(thr) else (0.0 if thr < 0 else None),
                threshold_reached=not (math.isinf(thr) and thr < 0),
                ece_before=_finite_or_none(expected_calibration_error(yj, sigmoid(zj), self.n_bins)),
                ece_after=_finite_or_none(expected_calibration_error(yj, probs, self.n_bins)),
                n_labeled=int(yj.size),
                n_positive=int(yj.sum()),
            )
        return self

    def apply(self, logits: Any) -> np.ndarray:
        """Calibrated probabilities [N, H] (or [H]) for raw doc logits of the same shape."""
        z = np.asarray(logits, dtype=np.float64)
        return sigmoid(z / self.temperatures)

    def thresholds(self) -> dict[str, float]:
        """Decision threshold per head on calibrated probabilities (inf = never flag)."""
        return {h: (c.threshold if c.threshold is not None else math.inf) for h, c in self.per_head.items()}

    def report(self) -> dict[str, dict[str, Any]]:
        """Per-head temperature, threshold, ECE before/after and counts (for metadata and the model card)."""
        return {h: vars(self.per_head[h]).copy() for h in self.heads}

    def to_dict(self) -> dict[str, Any]:
        """The `calibration.json` document."""
        doc: dict[str, Any] = {
            "format": CALIBRATION_FORMAT,
            "method": "temperature",
            "recall_target": self.recall_target,
            "n_bins": self.n_bins,
            "heads": self.report(),
        }
        if self.span_exact_f1:
            doc["spans"] = {"min_score": self.span_min_score, "exact_f1": self.span_exact_f1}
        if self.served_auprc:
            doc["served_auprc"] = self.served_auprc
        return doc

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TemperatureCalibrator:
        """Inverse of `to_dict`; rejects documents of another format."""
        if d.get("format") != CALIBRATION_FORMAT:
            raise ValueError(f"not a calibration document: format {d.get('format')!r}")
        fields = HeadCalibration.__dataclass_fields__
        per_head = {
            h: HeadCalibration(**{k: v for k, v in c.items() if k in fields}) for h, c in d["heads"].items()
        }
        spans = d.get("spans") or {}
        return cls(
            heads=tuple(d["heads"]),
            recall_target=float(d["recall_target"]),
            n_bins=int(d["n_bins"]),
            per_head=per_head,
            span_min_score=float(spans.get("min_score", 0.0)),
            span_exact_f1={str(k): float(v) for k, v in (spans.get("exact_f1") or {}).items()},
            served_auprc={str(k): float(v) for k, v in (d.get("served_auprc") or {}).items()},
        )

    def save(self, path: Path) -> Path:
        """Write `calibration.json`."""
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> TemperatureCalibrator:
        """Read `calibration.json`."""
        return cls.from_dict(json.loads(path.read_text()))


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def reliability_bins(
    y: np.ndarray, p: np.ndarray, n_bins: int = 15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin (mean confidence, observed positive rate, count), with the bins of the ECE metric.

    Empty bins hold NaN confidence and rate.
    """
    bins = np.clip(np.ceil(np.clip(p, 0.0, 1.0) * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(bins, weights=p, minlength=n_bins) / count
        rate = np.bincount(bins, weights=y, minlength=n_bins) / count
    return conf, rate, count


def plot_reliability(logits: Any, labels: Any, calibrator: TemperatureCalibrator, path: Path) -> Path:
    """Reliability diagram, one panel per head, before (T = 1) and after calibration; writes a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in Dagster runs
    import matplotlib.pyplot as plt

    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    heads = calibrator.heads
    fig, axes = plt.subplots(1, len(heads), figsize=(3.2 * len(heads), 3.4), squeeze=False)
    for j, (head, ax) in enumerate(zip(heads, axes[0], strict=True)):
        zj, yj = _labeled_column(z, y, j)
        c = calibrator.per_head[head]
        ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--")
        for probs, name, ece in (
            (sigmoid(zj), "before", c.ece_before),
            (sigmoid(zj / c.temperature), f"after (T={c.temperature:.2f})", c.ece_after),
        ):
            conf, rate, count = reliability_bins(yj, probs, calibrator.n_bins)
            ok = count > 0
            label = f"{name}, ECE {ece:.3f}" if ece is not None else name
            ax.plot(conf[ok], rate[ok], marker="o", ms=3, lw=1.2, label=label)
        ax.set(title=f"{head} (n={c.n_labeled})", xlim=(0, 1), ylim=(0, 1), xlabel="predicted probability")
        ax.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel("observed positive rate")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
