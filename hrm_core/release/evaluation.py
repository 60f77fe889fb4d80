"""The evaluation report (SPEC "Evaluation report"): the served model next to the regex baseline.

The model is evaluated THROUGH the `Scanner`, so the numbers are those of what production serves: the
same serialization, windowing of long inputs (never truncation), window merging, calibration and
decision policy. Body spans are the scanner's spans with ``field == "body"``.

What is scored, and what is not:
- a doc head whose label is null on every example of the dataset is absent from ``doc`` (not zero);
- a span type no example annotates is absent from ``per_type``; a predicted span of a type outside an
  example's ``meta.annotated_types`` is ignored there (neither a hit nor a false positive);
- where a method never reaches 95 % recall its ``fp_at_95_recall`` is 1.0 and ``notes`` says so.

Thresholds for precision / recall / F1: the model uses the per-head thresholds chosen on validation
(``calibration.json``); the baseline uses its own validation thresholds when given, else its 95 %-recall
threshold on this very data (optimistic), and ``threshold_source`` says which for each method.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from hrm_core.data.contract import DOC_HEADS, MAX_BODY_CHARS, SPAN_TYPES, Example
from hrm_core.model.metrics import (
    SpanTuple,
    auprc,
    doc_head_report,
    operating_point_at_recall,
    pr_curve,
    span_prf,
)
from hrm_core.release.policy import workflow_context
from hrm_core.rules.regex_baseline import BaselinePrediction, RegexBaseline

RECALL_TARGET = 0.95
NEUTRAL_TOKENS = 200  # how much neutral text the stability check adds on one side
SCAN_CHUNK = 64  # messages per scan_batch call: windows of a chunk share model batches
CURVE_POINTS = 200  # PR-curve points kept in the report (enough for a plot, small in JSON)

# Bland business text for the stability check: no names, numbers, addresses, secrets or legal terms.
NEUTRAL_SENTENCES: tuple[str, ...] = (
    "Thanks for the update on the planning notes.",
    "The team meeting has moved to the usual room this week.",
    "Please remember to water the plants in the kitchen before leaving.",
    "Lunch will be provided after the morning workshop.",
    "The coffee machine on the third floor is working again.",
    "We will share the slides after the session ends.",
    "Let me know if the agenda needs any changes.",
    "The office will close early on Friday for the team social.",
    "Feedback on the new layout of the break area is welcome.",
    "Parking near the east entrance is limited during the renovation.",
    "The printer queue should be faster after the recent update.",
    "Have a pleasant weekend and enjoy the nice weather.",
)

SPANS_NOT_ANNOTATED_NOTE = "dataset annotates no span types: span metrics absent"


class Baseline(Protocol):
    """What the report needs from a baseline: `RegexBaseline.predict`."""

    def predict(self, example: Example) -> BaselinePrediction: ...


# ---------------------------------------------------------------------------- predictions


def scan_examples(scanner: Any, examples: Sequence[Example]) -> list[dict[str, Any]]:
    """Scanner results for `examples` in input order, scanned in chunks of `SCAN_CHUNK` via ``scan_batch``.

    Thread memory is cleared first so that a thread's messages are seeded only by earlier messages of
    this dataset (in dataset order), never by an earlier call. Messages outside a thread are scanned
    shortest first: windows of similar length share a batch with little padding (about twice as fast).
    """
    memory = getattr(scanner, "thread_memory", None)
    if memory is not None:
        memory.clear()
    threaded = [i for i, ex in enumerate(examples) if ex.thread_id is not None]
    alone = sorted(
        (i for i, ex in enumerate(examples) if ex.thread_id is None),
        key=lambda i: len(examples[i].body) + len(examples[i].subject),
    )
    results: list[dict[str, Any] | None] = [None] * len(examples)
    for order in (threaded, alone):
        for k in range(0, len(order), SCAN_CHUNK):
            chunk = order[k : k + SCAN_CHUNK]
            for i, result in zip(chunk, scanner.scan_batch([examples[i] for i in chunk]), strict=True):
                results[i] = result
    return results  # type: ignore[return-value]


def body_spans(result: Mapping[str, Any]) -> list[SpanTuple]:
    """``(type, start, end)`` of the spans a scanner result places in the body."""
    return [(s["type"], int(s["start"]), int(s["end"])) for s in result["spans"] if s["field"] == "body"]


def scored_body_spans(result: Mapping[str, Any]) -> list[tuple[str, int, int, float]]:
    """`body_spans` with each span's score (what `calibration.fit_span_min_score` chooses a floor on)."""
    return [
        (s["type"], int(s["start"]), int(s["end"]), float(s["score"]))
        for s in result["spans"]
        if s["field"] == "body"
    ]


