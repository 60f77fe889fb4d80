"""Markdown rendering, PNG plots and the atomic write of the evaluation report."""

from __future__ import annotations

import json

import pytest

from hrm_core.data.contract import validate_example
from hrm_core.release.evaluation import evaluate
from hrm_core.release.report_render import render_markdown, write_report
from hrm_core.rules.regex_baseline import BaselinePrediction
from tests.hrm_core.serve.scan_fixtures import digit_scanner

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class FixedBaseline:
    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores

    def predict(self, example) -> BaselinePrediction:
        s = self.scores.get(example.id, 0.0)
        return BaselinePrediction({"sensitivity": s, "exposure": s, "context": 0.5, "obfuscation": s}, [])


def _example(i, body, sensitivity, spans=(), annotated=None):
    return validate_example(
        {
            "id": i,
            "channel": "email",
            "user": {"role": "OTHER"},
            "body": body,
            "labels": {"sensitivity": sensitivity},
            "spans": [{"type": t, "start": s, "end": e} for t, s, e in spans],
            "meta": {"source": "test", "annotated_types": annotated},
        }
    )


@pytest.fixture(scope="module")
def report() -> dict:
    examples = [
        _example("a1", "code 1234 here", 1, [("PAN", 5, 9)], ["PAN", "EMAIL"]),
        _example("a2", "pin 12 x", 1, [], ["PAN", "EMAIL"]),
        _example("a3", "ref 123", 0, [], ["PAN", "EMAIL"]),
        _example("a4", "nothing", 0, [], ["PAN", "EMAIL"]),
    ]
    baseline = FixedBaseline({"a1": 0.9, "a2": 0.2, "a3": 0.6, "a4": 0.5})
    return evaluate(
        digit_scanner(),
        examples,
        baseline=baseline,
        dataset_name="render-set",
        thresholds={"sensitivity": 0.5},
        stability_n=2,
    )


def test_markdown_holds_the_numbers_and_links_existing_plots(report, tmp_path):
    md = render_markdown(report, tmp_path, prefix="r_")
    assert md.startswith("# Evaluation: render-set\n")
    assert "| sensitivity | model | 4 (2) | 0.833 | 0.500 | yes | 0.500 | 0.500 | 0.500 |" in md
    assert "| sensitivity | regex baseline | 4 (2) | 0.750 | 1.000 | yes | 0.500 | 1.000 | 0.667 |" in md
    assert "- sensitivity: 50.0%" in md  # FP@95R reduction
    assert "| exposure |" not in md  # a head the dataset does not label has no row
    # Overlap per type: model PAN p = r = 1 (three digit runs; "12" and "123" are lone runs of under four
    # digits, which the decoder does not serve as a PAN); baseline predicts none.
    assert "| PAN | 1 | 1.00 / 1.00 / 1.00 | 0.00 / 0.00 / 0.00 |" in md
    assert "| NAME |" not in md
    assert "prepended 1.000, appended 1.000, mean **1.000**" in md
    for name in ("r_pr_curves.png", "r_span_f1.png"):
        assert f"]({name})" in md
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000


def test_dataset_without_span_types_renders_no_span_plot(report, tmp_path):
    no_spans = {
        **report,
        "model": {**report["model"], "spans": {}},
        "baseline_regex": {**report["baseline_regex"], "spans": {}},
    }
    md = render_markdown(no_spans, tmp_path)
    assert "The dataset annotates no span type." in md
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pr_curves.png"]


def test_write_report_replaces_files_and_leaves_no_staging(report, tmp_path):
    out = tmp_path / "reports" / "set" / "evaluation.json"
    written = write_report(report, out)
    assert json.loads(out.read_text()) == report
    assert set(written) == {"json", "markdown", "pr_curves", "span_f1"}
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == ["evaluation.json", "evaluation.md", "evaluation_pr_curves.png", "evaluation_span_f1.png"]
    again = {**report, "dataset": {"name": "second run", "n": 4}}
    write_report(again, out)
    assert json.loads(out.read_text())["dataset"]["name"] == "second run"
    assert out.with_suffix(".md").read_text().startswith("# Evaluation: second run")
    assert sorted(p.name for p in out.parent.iterdir()) == names  # no staging folder left behind


def test_report_with_nan_is_refused_before_anything_is_replaced(report, tmp_path):
    out = tmp_path / "evaluation.json"
    write_report(report, out)
    before = out.read_text()
    bad = {**report, "fp_at_95_recall_reduction": {"sensitivity": float("nan")}}
    with pytest.raises(ValueError):
        write_report(bad, out)
    assert out.read_text() == before
