"""Metrics against closed-form cases worked by hand and against brute-force reference loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hrm_core.model.metrics import (
    auprc,
    doc_head_report,
    expected_calibration_error,
    fp_rate_at_recall,
    operating_point_at_recall,
    pr_curve,
    precision_recall_f1_at,
    span_prf,
    threshold_for_recall,
)

# sklearn's documented example: average_precision_score -> 0.8333..., precision_recall_curve below.
Y_DOC = [0, 0, 1, 1]
S_DOC = [0.1, 0.4, 0.35, 0.8]


def test_auprc_matches_sklearn_documented_example():
    assert auprc(Y_DOC, S_DOC) == pytest.approx(5 / 6)


def test_pr_curve_matches_sklearn_documented_example():
    precision, recall, thresholds = pr_curve(Y_DOC, S_DOC)
    np.testing.assert_allclose(precision, [0.5, 2 / 3, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(recall, [1.0, 1.0, 0.5, 0.5, 0.0])
    np.testing.assert_allclose(thresholds, [0.1, 0.35, 0.4, 0.8])


def test_auprc_ties_are_one_step():
    # All scores tied: one operating point, precision 2/4 at recall 1.
    assert auprc([1, 0, 1, 0], [0.5] * 4) == pytest.approx(0.5)


def test_auprc_single_class_and_empty():
    assert auprc([0, 0, 0], [0.2, 0.5, 0.9]) == 0.0
    assert auprc([1, 1], [0.2, 0.9]) == 1.0
    assert math.isnan(auprc([], []))
    assert math.isnan(auprc([None, float("nan")], [0.1, 0.2]))


def _brute_ap(y, s):
    """sum over positives ranked by score of precision at that positive's threshold (ties grouped)."""
    n_pos = sum(y)
    total = 0.0
    for t in sorted(set(s), reverse=True):
        tp = sum(1 for yi, si in zip(y, s, strict=True) if si >= t and yi == 1)
        flagged = sum(1 for si in s if si >= t)
        new_pos = sum(1 for yi, si in zip(y, s, strict=True) if si == t and yi == 1)
        total += new_pos / n_pos * tp / flagged
    return total


def _brute_fp_at_recall(y, s, target):
    n_pos, n_neg = sum(y), len(y) - sum(y)
    for t in sorted(set(s), reverse=True):
        tp = sum(1 for yi, si in zip(y, s, strict=True) if si >= t and yi == 1)
        if tp >= target * n_pos - 1e-9:
            return sum(1 for yi, si in zip(y, s, strict=True) if si >= t and yi == 0) / n_neg
    return 1.0


def test_auprc_and_fp_rate_match_brute_force_on_random_data():
    rng = np.random.default_rng(7)
    for _ in range(20):
        y = rng.integers(0, 2, size=40).tolist()
        y[0], y[1] = 0, 1
        s = np.round(rng.random(40), 1).tolist()  # rounding makes ties common
        assert auprc(y, s) == pytest.approx(_brute_ap(y, s))
        assert fp_rate_at_recall(y, s, 0.95) == pytest.approx(_brute_fp_at_recall(y, s, 0.95))
        assert fp_rate_at_recall(y, s, 0.5) == pytest.approx(_brute_fp_at_recall(y, s, 0.5))


def _twenty_positive_case():
    pos = [round(0.81 + i / 100, 2) for i in range(20)]  # 0.81 .. 1.00
    neg = [0.9, 0.85, 0.81, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.0]
    return [1] * 20 + [0] * 10, pos + neg


