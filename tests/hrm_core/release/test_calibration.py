import json
import math

import numpy as np
import pytest

from hrm_core.data.contract import DOC_HEADS
from hrm_core.model.metrics import expected_calibration_error, threshold_for_recall
from hrm_core.release.calibration import (
    T_MAX,
    T_MIN,
    TemperatureCalibrator,
    fit_span_min_score,
    fit_temperature,
    plot_reliability,
    reliability_bins,
    sigmoid,
)


def _calibrated_data(n: int, scales: tuple[float, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from sigmoid(z); the model's logits are z * scale (scale 2 = twice over-confident)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, size=(n, len(scales)))
    y = (rng.random((n, len(scales))) < sigmoid(z)).astype(float)
    return z * np.asarray(scales), y


def test_twice_over_confident_logits_give_temperature_two_and_lower_ece():
    logits, labels = _calibrated_data(20000, (2.0, 0.5, 1.0, 3.0))
    cal = TemperatureCalibrator().fit(logits, labels)
    np.testing.assert_allclose(cal.temperatures, [2.0, 0.5, 1.0, 3.0], rtol=0.06)
    for head in ("sensitivity", "exposure", "obfuscation"):  # the miscalibrated ones
        c = cal.per_head[head]
        assert c.ece_after < c.ece_before / 2
        assert c.ece_after < 0.02
    # Already calibrated: T stays ~1 and ECE barely moves.
    assert abs(cal.per_head["context"].ece_after - cal.per_head["context"].ece_before) < 0.01


def test_apply_divides_by_temperature():
    cal = TemperatureCalibrator().fit(*_calibrated_data(4000, (2.0, 2.0, 2.0, 2.0)))
    probs = cal.apply([[4.0, 0.0, -4.0, 8.0]])
    expected = sigmoid(np.array([4.0, 0.0, -4.0, 8.0]) / cal.temperatures)
    np.testing.assert_allclose(probs[0], expected)
    assert probs[0, 1] == pytest.approx(0.5)


def test_null_labels_are_ignored():
    logits, labels = _calibrated_data(8000, (2.0, 2.0, 2.0, 2.0))
    clean = TemperatureCalibrator().fit(logits, labels)
    # Append rows whose labels are null but whose logits would wreck the fit if they were used.
    junk_logits = np.full((3000, 4), 30.0)
    junk_labels = np.full((3000, 4), -1.0)
    junk_labels[::2, 1] = np.nan
    noisy = TemperatureCalibrator().fit(np.vstack([logits, junk_logits]), np.vstack([labels, junk_labels]))
    np.testing.assert_allclose(noisy.temperatures, clean.temperatures)
    assert noisy.per_head["sensitivity"].n_labeled == 8000


def test_threshold_reaches_95_percent_recall_on_calibrated_probs():
    logits, labels = _calibrated_data(5000, (2.0, 1.0, 1.0, 1.0), seed=3)
    cal = TemperatureCalibrator().fit(logits, labels)
    probs = cal.apply(logits)
    thr = cal.thresholds()["sensitivity"]
    assert thr == pytest.approx(threshold_for_recall(labels[:, 0], probs[:, 0], 0.95))
    pos = labels[:, 0] == 1
    recall = float(np.mean(probs[pos, 0] >= thr))
    assert 0.95 <= recall < 0.96


def test_head_without_labels_or_positives():
    logits, labels = _calibrated_data(1000, (1.0, 1.0, 1.0, 1.0))
    labels[:, 2] = -1  # context unlabeled
    labels[:, 3] = 0  # obfuscation: no positive
    cal = TemperatureCalibrator().fit(logits, labels)
    ctx, obf = cal.per_head["context"], cal.per_head["obfuscation"]
    assert ctx.temperature == 1.0 and ctx.n_labeled == 0 and ctx.ece_before is None
    assert obf.threshold is None and cal.thresholds()["obfuscation"] == math.inf


def test_temperature_is_clipped():
    z = np.array([5.0, 6.0, -5.0, -6.0])
    assert fit_temperature(z, np.array([1.0, 1.0, 0.0, 0.0])) == pytest.approx(T_MIN, rel=1e-3)
    assert fit_temperature(z, np.array([0.0, 1.0, 1.0, 0.0])) == pytest.approx(T_MAX, rel=1e-3)


def test_json_round_trip(tmp_path):
    logits, labels = _calibrated_data(2000, (2.0, 1.0, 0.5, 1.0))
    labels[:, 3] = 0
    cal = TemperatureCalibrator().fit(logits, labels)
    path = cal.save(tmp_path / "calibration.json")
    doc = json.loads(path.read_text())
    assert doc["format"] == "hrm-dlp.calibration/1" and list(doc["heads"]) == list(DOC_HEADS)
    assert doc["heads"]["obfuscation"]["threshold"] is None
    back = TemperatureCalibrator.load(path)
    np.testing.assert_array_equal(back.temperatures, cal.temperatures)
    assert back.report() == cal.report()
    np.testing.assert_array_equal(back.apply(logits), cal.apply(logits))
    with pytest.raises(ValueError, match="format"):
        TemperatureCalibrator.from_dict({"format": "other"})


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        TemperatureCalibrator().fit(np.zeros((5, 3)), np.zeros((5, 3)))


def test_reliability_bins_match_ece(tmp_path):
    logits, labels = _calibrated_data(3000, (2.0, 1.0, 1.0, 1.0))
    p, y = sigmoid(logits[:, 0]), labels[:, 0]
    conf, rate, count = reliability_bins(y, p, 15)
    assert count.sum() == 3000
    ok = count > 0
    ece = float(np.sum(count[ok] / 3000 * np.abs(rate[ok] - conf[ok])))
    assert ece == pytest.approx(expected_calibration_error(y, p, 15))
    cal = TemperatureCalibrator().fit(logits, labels)
    png = plot_reliability(logits, labels, cal, tmp_path / "plots" / "reliability.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_span_floor_table_holds_the_validation_exact_f1_at_every_floor():
    gold = [[("PAN", 0, 19)], [("EMAIL", 5, 20)], []]
    predicted = [
        [("PAN", 0, 19, 0.95), ("PHONE", 30, 34, 0.35)],  # a value and a weak four-digit fragment
        [("EMAIL", 5, 20, 0.62)],
        [("NAME", 0, 5, 0.45)],  # a capitalised word the model half believes in
    ]
    floor, table = fit_span_min_score(gold, predicted)
    # 0.0-0.3: 2 TP, 2 FP -> F1 2/3; 0.4: 2 TP, 1 FP -> 0.8; 0.5-0.6: 2 TP -> 1.0; 0.7-0.9: 1 TP, 1 FN -> 2/3.
    assert table["0.3"] == pytest.approx(2 / 3) and table["0.4"] == pytest.approx(0.8)
    assert table["0.5"] == table["0.6"] == 1.0 and table["0.7"] == pytest.approx(2 / 3)
    # Even on three messages 0.2 and 0.33 of F1 are more than one standard error of the difference.
    assert floor == 0.5
    # A type the document does not annotate is neither rewarded nor penalised.
    floor, table = fit_span_min_score(gold, predicted, [["PAN", "EMAIL"], ["EMAIL"], ["PAN"]])
    assert table["0.0"] == table["0.6"] == 1.0 and floor == 0.0


def _floor_case(n_docs: int, weak_hits: int, weak_misses: int) -> tuple[list, list]:
    """`n_docs` messages with one card each, found at 0.95, except `weak_hits` found only at 0.35; and
    `weak_misses` other messages with a wrong 0.35 span besides their card."""
    gold = [[("PAN", 0, 19)] for _ in range(n_docs)]
    predicted = [[("PAN", 0, 19, 0.35 if i < weak_hits else 0.95)] for i in range(n_docs)]
    for i in range(weak_hits, weak_hits + weak_misses):
        predicted[i].append(("PHONE", 30, 34, 0.35))
    return gold, predicted


def test_span_floor_is_the_lowest_within_one_standard_error_of_the_best():
    # 200 messages; below 0.4 the model adds 3 cards and 4 wrong spans: F1 0.9901 against 0.9924 at 0.4+,
    # a difference (0.0023) below its bootstrap standard error (0.0062): validation cannot tell them
    # apart, so the floor keeps the recall.
    floor, table = fit_span_min_score(*_floor_case(200, 3, 4))
    assert table["0.3"] == pytest.approx(400 / 404) and table["0.4"] == pytest.approx(394 / 397)
    assert floor == 0.0
    # 40 wrong spans against 3 cards: F1 0.9091, 0.083 below, against a standard error of 0.011; the best wins.
    floor, table = fit_span_min_score(*_floor_case(200, 3, 40))
    assert table["0.3"] == pytest.approx(400 / 440) and floor == 0.4
    # The same spans give the same floor (the bootstrap is seeded).
    assert fit_span_min_score(*_floor_case(200, 3, 8)) == fit_span_min_score(*_floor_case(200, 3, 8))


def test_span_floor_round_trips_and_older_documents_serve_every_span(tmp_path):
    logits, labels = _calibrated_data(500, (1.0, 1.0, 1.0, 1.0))
    chosen = fit_span_min_score([[("SSN", 3, 14)]], [[("SSN", 3, 14, 0.9)]])
    cal = TemperatureCalibrator().fit(logits, labels).with_span_floor(*chosen)
    assert cal.span_min_score == 0.0 and set(cal.span_exact_f1.values()) == {1.0}
    back = TemperatureCalibrator.load(cal.save(tmp_path / "calibration.json"))
    assert (back.span_min_score, back.span_exact_f1) == (cal.span_min_score, cal.span_exact_f1)
    cal.span_min_score = 0.7
    assert TemperatureCalibrator.load(cal.save(tmp_path / "c2.json")).span_min_score == 0.7
    older = TemperatureCalibrator().fit(logits, labels).to_dict()
    assert "spans" not in older and TemperatureCalibrator.from_dict(older).span_min_score == 0.0
    assert "served_auprc" not in older and TemperatureCalibrator.from_dict(older).served_auprc == {}
    served = {"context": 0.97, "context_model": 0.93}
    cal.with_served_auprc(served)
    assert TemperatureCalibrator.load(cal.save(tmp_path / "c3.json")).served_auprc == served
