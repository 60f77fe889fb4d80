import json

import pytest

from hrm_core.release.champion import (
    GateDecision,
    GateRefused,
    current_champion,
    dev_set_metrics,
    gate_decision,
    promote,
    rollback,
)


def _side(fp, f1):
    return {"doc": {"sensitivity": {"fp_at_95_recall": fp}}, "spans": {"exact": {"micro": {"f1": f1}}}}


def _report(model, baseline=(0.5, 0.6)):
    return {"model": _side(*model), "baseline_regex": _side(*baseline)}


def _bundle(tmp_path, name, version=None):
    d = tmp_path / "bundles" / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"model_version": version or name}))
    return d


def _yes(bundle, champion=None):
    return gate_decision(_report((0.10, 0.90))).for_bundle(bundle, champion)


def _dev(sens=None, spans=None, regex_sens=None, regex_spans=None, n=20):
    """A dev-set report: sensitivity (n, n_positive, fp, recall) and exact span F1 per side; None = unlabeled."""

    def side(s, f1):
        doc = (
            {}
            if s is None
            else {"sensitivity": {"n": s[0], "n_positive": s[1], "fp_at_95_recall": s[2], "recall": s[3]}}
        )
        return {"doc": doc, "spans": {} if f1 is None else {"exact": {"micro": {"f1": f1}}}}

    return {
        "dataset": {"name": "dev", "n": n},
        "model": side(sens, spans),
        "baseline_regex": side(regex_sens, regex_spans),
    }


def test_first_model_must_beat_regex():
    assert gate_decision(_report((0.10, 0.90))).promote
    d = gate_decision(_report((0.60, 0.90)))
    assert not d.promote and d.against == "regex_baseline" and "FP@95R" in d.reason
    d = gate_decision(_report((0.10, 0.50)))
    assert not d.promote and "span F1" in d.reason


def test_challenger_vs_champion_with_tolerance():
    champ = _report((0.10, 0.90))
    assert gate_decision(_report((0.104, 0.896)), champ, 0.005, 0.005).promote  # within tolerance
    d = gate_decision(_report((0.12, 0.95)), champ, 0.005, 0.005)
    assert not d.promote and d.reference["sensitivity_fp_at_95_recall"] == 0.10
    # A missing FP@95R (head not labeled) counts as the worst value, never as a free pass.
    assert (
        gate_decision({"model": {"doc": {}, "spans": {}}, "baseline_regex": _side(0.5, 0.1)}).promote is False
    )


def test_dev_set_metrics_follow_what_the_set_labels():
    both = _dev(sens=(20, 15, 0.2, 0.9), regex_sens=(20, 15, 0.4, 0.8))
    assert dev_set_metrics(both) == {"sensitivity_fp_at_95_recall": 0.2}
    assert dev_set_metrics(both, "baseline_regex") == {"sensitivity_fp_at_95_recall": 0.4}
    # Every example positive (contractnli): FP@95R is 0 by definition, recall at the threshold decides.
    only_pos = _dev(sens=(20, 20, 0.0, 0.75), regex_sens=(20, 20, 0.0, 1.0))
    assert dev_set_metrics(only_pos) == {"sensitivity_recall": 0.75}
    # Spans only (presidio); a missing F1 on one side is the worst value.
    spans = _dev(spans=0.4, regex_spans=None)
    assert dev_set_metrics(spans) == {"span_micro_f1": 0.4}
    assert dev_set_metrics(spans, "baseline_regex") == {"span_micro_f1": 0.0}


def test_first_model_must_not_lose_to_regex_on_a_dev_set():
    dev = {
        "noseyparker": _dev(sens=(100, 75, 0.20, 0.9), regex_sens=(100, 75, 0.30, 0.9), n=100),
        "presidio": _dev(spans=0.50, regex_spans=0.52, n=100),  # within 0.05
    }
    d = gate_decision(_report((0.10, 0.90)), dev_reports=dev, dev_tolerance=0.05)
    assert d.promote and "no worse on noseyparker and presidio" in d.reason
    assert d.dev_sets["presidio"]["metrics"]["span_micro_f1"] == {
        "challenger": 0.5,
        "reference": 0.52,
        "ok": True,
    }
    dev["contractnli"] = _dev(sens=(20, 20, 0.0, 0.60), regex_sens=(20, 20, 0.0, 0.95))
    d = gate_decision(_report((0.10, 0.90)), dev_reports=dev, dev_tolerance=0.05)
    assert not d.promote and d.dev_sets["contractnli"] == {
        "against": "regex_baseline", "n": 20, "ok": False,
        "metrics": {"sensitivity_recall": {"challenger": 0.6, "reference": 0.95, "ok": False}},
    }  # fmt: skip
    assert (
        d.reason
        == "first model beats the regex baseline on the test split but is worse on contractnli recall (dev sets)"
    )
    assert "contractnli (n=20) | recall | 0.6000 | 0.9500 (regex_baseline) ✗" in d.markdown()