def fit_served_span_floor(scanner: Any, val: Sequence[Example]) -> tuple[float, dict[str, float]]:
    """The span score floor for `scanner` (`calibration.fit_span_min_score`) and the validation exact F1
    at every floor tried, from the spans it serves on the validation split with no floor: what the
    calibration asset writes to a bundle and what the ablation serves each arm with."""
    from hrm_core.release.calibration import fit_span_min_score

    saved, scanner.span_min_score = scanner.span_min_score, 0.0
    try:
        served = [scored_body_spans(r) for r in scan_examples(scanner, val)]
    finally:
        scanner.span_min_score = saved
    return fit_span_min_score(gold_spans(val), served, scored_types(val))


def served_auprc(scanner: Any, examples: Sequence[Example]) -> dict[str, float]:
    """Each labelled doc head's AUPRC on `examples` as `scanner` serves its scores (context with the
    workflow veto, `hrm_core.release.policy.workflow_context`, when the scanner applies it), and
    ``context_model``: the context head's own. One scan with the veto off, then the veto on its spans."""
    veto, scanner.workflow_veto = scanner.workflow_veto, False
    try:
        results = scan_examples(scanner, examples)
    finally:
        scanner.workflow_veto = veto
    scores = [dict(r["scores"]) for r in results]
    model_context = [s["context"] for s in scores]
    for s, ex, r in zip(scores, examples, results, strict=True):
        if veto:  # the example's fields are the ones a scan request carries
            s["context"] = workflow_context(ex, s["context"], r["spans"])
    out: dict[str, float] = {}
    for head, column in [*((h, [s[h] for s in scores]) for h in DOC_HEADS), ("context_model", model_context)]:
        y = _labels(examples, head.removesuffix("_model"))
        keep = [i for i, v in enumerate(y) if v is not None]
        if keep:
            out[head] = round(auprc([y[i] for i in keep], [column[i] for i in keep]), 4)
    return out


def gold_spans(examples: Sequence[Example]) -> list[list[SpanTuple]]:
    """The labelled ``(type, start, end)`` body spans of each example."""
    return [[(s.type, s.start, s.end) for s in ex.spans] for ex in examples]


def scored_types(examples: Sequence[Example]) -> list[list[str]]:
    """The span types each example's source annotates (all of them unless ``meta.annotated_types``)."""
    return [
        list(SPAN_TYPES) if ex.meta.annotated_types is None else list(ex.meta.annotated_types)
        for ex in examples
    ]


def neutral_text(tokenizer: Any, n_tokens: int = NEUTRAL_TOKENS) -> str:
    """At least `n_tokens` tokens of neutral sentences (cycled in a fixed order; deterministic)."""
    sentences: list[str] = []
    while True:
        sentences.append(NEUTRAL_SENTENCES[len(sentences) % len(NEUTRAL_SENTENCES)])
        text = " ".join(sentences)
        if len(tokenizer.encode(text)[0]) >= n_tokens:
            return text


# ---------------------------------------------------------------------------- metric blocks


def _labels(examples: Sequence[Example], head: str) -> list[int | None]:
    return [getattr(ex.labels, head) for ex in examples]


def _curve(y: Sequence[int | None], scores: Sequence[float]) -> dict[str, list[float]]:
    """A PR curve thinned to at most `CURVE_POINTS` points (ends kept), rounded for JSON."""
    precision, recall, _ = pr_curve(y, scores)
    keep = np.unique(np.linspace(0, precision.size - 1, min(precision.size, CURVE_POINTS)).astype(int))
    return {"precision": np.round(precision[keep], 4).tolist(), "recall": np.round(recall[keep], 4).tolist()}