def test_fp_rate_at_95_recall_closed_form():
    y, s = _twenty_positive_case()
    # 19 of 20 positives need threshold 0.82; negatives at 0.9 and 0.85 are flagged -> 2/10.
    op = operating_point_at_recall(y, s, 0.95)
    assert op.threshold == pytest.approx(0.82)
    assert op.recall == pytest.approx(0.95)
    assert op.fp_rate == pytest.approx(0.2)
    assert op.reached
    assert fp_rate_at_recall(y, s) == pytest.approx(0.2)
    assert threshold_for_recall(y, s) == pytest.approx(0.82)
    # Full recall: threshold 0.81 also flags the negative at 0.81 -> 3/10.
    assert fp_rate_at_recall(y, s, 1.0) == pytest.approx(0.3)


def test_fp_rate_unreachable_when_positives_are_unscored():
    y, s = _twenty_positive_case()
    s[0] = s[1] = float("nan")  # 18/20 = 90 % recall at best
    op = operating_point_at_recall(y, s, 0.95)
    assert not op.reached
    assert op.fp_rate == 1.0
    assert op.recall == pytest.approx(0.9)
    assert threshold_for_recall(y, s) == -math.inf


def test_fp_rate_single_class():
    assert fp_rate_at_recall([1, 1, 1], [0.1, 0.5, 0.9]) == 0.0  # no negatives to flag
    assert fp_rate_at_recall([0, 0], [0.1, 0.5]) == 0.0  # no positives: flag nothing
    assert threshold_for_recall([0, 0], [0.1, 0.5]) == math.inf
    assert math.isnan(fp_rate_at_recall([], []))


def test_precision_recall_f1_at_threshold():
    out = precision_recall_f1_at([1, 1, 0, 0, 1], [0.9, 0.4, 0.6, 0.1, 0.7], 0.5)
    assert (out["tp"], out["fp"], out["fn"], out["tn"]) == (2, 1, 1, 1)
    assert out["precision"] == pytest.approx(2 / 3)
    assert out["recall"] == pytest.approx(2 / 3)
    assert out["f1"] == pytest.approx(2 / 3)
    nothing = precision_recall_f1_at([1, 0], [0.1, 0.2], 0.9)
    assert nothing["precision"] == 0.0 and nothing["f1"] == 0.0


def test_ece_closed_form():
    # Bin (1/15, 2/15]: p 0.1, accuracy 0.5 -> 0.4 * 2/4; bin (13/15, 14/15]: p 0.9, acc 1 -> 0.1 * 2/4.
    assert expected_calibration_error([0, 1, 1, 1], [0.1, 0.1, 0.9, 0.9]) == pytest.approx(0.25)
    assert expected_calibration_error([0, 1, 0, 1], [0.5] * 4) == pytest.approx(0.0)
    # Boundary: 0.0 goes to the first bin and 1.0 to the last; both perfectly calibrated here.
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == pytest.approx(0.0)
    assert expected_calibration_error([1], [0.2], n_bins=1) == pytest.approx(0.8)
    assert math.isnan(expected_calibration_error([], []))


def test_doc_head_report_drops_unlabeled_rows():
    rep = doc_head_report([1, None, 0, 1, None], [0.9, 0.99, 0.2, 0.6, 0.0], threshold=0.5)
    assert rep is not None
    assert rep["n"] == 3 and rep["n_positive"] == 2
    assert rep["auprc"] == pytest.approx(1.0)
    assert rep["fp_at_95_recall"] == 0.0 and rep["reached_95_recall"]
    assert (rep["precision"], rep["recall"], rep["f1"]) == (1.0, 1.0, 1.0)
    # ECE: bins of 0.2 (y 0), 0.6 (y 1), 0.9 (y 1) -> (0.2 + 0.4 + 0.1) / 3.
    assert rep["ece"] == pytest.approx(0.7 / 3)
    assert doc_head_report([None, None], [0.1, 0.2], 0.5) is None
    assert doc_head_report([], [], 0.5) is None


def test_doc_head_report_without_threshold_uses_95_recall_point():
    y, s = _twenty_positive_case()
    rep = doc_head_report(y, s)
    assert rep["threshold"] == pytest.approx(0.82)
    assert rep["recall"] == pytest.approx(0.95)
    assert rep["precision"] == pytest.approx(19 / 21)


