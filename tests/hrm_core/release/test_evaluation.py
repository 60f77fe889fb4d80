"""Evaluation report: closed-form numbers on an engine whose outputs are known, absent heads and types,
windowed long documents, stability, notes and strict JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hrm_core.data.contract import SPAN_TYPES, TAG_TO_ID, validate_example
from hrm_core.release.calibration import fit_span_min_score
from hrm_core.release.evaluation import (
    NEUTRAL_SENTENCES,
    SPANS_NOT_ANNOTATED_NOTE,
    baseline_thresholds_on,
    evaluate,
    fit_served_span_floor,
    neutral_text,
    scan_examples,
    scored_body_spans,
    served_auprc,
)
from hrm_core.rules.regex_baseline import BaselinePrediction
from hrm_core.serve.scanner import EngineOutput, Scanner
from tests.hrm_core.serve.scan_fixtures import TINY_MAX_LEN, SeedRulePolicy, digit_scanner, tiny_tokenizer


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _example(i: str, body: str, labels: dict, spans=(), annotated=None) -> object:
    return validate_example(
        {
            "id": i,
            "channel": "email",
            "user": {"role": "OTHER"},
            "body": body,
            "labels": labels,
            "spans": [{"type": t, "start": s, "end": e} for t, s, e in spans],
            "meta": {"source": "test", "annotated_types": annotated},
        }
    )


class FixedBaseline:
    """A baseline whose doc scores and spans are given per example id."""

    def __init__(self, scores: dict[str, float], spans: dict[str, list] | None = None) -> None:
        self.scores, self.spans = scores, spans or {}

    def predict(self, example) -> BaselinePrediction:
        s = self.scores.get(example.id, 0.0)
        return BaselinePrediction(
            doc_scores={"sensitivity": s, "exposure": s, "context": 0.5, "obfuscation": s},
            spans=self.spans.get(example.id, []),
        )


# The digit engine's sensitivity logit is (digit tokens - 3): 1, -1, 0, -3 and 2 below.
DOC_EXAMPLES = [
    _example("a1", "code 1234 here", {"sensitivity": 1}),
    _example("a2", "pin 12 x", {"sensitivity": 1}),
    _example("a3", "ref 123", {"sensitivity": 0}),
    _example("a4", "nothing", {"sensitivity": 0}),
    _example("a5", "extra 55555", {}),  # unlabeled: never scored
]
# Ranks a1+, a3-, a4-, a2+: both positives only at the lowest threshold, with both negatives flagged.
DOC_BASELINE = FixedBaseline({"a1": 0.9, "a2": 0.2, "a3": 0.6, "a4": 0.5, "a5": 0.99})


@pytest.fixture(scope="module")
def doc_report() -> dict:
    return evaluate(
        digit_scanner(),
        DOC_EXAMPLES,
        baseline=DOC_BASELINE,
        dataset_name="closed-form",
        thresholds={"sensitivity": 0.5},
        stability_n=3,
    )


def test_model_doc_metrics_in_closed_form(doc_report):
    m = doc_report["model"]["doc"]["sensitivity"]
    assert (m["n"], m["n_positive"]) == (4, 2)
    # Scores rank a1(+) > a3(-) > a2(+) > a4(-): AP = 1/2 * 1 + 1/2 * 2/3.
    assert m["auprc"] == pytest.approx(5 / 6)
    assert m["fp_at_95_recall"] == 0.5 and m["reached_95_recall"] is True
    # Calibrated threshold 0.5 flags a1 and a3 (sigmoid(0) = 0.5).
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    # Every score in its own ECE bin: mean |y - p| = (s(-1) + 0.5 + s(1) + s(-3)) / 4.
    assert m["ece"] == pytest.approx((1.5 + _sigmoid(-3)) / 4, abs=1e-6)
    assert doc_report["model"]["threshold_source"].startswith("validation")


def test_baseline_doc_metrics_and_fp_reduction(doc_report):
    b = doc_report["baseline_regex"]["doc"]["sensitivity"]
    assert b["auprc"] == pytest.approx(0.5 + 0.5 * 2 / 4)
    assert b["fp_at_95_recall"] == 1.0 and b["reached_95_recall"] is True
    # No validation thresholds: its 95%-recall threshold on this data (0.2) flags all four.
    assert b["threshold"] == 0.2
    assert (b["precision"], b["recall"], b["f1"]) == pytest.approx((0.5, 1.0, 2 / 3))
    assert doc_report["fp_at_95_recall_reduction"] == {"sensitivity": pytest.approx(0.5)}
    assert any("baseline_regex thresholds chosen on this dataset" in n for n in doc_report["notes"])
    assert not any(n.startswith("model thresholds") for n in doc_report["notes"])


def test_heads_the_dataset_never_labels_are_absent(doc_report):
    for method in ("model", "baseline_regex"):
        assert set(doc_report[method]["doc"]) == {"sensitivity"}
        assert set(doc_report["curves"][method]) == {"sensitivity"}
    assert set(doc_report["fp_at_95_recall_reduction"]) == {"sensitivity"}
    assert doc_report["dataset"] == {"name": "closed-form", "n": 5}


def test_report_is_strict_json_with_the_spec_keys(doc_report):
    text = json.dumps(doc_report, allow_nan=False)
    assert json.loads(text) == doc_report
    assert {"dataset", "model", "baseline_regex", "fp_at_95_recall_reduction", "timing", "notes"} <= set(
        doc_report
    )
    assert set(doc_report["model"]) >= {"doc", "spans", "stability"}
    assert doc_report["timing"]["model_examples_per_s"] > 0


def test_unreached_recall_reports_fp_one_and_a_note():
    # The baseline gives no score (NaN) to a2: that positive is never flagged, 95% recall is unreachable.
    baseline = FixedBaseline({"a1": 0.9, "a2": math.nan, "a3": 0.6, "a4": 0.5})
    report = evaluate(digit_scanner(), DOC_EXAMPLES[:4], baseline=baseline, dataset_name="x", stability_n=0)
    b = report["baseline_regex"]["doc"]["sensitivity"]
    assert b["fp_at_95_recall"] == 1.0 and b["reached_95_recall"] is False
    assert (
        "regex baseline never reaches 95% recall on sensitivity in x: FP@95R reported as 1.0"
        in report["notes"]
    )
    assert report["model"]["threshold_source"].startswith("this dataset")
    assert report["model"]["stability"] == {}


# ---------------------------------------------------------------------------- spans

SPAN_EXAMPLES = [
    _example("b1", "code 1234 here", {}, [("PAN", 5, 9)], ["PAN", "EMAIL"]),  # exact hit
    _example("b2", "pin 12345 x", {}, [("PAN", 4, 8)], ["PAN", "EMAIL"]),  # predicted 4..9: overlap only
    _example("b3", "ref 77", {}, [], ["EMAIL"]),  # PAN not annotated here: prediction ignored
    _example("b4", "mail bob@x.example", {}, [("EMAIL", 5, 18)], ["PAN", "EMAIL"]),  # model misses it
]


def test_span_metrics_exact_and_overlap_over_annotated_types_only():
    baseline = FixedBaseline({}, {"b4": [("EMAIL", 5, 18)], "b3": [("NAME", 0, 3)]})
    report = evaluate(digit_scanner(), SPAN_EXAMPLES, baseline=baseline, dataset_name="s", stability_n=0)
    exact, overlap = report["model"]["spans"]["exact"], report["model"]["spans"]["overlap"]
    assert set(exact["per_type"]) == set(overlap["per_type"]) == {"PAN", "EMAIL"}
    assert {k: exact["per_type"]["PAN"][k] for k in ("tp", "fp", "fn")} == {"tp": 1, "fp": 1, "fn": 1}
    assert (exact["micro"]["precision"], exact["micro"]["recall"]) == pytest.approx((0.5, 1 / 3))
    assert {k: overlap["per_type"]["PAN"][k] for k in ("tp", "fp", "fn")} == {"tp": 2, "fp": 0, "fn": 0}
    assert (overlap["micro"]["precision"], overlap["micro"]["recall"]) == pytest.approx((1.0, 2 / 3))
    base = report["baseline_regex"]["spans"]["overlap"]
    assert base["per_type"]["EMAIL"]["f1"] == 1.0 and base["per_type"]["PAN"]["fn"] == 2
    assert base["micro"]["fp"] == 0  # its NAME span is of a type nobody annotates
    assert report["model"]["doc"] == {} and report["fp_at_95_recall_reduction"] == {}


def test_dataset_without_span_annotations_has_no_span_metrics():
    examples = [_example("c1", "this agreement 99", {"sensitivity": 1}, annotated=[])]
    report = evaluate(
        digit_scanner(), examples, baseline=FixedBaseline({}), dataset_name="nda", stability_n=0
    )
    assert report["model"]["spans"] == {} and report["baseline_regex"]["spans"] == {}
    assert SPANS_NOT_ANNOTATED_NOTE in report["notes"]
    assert any("has no negatives" in n for n in report["notes"])


def test_long_document_is_windowed_not_truncated():
    words = " ".join(NEUTRAL_SENTENCES * 2)
    body = f"{words} card 4321 end"
    start = body.index("4321")
    scanner = digit_scanner()
    assert len(scanner.tokenizer.encode(body)[0]) > 3 * TINY_MAX_LEN  # the card sits windows past the first
    example = _example("long", body, {"sensitivity": 1}, [("PAN", start, start + 4)])
    report = evaluate(scanner, [example], baseline=FixedBaseline({}), dataset_name="long", stability_n=0)
    pan = report["model"]["spans"]["exact"]["per_type"]["PAN"]
    assert (pan["tp"], pan["fp"], pan["fn"]) == (1, 0, 0)


# ---------------------------------------------------------------------------- stability


class WindowFullEngine:
    """Scores a window as sensitive and outgoing only when it is a full window: length decides."""

    name = "length"
    fixed_batch: int | None = None
    fixed_len: int | None = None

    def run(self, input_ids, attention_mask, memory_seed) -> EngineOutput:
        B, T = input_ids.shape
        full = attention_mask.sum(1) >= TINY_MAX_LEN  # [B]
        z = np.where(full, 10.0, -10.0).astype(np.float32)
        doc = np.stack([z, z, np.zeros(B, np.float32), np.zeros(B, np.float32)], axis=1)  # [B, 4]
        span = np.full((B, T, 21), -5.0, dtype=np.float32)
        span[:, :, TAG_TO_ID["O"]] = 5.0
        return EngineOutput(doc, span, memory_seed.astype(np.float32))


def test_neutral_text_is_long_enough_and_has_nothing_sensitive():
    tok = tiny_tokenizer()
    text = neutral_text(tok)
    assert len(tok.encode(text)[0]) >= 200
    assert not any(c.isdigit() or c == "@" for c in text)
    assert text == neutral_text(tok)


def test_deterministic_scanner_is_fully_stable(doc_report):
    stab = doc_report["model"]["stability"]
    assert stab["n"] == 3 and stab["neutral_tokens"] >= 200
    assert stab["decision_consistency"] == stab["prepend"] == stab["append"] == 1.0
    assert stab["sensitivity_mean_abs_shift"] == 0.0  # neutral text has no digits: same scores


def test_length_sensitive_scanner_is_unstable():
    tok = tiny_tokenizer()
    # Windows of whole TINY_MAX_LEN segments: a long message's windows are all full, a short one is not.
    scanner = Scanner(
        WindowFullEngine(), tok, SeedRulePolicy(), max_len=TINY_MAX_LEN, window_multiple=TINY_MAX_LEN
    )
    examples = [_example(f"d{i}", f"short note {i}", {"sensitivity": i % 2}) for i in range(6)]
    report = evaluate(scanner, examples, baseline=FixedBaseline({}), dataset_name="d", stability_n=4, seed=1)
    stab = report["model"]["stability"]
    assert stab["n"] == 4
    assert stab["prepend"] == stab["append"] == stab["decision_consistency"] == 0.0


def test_baseline_thresholds_on_validation_are_used():
    thresholds = baseline_thresholds_on(DOC_EXAMPLES, DOC_BASELINE)
    assert thresholds == {"sensitivity": 0.2}
    report = evaluate(
        digit_scanner(),
        DOC_EXAMPLES,
        baseline=DOC_BASELINE,
        dataset_name="v",
        thresholds={"sensitivity": 0.5},
        baseline_thresholds={"sensitivity": 0.55},
        stability_n=0,
    )
    b = report["baseline_regex"]["doc"]["sensitivity"]
    assert (b["precision"], b["recall"]) == pytest.approx((0.5, 0.5))  # flags a1 (+) and a3 (-)
    assert report["baseline_regex"]["threshold_source"] == "validation"
    assert not any("thresholds chosen on this dataset" in n for n in report["notes"])


def test_the_span_floor_is_fitted_on_what_the_scanner_serves_with_no_floor():
    body = "card 4111 and room 1212"  # the digit engine tags each digit run as a PAN
    val = [
        _example("a", body, {"sensitivity": 1}, spans=[("PAN", 5, 9)]),
        _example("b", "see 7777 now", {"sensitivity": 0}),
    ]
    unfloored = [scored_body_spans(r) for r in scan_examples(digit_scanner(), val)]
    assert unfloored[1] and all(s[3] > 0.99 for d in unfloored for s in d)  # digit runs, all sure
    scanner = digit_scanner(span_min_score=0.9999)  # serves nothing: the fit must not see this floor
    assert not any(scored_body_spans(r) for r in scan_examples(scanner, val))
    floor, table = fit_served_span_floor(scanner, val)
    assert scanner.span_min_score == 0.9999  # left as it was
    assert table == fit_span_min_score(
        [[("PAN", 5, 9)], []], unfloored, [list(SPAN_TYPES)] * 2
    )[1]  # fmt: skip
    assert table["0.0"] == pytest.approx(0.5)  # 1 TP ("4111"), 2 FP ("1212", "7777")
    assert floor == 0.0 and set(table.values()) == {table["0.0"]}  # same spans at every floor: the lowest


def test_served_auprc_scores_context_with_the_workflow_veto_and_without():
    # The digit engine: every digit run a PAN scored > 0.99, context logit 0 (0.5) for every message.
    card = "card 4111111111111111 for the refund"

    def ex(i: str, role: str, body: str, labels: dict) -> object:
        return validate_example(
            {"id": i, "channel": "email", "user": {"role": role}, "recipients": ["ops@acme.example"],
             "body": body, "labels": labels, "meta": {"org_domains": ["acme.example"]}}
        )  # fmt: skip

    examples = [
        ex("finance", "FINANCE", card, {"sensitivity": 1, "context": 1}),  # a card number is finance's job
        ex("eng", "ENG", card, {"sensitivity": 1, "context": 0}),  # and not engineering's
        ex("hello", "ENG", "hello there", {"sensitivity": 0, "context": 1}),
        ex("eng2", "ENG", "ping me", {"sensitivity": 0, "context": 0}),  # a label the veto cannot see
    ]
    scanner = digit_scanner()
    out = served_auprc(scanner, examples)
    assert set(out) == {"sensitivity", "context", "context_model"}  # exposure, obfuscation: unlabelled
    assert out["sensitivity"] == 1.0
    assert out["context_model"] == 0.5  # four ties at 0.5: the positive rate
    # Vetoed, "eng" drops to 1 - its PAN's score; "eng2" keeps 0.5 and ties the two positives: AP 2/3.
    assert out["context"] == pytest.approx(2 / 3, abs=1e-4)
    assert scanner.workflow_veto  # left as it was
    alone = served_auprc(digit_scanner(workflow_veto=False), examples)  # serves the head: so scored
    assert alone["context"] == alone["context_model"] == 0.5
