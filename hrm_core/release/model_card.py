"""model_card.md: a claim about one bundle, so every figure names its split and its checkpoint.

The card is rendered from metrics.json (and calibration.json) only. Keys it reads:

    training_data   flat dict of counts
    validation      where `doc` and `spans_token` come from: {"split", "checkpoint", "epoch", "step",
                    "weights"}; `checkpoint_metrics(best_checkpoint)` builds it with the two below
    doc             {head: {auprc, fp_at_95_recall, accuracy, ...}}: trainer validation figures
    spans_token     {"micro": {precision, recall, f1}, "per_type": {TYPE: {...}}}: token-level spans
    spans           {"exact"|"overlap": {"micro", "per_type"}}: whole spans (BIO Viterbi), same split
    evaluation      optional: the evaluation report (`hrm_core.release.evaluation.evaluate`) of this
                    bundle: dataset, model.doc, model.spans (exact and overlap match), model.version
    parity, int8    `ParityReport.to_dict()`, `int8_delta_auprc(...)`

A section with no figures says what is missing and where the figures would come from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hrm_core.data.contract import DOC_HEADS, SPAN_TYPES
from hrm_core.model.hrm import ModelConfig
from hrm_core.release.calibration import TemperatureCalibrator
from hrm_core.release.export import OPSET

# Column order of doc-head tables; a column no head reports is left out.
DOC_COLUMNS = ("auprc", "fp_at_95_recall", "accuracy", "precision", "recall", "f1", "ece")


def checkpoint_metrics(
    checkpoint: Mapping[str, Any], name: str = "best.pt", weights: str = "EMA", split: str = "val"
) -> dict[str, Any]:
    """The metrics.json block of an exported checkpoint: its own validation figures and their provenance.

    ``checkpoint`` is the dict `train` writes to best.pt (``val_metrics``, ``epoch``, ``step``).
    """
    val = checkpoint.get("val_metrics") or {}
    return {
        "validation": {
            "split": split,
            "checkpoint": name,
            "epoch": checkpoint.get("epoch"),
            "step": checkpoint.get("step"),
            "weights": weights,
        },
        "doc": val.get("doc", {}),
        "spans_token": val.get("spans_token", {}),
        "spans": val.get("spans", {}),
    }


def _fmt(x: Any, digits: int = 3) -> str:
    if isinstance(x, bool) or x is None:
        return "n/a" if x is None else str(x).lower()
    if isinstance(x, float):
        return "n/a" if not math.isfinite(x) else f"{x:.{digits}f}"
    return str(x)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]


def _doc_table(doc: Mapping[str, Any]) -> list[str]:
    heads = [h for h in DOC_HEADS if doc.get(h)]
    cols = [c for c in DOC_COLUMNS if any(c in doc[h] for h in heads)]
    return _table(["head", *cols], [[h, *(doc[h].get(c) for c in cols)] for h in heads])


def _prf_rows(block: Mapping[str, Any], *prefix: str) -> list[list[Any]]:
    """``micro`` then each span type (in `SPAN_TYPES` order) as [*prefix, type, P, R, F1] rows."""
    per_type = block.get("per_type") or {}
    named = [("micro", block.get("micro") or {})] + [(t, per_type[t]) for t in SPAN_TYPES if t in per_type]
    return [[*prefix, t, m.get("precision"), m.get("recall"), m.get("f1")] for t, m in named if m]


def _provenance(v: Mapping[str, Any]) -> str:
    """ "validation split `val`, checkpoint `best.pt` (epoch 3, step 1200), EMA weights"."""
    where = ", ".join(f"{k} {v[k]}" for k in ("epoch", "step") if v.get(k) is not None)
    ckpt = f"checkpoint `{v.get('checkpoint', 'unrecorded')}`" + (f" ({where})" if where else "")
    weights = f", {v['weights']} weights" if v.get("weights") else ""
    return f"validation split `{v.get('split', 'val')}`, {ckpt}{weights}"


def _validation_section(metrics: Mapping[str, Any]) -> list[str]:
    doc, spans = metrics.get("doc") or {}, metrics.get("spans_token") or {}
    source = metrics.get("validation")
    where = _provenance(source) if source else "split and checkpoint not recorded in metrics.json"
    out = ["## Validation figures (training run)", ""]
    if source:
        out += [
            f"From the {where}: the weights this bundle ships, scored as the scanner scores them (same "
            "windows and merge), before calibration (accuracy at probability 0.5).",
            "",
        ]
    out += [f"### Document heads ({where})", ""]
    out += _doc_table(doc) if any(doc.get(h) for h in DOC_HEADS) else ["No validation doc figures recorded."]
    out += ["", f"### Spans, token level ({where})", ""]
    rows = _prf_rows(spans)
    if rows:
        out += ["A token counts as found when its predicted span type is its gold type.", ""]
        out += _table(["type", "precision", "recall", "f1"], rows)
    else:
        out.append("No token-level span figures recorded.")
    whole = metrics.get("spans") or {}
    rows = [r for match in ("exact", "overlap") if match in whole for r in _prf_rows(whole[match], match)]
    out += ["", f"### Spans, whole values, exact and overlap match ({where})", ""]
    if rows:
        out += ["Spans decoded as the scanner decodes them (BIO-constrained Viterbi), in token space.", ""]
        out += _table(["match", "type", "precision", "recall", "f1"], rows)
    else:
        out.append("No whole-span figures recorded (checkpoints before the span decoder have none).")
    return out


def _evaluation_section(evaluation: Mapping[str, Any] | None, version: str) -> list[str]:
    out = ["## Evaluation (held-out data, through the scanner)", ""]
    if not evaluation:
        out.append(
            "Not part of this bundle's metrics.json: see the release's evaluation report "
            "(evaluation.json, test split) for this version."
        )
        return out
    data, model = evaluation.get("dataset") or {}, evaluation.get("model") or {}
    evaluated = model.get("version")
    what = f"dataset `{data.get('name', 'unnamed')}` (n={_fmt(data.get('n'))})"
    if evaluated and evaluated != version:
        what += f", model version `{evaluated}` (not this bundle's `{version}`)"
    thresholds = f", thresholds from {model['threshold_source']}" if model.get("threshold_source") else ""
    out += [f"### Document heads ({what}{thresholds})", ""]
    doc = model.get("doc") or {}
    out += _doc_table(doc) if any(doc.get(h) for h in DOC_HEADS) else ["No labeled doc head in this dataset."]
    out += ["", f"### Spans, exact and overlap match ({what})", ""]
    spans = model.get("spans") or {}
    rows = [r for match in ("exact", "overlap") if match in spans for r in _prf_rows(spans[match], match)]
    out += _table(["match", "type", "precision", "recall", "f1"], rows) if rows else ["No span annotations."]
    return out


def render_model_card(
    version: str, cfg: ModelConfig, calibration: TemperatureCalibrator, metrics: dict[str, Any]
) -> str:
    """model_card.md from the real numbers in `metrics` (keys in the module docstring)."""
    out = [f"# HRM-DLP model card — version `{version}`", ""]
    out += [
        "## Intended use",
        "Scores outgoing e-mail, chat, pull requests and uploads on four document heads "
        "(sensitivity, exposure, context, obfuscation), tags sensitive spans (10 types) and gives an "
        "ALLOW / WARN / BLOCK decision through `policy.yaml`. It is a triage aid for a DLP team: "
        "decisions are reviewable, not a replacement for review. Not for scoring people.",
        "",
        "## Model",
        f"HRM-DLP, d_model {cfg.d_model}, {cfg.n_fast_layers} fast layers, {cfg.n_slow_blocks} slow "
        f"blocks, stride {cfg.slow_update_stride}, {cfg.H_cycles}x{cfg.L_cycles} cycles x "
        f"{cfg.segments} segments, max_len {cfg.max_len}, vocabulary {cfg.vocab_size}. "
        f"ONNX opset {OPSET}, fp32 and int8 (dynamic).",
        "",
        "## Training data",
    ]
    data = metrics.get("training_data")
    out += [f"- {k}: {_fmt(v)}" for k, v in data.items()] if data else ["Not recorded in metrics.json."]
    out += ["", *_validation_section(metrics)]
    out += ["", *_evaluation_section(metrics.get("evaluation"), version)]
    out += ["", "## Calibration (validation split)", ""]
    rows = [
        [h, c["temperature"], c["ece_before"], c["ece_after"], c["threshold"], c["n_labeled"]]
        for h, c in calibration.report().items()
    ]
    out += _table(["head", "temperature", "ECE before", "ECE after", "threshold @95% recall", "n"], rows)
    served = calibration.served_auprc
    if served:
        heads = ", ".join(f"{h} {_fmt(served[h])}" for h in DOC_HEADS if h in served)
        out += [
            "",
            f"Validation AUPRC of the scores as served (calibrated, span floor {_fmt(calibration.span_min_score)}): "
            f"{heads}. Served context is capped by the sender's workflow table applied to the detected "
            f"values (`workflow_context`); the context head alone: {_fmt(served.get('context_model'))}.",
        ]
    out += ["", "## Export parity", ""]
    parity, int8 = metrics.get("parity"), metrics.get("int8")
    if parity:
        out.append(
            f"- fp32 ONNX vs torch, {parity.get('n_examples')} validation examples: max |logit diff| "
            f"{_fmt(parity.get('max_abs_logit_diff'), 7)} (tolerance {_fmt(parity.get('tol'), 6)})."
        )
    if int8:
        deltas = ", ".join(f"{h} {d['delta']:+.4f}" for h, d in int8.get("heads", {}).items())
        out.append(f"- int8 vs fp32 AUPRC change (validation split): {deltas or 'n/a'}.")
    if not (parity or int8):
        out.append("No parity figures recorded (`check_parity`, `int8_delta_auprc`).")
    out += [
        "",
        "## Limitations",
        "- Trained mostly on synthetic and LLM-written messages: real mail has other distributions of "
        "names, addresses and formats; measure on your own traffic before enforcing BLOCK.",
        "- Span types outside the ten listed are not detected; obfuscations unlike the training ones "
        "(new encodings, images of text) may pass.",
        "- Scores are calibrated on the validation split; recalibrate when traffic drifts.",
        "- Long messages are scored in overlapping windows; a value split across a window edge may be missed.",
        "",
    ]
    return "\n".join(out)
