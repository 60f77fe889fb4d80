"""The champion gate holds whatever starts champion_model: a job run, a lone materialization, automation.

Real Dagster instance, real evaluation_report / check / champion_model; the heavy upstream assets are
stand-ins with the same keys that hand over a tiny random bundle and a hand-made examples table on which
the regex baseline is perfect (so the gate's refusal is certain: FP@95R cannot go below 0). The passing
path stands in evaluation_report too, with a decision that says yes, tied to the bundle.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from dlp_assets.dev_sets import present_dev_sets
from dlp_assets.release import challenger_beats_champion, champion_model, evaluation_report
from hrm_core.release.champion import current_champion
from resources.release import DEFAULT_EVAL_DIR, ReleasePolicy
from tests.dlp_assets.release_fixtures import bundle_version, stand_ins, write_examples, yes_evaluation


def refused_run(instance, lake_resources, tiny_bundle, tmp_path, with_champion: bool = True):
    """The release path in one run, where the gate refuses; `with_champion=False` stops at the gate, as a
    materialization of evaluation_report alone from the UI would."""
    assets = [
        *stand_ins(tiny_bundle, write_examples(tmp_path / "examples.parquet")),
        evaluation_report,
        champion_model,
    ]
    selection = dg.AssetSelection.all() - (
        dg.AssetSelection.assets() if with_champion else dg.AssetSelection.assets(champion_model)
    )
    return dg.materialize(
        [*assets, challenger_beats_champion], instance=instance, resources=lake_resources, raise_on_error=False,
        selection=selection, run_config={"ops": {"evaluation_report": {"config": {"stability_n": 2}}}},
    )  # fmt: skip


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_job_run_with_a_refused_gate_promotes_nothing_and_weighs_the_dev_sets(
    instance, lake_resources, tiny_bundle, tmp_path
):
    result = refused_run(instance, lake_resources, tiny_bundle, tmp_path)
    lake = lake_resources["lake"].lake()
    assert "evaluation_report" in materialized(result) and "champion_model" not in materialized(result)
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "challenger_beats_champion" and check.passed is False
    assert current_champion(lake.models) is None

    report_dir = lake.reports / result.run_id
    decision = json.loads((report_dir / "gate_decision.json").read_text())
    assert decision["promote"] is False and decision["against"] == "regex_baseline"
    assert decision["reason"].startswith("first model does not beat the regex baseline on FP@95R")
    assert decision["bundle"] == str(tiny_bundle.resolve()) and decision["model_version"] == bundle_version(
        tiny_bundle
    )
    assert decision["reference"]["sensitivity_fp_at_95_recall"] == 0.0  # the regex baseline is perfect here
    # Every dev set present was evaluated (model and regex), written, and weighed with its own metric.
    metrics = {name: set(d["metrics"]) for name, d in decision["dev_sets"].items()}
    assert metrics == {"presidio_research": {"span_micro_f1"}, "noseyparker": {"sensitivity_fp_at_95_recall"},
                       "contractnli": {"sensitivity_recall"}}  # fmt: skip
    assert {name: d["n"] for name, d in decision["dev_sets"].items()} == {
        "presidio_research": 2, "noseyparker": 4, "contractnli": 2
    }  # fmt: skip
    report = json.loads((report_dir / "evaluation.json").read_text())
    assert report["dataset"]["n"] == 6 and set(report["dev_sets"]["reports"]) == set(metrics)
    for path in report["dev_sets"]["reports"].values():
        dev = json.loads(Path(path).read_text())
        assert dev["model"]["version"] == bundle_version(tiny_bundle) and "baseline_regex" in dev
    assert "| noseyparker | 4 | FP@95R |" in (report_dir / "dev_sets.md").read_text()


def test_lone_champion_materialization_after_a_refused_gate_fails(
    instance, lake_resources, tiny_bundle, tmp_path
):
    refused = refused_run(instance, lake_resources, tiny_bundle, tmp_path)
    assets = [*stand_ins(tiny_bundle, tmp_path / "examples.parquet"), evaluation_report, champion_model]
    lone = dg.materialize(
        assets, selection=[champion_model], instance=instance, resources=lake_resources, raise_on_error=False
    )
    assert not lone.success and materialized(lone) == set()
    (failure,) = [e for e in lone.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith("gate refused tiny: first model does not beat the regex baseline on FP@95R")
    assert "\n" not in message
    assert not (lake_resources["lake"].lake().models / "champion").exists()
    # It read the refused run's decision, and said so.
    logs = [r.user_message for r in instance.all_logs(lone.run_id) if r.user_message]
    assert any(f"using its latest materialization, run {refused.run_id}" in m for m in logs)


def test_automation_after_a_refused_gate_does_not_promote(instance, lake_resources, tiny_bundle, tmp_path):
    assets = [*stand_ins(tiny_bundle, tmp_path / "examples.parquet"), evaluation_report, champion_model]
    defs = dg.Definitions(assets=assets, asset_checks=[challenger_beats_champion], resources=lake_resources)
    before = dg.evaluate_automation_conditions(defs=defs, instance=instance)  # the sensor's previous tick
    # evaluation_report (and its check) materialized on their own, e.g. from the UI: the gate refuses.
    refused = refused_run(instance, lake_resources, tiny_bundle, tmp_path, with_champion=False)
    assert (
        materialized(refused) >= {"evaluation_report"} and not refused.get_asset_check_evaluations()[0].passed
    )
    ticked = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
    assert ticked.get_requested_partitions(champion_model.key) == set()  # never asked for
    # Even a run that asks for it (what a request would start) refuses.
    forced = dg.materialize(
        assets, selection=[champion_model], instance=instance, resources=lake_resources, raise_on_error=False,
        tags={"dagster/from_automation_condition": "true"},
    )  # fmt: skip
    assert not forced.success and current_champion(lake_resources["lake"].lake().models) is None


def test_a_gate_that_says_yes_promotes_in_a_job_and_through_automation(instance, lake_resources, tiny_bundle):
    yes = yes_evaluation(tiny_bundle)
    models = lake_resources["lake"].lake().models
    defs = dg.Definitions(
        assets=[yes, champion_model], asset_checks=[challenger_beats_champion], resources=lake_resources
    )
    before = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    # Up to the gate only: the check passes, and automation then asks for champion_model.
    result = dg.materialize(
        [yes, champion_model, challenger_beats_champion], instance=instance, resources=lake_resources,
        selection=dg.AssetSelection.assets(yes) | dg.AssetSelection.checks(challenger_beats_champion),
    )  # fmt: skip
    assert result.get_asset_check_evaluations()[0].passed
    ticked = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
    assert ticked.get_requested_partitions(champion_model.key) == {None}
    requested = dg.materialize([yes, champion_model], selection=[champion_model], instance=instance,
                               resources=lake_resources)  # fmt: skip
    assert requested.success and current_champion(models) == tiny_bundle.resolve()
    md = requested.asset_materializations_for_node("champion_model")[0].metadata
    assert md["model_version"].value == bundle_version(tiny_bundle) and md["previous"].value == "none"
    history = [json.loads(x) for x in (models / "champion_history.jsonl").read_text().splitlines()]
    assert [h["decision"]["reason"] for h in history] == ["first model beats the regex baseline"]


def test_champion_model_refuses_a_yes_for_a_bundle_rewritten_since(
    instance, lake_resources, tiny_bundle, tmp_path
):
    bundle = Path(shutil.copytree(tiny_bundle, tmp_path / "copy"))
    yes = yes_evaluation(bundle)
    dg.materialize([yes], instance=instance, resources=lake_resources)
    config = json.loads((bundle / "config.json").read_text())
    (bundle / "config.json").write_text(json.dumps({**config, "model_version": "retrained"}))
    lone = dg.materialize([yes, champion_model], selection=[champion_model], instance=instance,
                          resources=lake_resources, raise_on_error=False)  # fmt: skip
    assert not lone.success and current_champion(lake_resources["lake"].lake().models) is None


@pytest.mark.skipif(not present_dev_sets(DEFAULT_EVAL_DIR), reason="../shared/eval is not mounted here")
def test_the_real_dev_sets_load_and_are_weighed_with_their_own_metric(
    instance, resources, tiny_bundle, tmp_path
):
    caps = {"presidio_research": 8, "noseyparker": 12, "contractnli": 1}
    policy = ReleasePolicy(eval_dir=str(DEFAULT_EVAL_DIR), dev_max_examples=caps)
    result = refused_run(instance, {**resources, "release": policy}, tiny_bundle, tmp_path)
    decision = result.asset_materializations_for_node("evaluation_report")[0].metadata["dev_sets"].value
    found = {name: (d["n"], set(d["metrics"])) for name, d in decision.items()}
    assert found == {
        "presidio_research": (8, {"span_micro_f1"}),
        "noseyparker": (12, {"sensitivity_fp_at_95_recall"}),
        "contractnli": (1, {"sensitivity_recall"}),
    }