def doc_block(
    examples: Sequence[Example],
    scores: Sequence[Mapping[str, float]],
    thresholds: Mapping[str, float] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-head doc metrics and PR curves; heads the dataset never labels are absent from both."""
    doc, curves = {}, {}
    for head in DOC_HEADS:
        y = _labels(examples, head)
        s = [float(sc[head]) for sc in scores]
        thr = None if thresholds is None else thresholds.get(head, math.inf)
        block = doc_head_report(y, s, thr)
        if block is None:
            continue
        doc[head], curves[head] = block, _curve(y, s)
    return doc, curves


def span_block(examples: Sequence[Example], predicted: Sequence[Sequence[SpanTuple]]) -> dict[str, Any]:
    """Exact and overlap span P/R/F1 over annotated types; empty when the dataset annotates none."""
    scored = scored_types(examples)
    if not any(scored):
        return {}
    gold = gold_spans(examples)
    return {
        match: span_prf(gold, predicted, SPAN_TYPES, match=match, scored_types=scored)  # type: ignore[arg-type]
        for match in ("exact", "overlap")
    }


def baseline_thresholds_on(examples: Sequence[Example], baseline: Baseline | None = None) -> dict[str, float]:
    """The baseline's per-head 95 %-recall thresholds chosen on `examples` (a validation split)."""
    baseline = baseline or RegexBaseline()
    scores = [baseline.predict(ex).doc_scores for ex in examples]
    out = {}
    for head in DOC_HEADS:
        y = _labels(examples, head)
        if any(v is not None for v in y):
            out[head] = operating_point_at_recall(y, [s[head] for s in scores], RECALL_TARGET).threshold
    return out


# ---------------------------------------------------------------------------- stability


def decision_stability(
    scanner: Any, examples: Sequence[Example], *, n: int = 200, seed: int = 0
) -> dict[str, Any]:
    """Share of a seeded sample whose decision is unchanged when ~200 neutral tokens are prepended / appended.

    Every variant (original included) is scanned without its thread id, so the neutral text is the only
    difference between the runs being compared. ``decision_consistency`` is the mean of both directions.
    """
    filler = neutral_text(scanner.tokenizer)
    fits = [i for i, ex in enumerate(examples) if len(ex.body) + len(filler) + 2 <= MAX_BODY_CHARS]
    sample = sorted(random.Random(seed).sample(fits, min(n, len(fits))))
    if not sample:
        return {"decision_consistency": math.nan, "prepend": math.nan, "append": math.nan, "n": 0}
    base = [examples[i].model_copy(update={"thread_id": None}) for i in sample]
    variants = {
        "prepend": [ex.model_copy(update={"body": f"{filler}\n\n{ex.body}"}) for ex in base],
        "append": [ex.model_copy(update={"body": f"{ex.body}\n\n{filler}"}) for ex in base],
    }
    original = scan_examples(scanner, base)
    out: dict[str, Any] = {}
    shifts: list[float] = []
    for side, messages in variants.items():
        results = scan_examples(scanner, messages)
        pairs = list(zip(original, results, strict=True))
        out[side] = float(np.mean([a["decision"] == b["decision"] for a, b in pairs]))
        shifts += [abs(a["scores"]["sensitivity"] - b["scores"]["sensitivity"]) for a, b in pairs]
    return {
        "decision_consistency": (out["prepend"] + out["append"]) / 2,
        "prepend": out["prepend"],
        "append": out["append"],
        "sensitivity_mean_abs_shift": float(np.mean(shifts)),
        "n": len(sample),
        "neutral_tokens": len(scanner.tokenizer.encode(filler)[0]),
    }


# ---------------------------------------------------------------------------- the report


def _method_notes(method: str, dataset: str, doc: Mapping[str, Any]) -> list[str]:
    notes = []
    for head, m in doc.items():
        if not m["reached_95_recall"]:
            notes.append(f"{method} never reaches 95% recall on {head} in {dataset}: FP@95R reported as 1.0")
        if m["n_positive"] == 0:
            notes.append(f"{head} in {dataset} has no positives: recall and AUPRC carry no information")
        elif m["n_positive"] == m["n"]:
            notes.append(f"{head} in {dataset} has no negatives: FP@95R is 0 by definition, AUPRC is 1")
    return notes


def _json_safe(obj: Any) -> Any:
    """The report with NaN / infinite floats as None (strict JSON) and numpy scalars as Python ones."""
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def evaluate(
    scanner: Any,
    examples: Sequence[Example],
    *,
    baseline: Baseline | None = None,
    dataset_name: str,
    thresholds: Mapping[str, float] | None = None,
    baseline_thresholds: Mapping[str, float] | None = None,
    stability_n: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """The evaluation report of `scanner` and the regex `baseline` on `examples` (strict-JSON dict).

    `thresholds`: the model's per-head decision thresholds on calibrated probabilities, chosen on
    validation (``TemperatureCalibrator.thresholds()``); None chooses them on this data at 95 % recall.
    `baseline_thresholds` likewise for the baseline (`baseline_thresholds_on` a validation split).
    `stability_n` examples, sampled with `seed`, go through the stability check (0 skips it).
    """
    if not examples:
        raise ValueError("cannot evaluate on an empty dataset")
    baseline = baseline or RegexBaseline()
    n = len(examples)

    t0 = time.perf_counter()
    results = scan_examples(scanner, examples)
    model_s = time.perf_counter() - t0
    model_doc, model_curves = doc_block(examples, [r["scores"] for r in results], thresholds)
    model_spans = span_block(examples, [body_spans(r) for r in results])

    t0 = time.perf_counter()
    predictions = [baseline.predict(ex) for ex in examples]
    baseline_s = time.perf_counter() - t0
    base_doc, base_curves = doc_block(examples, [p.doc_scores for p in predictions], baseline_thresholds)
    base_spans = span_block(examples, [p.spans for p in predictions])

    t0 = time.perf_counter()
    stability = decision_stability(scanner, examples, n=stability_n, seed=seed) if stability_n > 0 else {}
    stability_s = time.perf_counter() - t0

    reduction = {
        head: (base_doc[head]["fp_at_95_recall"] - m["fp_at_95_recall"]) / base_doc[head]["fp_at_95_recall"]
        for head, m in model_doc.items()
        if head in base_doc and base_doc[head]["fp_at_95_recall"] > 0
    }
    sources = {
        "model": "validation (calibration.json)" if thresholds is not None else "this dataset (95% recall)",
        "baseline_regex": "validation" if baseline_thresholds is not None else "this dataset (95% recall)",
    }
    notes = _method_notes("model", dataset_name, model_doc)
    notes += [x for x in _method_notes("regex baseline", dataset_name, base_doc) if x not in notes]
    if not model_spans:
        notes.append(SPANS_NOT_ANNOTATED_NOTE)
    for method, source in sources.items():
        if source.startswith("this dataset"):
            notes.append(
                f"{method} thresholds chosen on this dataset at 95% recall (no validation thresholds): "
                "its precision / recall / F1 are optimistic"
            )
    report = {
        "dataset": {"name": dataset_name, "n": n},
        "model": {
            "doc": model_doc,
            "spans": model_spans,
            "stability": stability,
            "threshold_source": sources["model"],
            "version": getattr(scanner, "model_version", None),
        },
        "baseline_regex": {
            "doc": base_doc,
            "spans": base_spans,
            "threshold_source": sources["baseline_regex"],
        },
        "fp_at_95_recall_reduction": reduction,
        "timing": {
            "model_seconds": model_s,
            "model_examples_per_s": n / model_s if model_s > 0 else None,
            "baseline_seconds": baseline_s,
            "baseline_examples_per_s": n / baseline_s if baseline_s > 0 else None,
            "stability_seconds": stability_s,
        },
        "curves": {"model": model_curves, "baseline_regex": base_curves},
        "notes": notes,
    }
    return _json_safe(report)


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """The numbers a reader checks first: FP@95R and AUPRC per head, span micro-F1, stability."""

    def doc(method: str) -> dict[str, Any]:
        return {
            h: {"auprc": m["auprc"], "fp_at_95_recall": m["fp_at_95_recall"], "f1": m["f1"]}
            for h, m in report[method]["doc"].items()
        }

    def spans(method: str) -> dict[str, Any]:
        return {match: b["micro"]["f1"] for match, b in report[method]["spans"].items()}

    return {
        "dataset": report["dataset"],
        "model": {
            "doc": doc("model"),
            "span_micro_f1": spans("model"),
            "decision_consistency": report["model"]["stability"].get("decision_consistency"),
        },
        "baseline_regex": {"doc": doc("baseline_regex"), "span_micro_f1": spans("baseline_regex")},
        "fp_at_95_recall_reduction": report["fp_at_95_recall_reduction"],
        "examples_per_s": report["timing"]["model_examples_per_s"],
        "notes": report["notes"],
    }