def test_with_a_champion_dev_sets_compare_with_the_champion_on_the_same_sample():
    champ = _report((0.10, 0.90))
    mine = {"noseyparker": _dev(sens=(100, 75, 0.20, 0.9), regex_sens=(100, 75, 0.90, 0.9))}
    theirs = {"noseyparker": _dev(sens=(100, 75, 0.10, 0.9), regex_sens=(100, 75, 0.90, 0.9))}
    d = gate_decision(
        _report((0.10, 0.90)), champ, dev_reports=mine, champion_dev_reports=theirs, dev_tolerance=0.05
    )
    assert not d.promote and d.dev_sets["noseyparker"]["against"] == "champion"
    assert "worse on noseyparker FP@95R" in d.reason
    d = gate_decision(
        _report((0.10, 0.90)), champ, dev_reports=mine, champion_dev_reports=theirs, dev_tolerance=0.1
    )
    assert d.promote


def test_promotion_is_a_link_switch_with_rollback(tmp_path):
    models = tmp_path
    a, b = _bundle(tmp_path, "a"), _bundle(tmp_path, "b")
    assert current_champion(models) is None
    promote(models, a, _yes(a))
    assert current_champion(models) == a.resolve()
    assert json.loads((models / "champion" / "config.json").read_text())["model_version"] == "a"
    promote(models, b, _yes(b, champion=a))
    assert current_champion(models) == b.resolve()
    assert (models / "champion_previous").resolve() == a.resolve()
    assert rollback(models) == a.resolve()
    assert current_champion(models) == a.resolve() and (models / "champion_previous").resolve() == b.resolve()
    history = [json.loads(x) for x in (models / "champion_history.jsonl").read_text().splitlines()]
    assert [h["champion"].rsplit("/", 1)[1] for h in history] == ["a", "b"]
    assert history[1]["decision"]["model_version"] == "b" and history[1]["decision"]["champion"] == str(
        a.resolve()
    )
    assert not list(models.glob(".champion*.tmp"))  # no temp link left behind


def test_promote_refuses_a_decision_that_says_no(tmp_path):
    a = _bundle(tmp_path, "a")
    refused = gate_decision(_report((0.60, 0.90))).for_bundle(a, None)
    with pytest.raises(
        GateRefused, match="gate refused a: first model does not beat the regex baseline on FP@95R"
    ):
        promote(tmp_path, a, refused)
    with pytest.raises(TypeError):
        promote(tmp_path, a)  # type: ignore[call-arg]  # no decision, no promotion
    assert current_champion(tmp_path) is None and not (tmp_path / "champion_history.jsonl").exists()


def test_promote_refuses_a_decision_about_another_bundle_or_champion(tmp_path):
    a, b = _bundle(tmp_path, "a"), _bundle(tmp_path, "b")
    with pytest.raises(GateRefused, match=r"decision is about .*/a, not .*/b"):
        promote(tmp_path, b, _yes(a))
    with pytest.raises(GateRefused, match="no bundle"):
        promote(tmp_path, a, gate_decision(_report((0.10, 0.90))))  # never tied to a bundle
    stale = _yes(a)
    (a / "config.json").write_text(json.dumps({"model_version": "a2"}))  # bundle rewritten after the gate
    with pytest.raises(GateRefused, match="a is model a2, but the gate decided on model a"):
        promote(tmp_path, a, stale)
    promote(tmp_path, b, _yes(b))
    with pytest.raises(GateRefused, match="champion changed since the gate decided"):
        promote(tmp_path, a, _yes(a))  # decided with no champion; b has been promoted since
    assert current_champion(tmp_path) == b.resolve()


def test_a_decision_round_trips_through_json(tmp_path):
    a = _bundle(tmp_path, "a")
    d = _yes(a)
    assert GateDecision.from_dict(json.loads(json.dumps(d.as_dict()))) == d
    assert d.summary() == "promote: first model beats the regex baseline"


def test_promote_refuses_a_non_bundle(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError):
        promote(tmp_path, tmp_path / "empty", GateDecision(True, "by hand", "manual", {}, {}))