def test_bad_labels_rejected():
    with pytest.raises(ValueError):
        auprc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError):
        auprc([0, 1], [0.1])


TYPES = ("EMAIL", "PHONE", "PAN", "SECRET")


def test_span_prf_exact_closed_form():
    gold = [[("EMAIL", 0, 10), ("PHONE", 20, 32)], [("PAN", 5, 21)]]
    pred = [[("EMAIL", 0, 10), ("PHONE", 21, 32)], [("PAN", 5, 21), ("EMAIL", 30, 40)]]
    out = span_prf(gold, pred, TYPES, "exact")
    # tp: EMAIL, PAN; fp: PHONE (boundary off), EMAIL (doc 2); fn: PHONE.
    assert (out["micro"]["tp"], out["micro"]["fp"], out["micro"]["fn"]) == (2, 2, 1)
    assert out["micro"]["precision"] == pytest.approx(0.5)
    assert out["micro"]["recall"] == pytest.approx(2 / 3)
    assert out["micro"]["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert out["per_type"]["EMAIL"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
        "tp": 1,
        "fp": 1,
        "fn": 0,
    }
    assert out["per_type"]["PHONE"]["f1"] == 0.0
    # Every type is annotated everywhere (scored_types None): SECRET is present with zero counts.
    assert out["per_type"]["SECRET"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "tp": 0,
        "fp": 0,
        "fn": 0,
    }


def test_span_prf_overlap_matches_each_gold_once():
    gold = [[("NAME", 0, 10), ("NAME", 20, 30)]]
    # Two predictions overlap the first gold: one tp, one fp. One prediction straddles both golds: it
    # can match only one, so the second gold, if left, would be a miss.
    pred = [[("NAME", 2, 5), ("NAME", 6, 9), ("NAME", 25, 40), ("EMAIL", 0, 10)]]
    out = span_prf(gold, pred, ("NAME", "EMAIL"), "overlap")
    assert out["per_type"]["NAME"]["tp"] == 2
    assert out["per_type"]["NAME"]["fp"] == 1
    assert out["per_type"]["NAME"]["fn"] == 0
    assert out["per_type"]["EMAIL"]["fp"] == 1
    straddle = span_prf([[("NAME", 0, 10), ("NAME", 12, 20)]], [[("NAME", 5, 15)]], ("NAME",), "overlap")
    assert (straddle["micro"]["tp"], straddle["micro"]["fp"], straddle["micro"]["fn"]) == (1, 0, 1)
    # Touching is not overlapping: end is exclusive.
    touch = span_prf([[("NAME", 0, 10)]], [[("NAME", 10, 12)]], ("NAME",), "overlap")
    assert touch["micro"]["tp"] == 0 and touch["micro"]["fp"] == 1


def test_span_prf_ignores_types_a_document_does_not_annotate():
    gold = [[("EMAIL", 0, 10)], [("PHONE", 0, 12)]]
    pred = [[("EMAIL", 0, 10), ("SECRET", 20, 30)], [("PHONE", 0, 12), ("SECRET", 20, 30)]]
    out = span_prf(gold, pred, TYPES, "exact", scored_types=[{"EMAIL"}, {"PHONE", "EMAIL"}])
    assert out["micro"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "tp": 2, "fp": 0, "fn": 0}
    assert set(out["per_type"]) == {"EMAIL", "PHONE"}  # PAN, SECRET: no document annotates them


def test_span_prf_empty_and_mismatched():
    out = span_prf([], [], TYPES, "exact", scored_types=[])
    assert out["per_type"] == {} and out["micro"]["f1"] == 0.0
    with pytest.raises(ValueError):
        span_prf([[]], [], TYPES)
    with pytest.raises(ValueError):
        span_prf([[]], [[]], TYPES, match="fuzzy")  # type: ignore[arg-type]
