"""The evaluation report as Markdown with PNG plots, and its atomic write to disk.

Plots (matplotlib, Agg backend: no display needed): precision-recall curves per doc head, model vs
regex baseline, in one PNG; per-type span F1 bars (exact and overlap match), model vs baseline. The
Markdown links them by file name, so it is written next to them.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

METHODS = (("model", "model"), ("baseline_regex", "regex baseline"))
DOC_COLUMNS = ("auprc", "fp_at_95_recall", "precision", "recall", "f1", "ece")
PR_PLOT = "pr_curves.png"
SPAN_PLOT = "span_f1.png"


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _doc_heads(report: Mapping[str, Any]) -> list[str]:
    heads: list[str] = []
    for key, _ in METHODS:
        heads += [h for h in report[key]["doc"] if h not in heads]
    return heads


def _span_types(report: Mapping[str, Any]) -> list[str]:
    types: list[str] = []
    for key, _ in METHODS:
        for match in ("exact", "overlap"):
            per_type = report[key]["spans"].get(match, {}).get("per_type", {})
            types += [t for t in per_type if t not in types]
    return types


# ---------------------------------------------------------------------------- plots


def plot_pr_curves(report: Mapping[str, Any], path: Path) -> Path | None:
    """One panel per labeled doc head: the model's and the baseline's PR curves; None if no head."""
    heads = _doc_heads(report)
    if not heads:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(heads), figsize=(4 * len(heads), 3.8), squeeze=False)
    for ax, head in zip(axes[0], heads, strict=True):
        for key, label in METHODS:
            curve = report.get("curves", {}).get(key, {}).get(head)
            doc = report[key]["doc"].get(head)
            if curve and doc:
                ax.step(
                    curve["recall"],
                    curve["precision"],
                    where="post",
                    label=f"{label} (AUPRC {_fmt(doc['auprc'], 2)})",
                )
        ax.axvline(0.95, color="grey", linestyle=":", linewidth=1)
        ax.set(title=head, xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02))
        ax.legend(loc="lower left", fontsize=8)
    fig.suptitle(f"Precision-recall: {report['dataset']['name']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_span_f1(report: Mapping[str, Any], path: Path) -> Path | None:
    """Per-type span F1 bars, model vs baseline, exact and overlap match; None if no type is annotated."""
    types = _span_types(report)
    if not types:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.2 * len(types) * 2), 3.8), squeeze=False)
    x = np.arange(len(types))
    for ax, match in zip(axes[0], ("exact", "overlap"), strict=True):
        for k, (key, label) in enumerate(METHODS):
            per_type = report[key]["spans"].get(match, {}).get("per_type", {})
            f1 = [per_type.get(t, {}).get("f1") or 0.0 for t in types]
            ax.bar(x + (k - 0.5) * 0.4, f1, width=0.4, label=label)
        ax.set_xticks(x, types, rotation=45, ha="right")
        ax.set(title=f"span F1 ({match} match)", ylim=(0, 1.05))
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------- Markdown


def _doc_table(report: Mapping[str, Any]) -> list[str]:
    lines = [
        "| head | method | n (positive) | AUPRC | FP@95R | reaches 95% recall | precision | recall | F1 | ECE |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for head in _doc_heads(report):
        for key, label in METHODS:
            m = report[key]["doc"].get(head)
            if m is None:
                continue
            cells = [
                head,
                label,
                f"{m['n']} ({m['n_positive']})",
                _fmt(m["auprc"]),
                _fmt(m["fp_at_95_recall"]),
            ]
            cells += [_fmt(m["reached_95_recall"])] + [_fmt(m[c]) for c in DOC_COLUMNS[2:]]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _span_tables(report: Mapping[str, Any]) -> list[str]:
    lines = ["| match | method | precision | recall | F1 |", "|---|---|---|---|---|"]
    for match in ("exact", "overlap"):
        for key, label in METHODS:
            micro = report[key]["spans"].get(match, {}).get("micro")
            if micro:
                cells = [match, label, _fmt(micro["precision"]), _fmt(micro["recall"]), _fmt(micro["f1"])]
                lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Per type, overlap match (precision / recall / F1; support = gold spans):",
        "",
        "| type | support | model | regex baseline |",
        "|---|---|---|---|",
    ]
    for t in _span_types(report):
        cells, support = [], "—"
        for key, _ in METHODS:
            m = report[key]["spans"].get("overlap", {}).get("per_type", {}).get(t)
            if m is None:
                cells.append("—")
                continue
            support = str(m["tp"] + m["fn"])
            cells.append(f"{_fmt(m['precision'], 2)} / {_fmt(m['recall'], 2)} / {_fmt(m['f1'], 2)}")
        lines.append(f"| {t} | {support} | {cells[0]} | {cells[1]} |")
    return lines


def render_markdown(report: Mapping[str, Any], plots_dir: Path, prefix: str = "") -> str:
    """The report as Markdown; writes its PNG plots into `plots_dir` and links them by file name.

    `prefix` starts each PNG's name, so several reports can share one folder.
    """
    plots_dir = Path(plots_dir)
    pr_plot, span_plot = f"{prefix}{PR_PLOT}", f"{prefix}{SPAN_PLOT}"
    plots_dir.mkdir(parents=True, exist_ok=True)
    ds, model = report["dataset"], report["model"]
    lines = [
        f"# Evaluation: {ds['name']}",
        "",
        f"{ds['n']} examples; model `{model.get('version')}` (through the Scanner, windowed long inputs) "
        "next to the regex baseline.",
        f"Thresholds for precision / recall / F1 — model: {model.get('threshold_source')}; "
        f"regex baseline: {report['baseline_regex'].get('threshold_source')}.",
        "",
        "## Document heads",
        "",
    ]
    if _doc_heads(report):
        lines += _doc_table(report)
        reduction = report.get("fp_at_95_recall_reduction", {})
        if reduction:
            lines += ["", "Relative FP@95R reduction vs the regex baseline (higher is better):", ""]
            lines += [f"- {h}: {100 * v:.1f}%" for h, v in reduction.items()]
        if plot_pr_curves(report, plots_dir / pr_plot):
            lines += ["", f"![precision-recall curves]({pr_plot})"]
    else:
        lines.append("The dataset labels no doc head.")
    lines += ["", "## Spans", ""]
    if _span_types(report):
        lines += _span_tables(report)
        if plot_span_f1(report, plots_dir / span_plot):
            lines += ["", f"![span F1 per type]({span_plot})"]
    else:
        lines.append("The dataset annotates no span type.")
    stab = model.get("stability") or {}
    if stab:
        lines += [
            "",
            "## Stability",
            "",
            f"Decision unchanged with ~{stab.get('neutral_tokens')} tokens of neutral text added, on "
            f"{stab.get('n')} sampled examples: prepended {_fmt(stab.get('prepend'))}, appended "
            f"{_fmt(stab.get('append'))}, mean **{_fmt(stab.get('decision_consistency'))}**.",
        ]
    timing = report.get("timing", {})
    lines += [
        "",
        "## Timing",
        "",
        f"Model {_fmt(timing.get('model_examples_per_s'), 1)} examples/s; "
        f"regex baseline {_fmt(timing.get('baseline_examples_per_s'), 1)} examples/s.",
    ]
    if report.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- writing


def write_report(report: Mapping[str, Any], out_json: Path) -> dict[str, Path]:
    """Write `out_json`, the Markdown and the PNGs (same stem) next to it; returns the paths by kind.

    Everything is rendered into a temporary folder beside the target first; each file then replaces its
    old version atomically, the JSON last, so a reader that sees the new JSON also sees its plots.
    """
    out_json = Path(out_json)
    out_dir = out_json.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".evaluation-") as tmp:
        stage = Path(tmp)
        markdown = render_markdown(report, stage, prefix=f"{out_json.stem}_")
        (stage / "report.md").write_text(markdown, encoding="utf-8")
        (stage / "report.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
        for png in sorted(stage.glob("*.png")):
            os.replace(png, out_dir / png.name)
            written[png.stem.removeprefix(f"{out_json.stem}_")] = out_dir / png.name
        os.replace(stage / "report.md", out_json.with_suffix(".md"))
        os.replace(stage / "report.json", out_json)
    written["markdown"], written["json"] = out_json.with_suffix(".md"), out_json
    return written
