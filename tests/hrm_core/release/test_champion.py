import json

import pytest

from hrm_core.release.champion import current_champion, gate_decision, promote, rollback


def _side(fp, f1):
    return {"doc": {"sensitivity": {"fp_at_95_recall": fp}}, "spans": {"exact": {"micro": {"f1": f1}}}}


def _report(model, baseline=(0.5, 0.6)):
    return {"model": _side(*model), "baseline_regex": _side(*baseline)}


def _bundle(tmp_path, name):
    d = tmp_path / "bundles" / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"model_version": name}))
    return d


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


def test_promotion_is_a_link_switch_with_rollback(tmp_path):
    models = tmp_path
    a, b = _bundle(tmp_path, "a"), _bundle(tmp_path, "b")
    assert current_champion(models) is None
    promote(models, a)
    assert current_champion(models) == a.resolve()
    assert json.loads((models / "champion" / "config.json").read_text())["model_version"] == "a"
    promote(models, b)
    assert current_champion(models) == b.resolve()
    assert (models / "champion_previous").resolve() == a.resolve()
    assert rollback(models) == a.resolve()
    assert current_champion(models) == a.resolve() and (models / "champion_previous").resolve() == b.resolve()
    history = [json.loads(x) for x in (models / "champion_history.jsonl").read_text().splitlines()]
    assert [h["champion"].rsplit("/", 1)[1] for h in history] == ["a", "b"]
    assert not list(models.glob(".champion*.tmp"))  # no temp link left behind


def test_promote_refuses_a_non_bundle(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError):
        promote(tmp_path, tmp_path / "empty")
