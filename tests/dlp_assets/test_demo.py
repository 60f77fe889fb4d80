"""`make demo`'s runner: one line per step, a readable summary, no stack trace, and the right exit code.

The job is the release path over stand-ins (tests/dlp_assets/release_fixtures.py) where the gate refuses,
so the run holds the same expected failure as a first `make demo` whose model does not beat regex.
"""

from __future__ import annotations

import dagster as dg

from dlp_assets.demo import run_demo
from dlp_assets.release import challenger_beats_champion, champion_model, evaluation_report
from tests.dlp_assets.release_fixtures import bundle_version, stand_ins, write_examples

RUN_CONFIG = {"ops": {"evaluation_report": {"config": {"stability_n": 2}}}}


@dg.asset(name="trained_model")
def trained_model_stand_in() -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={
            "wall_time_s": 12.5,
            "tokens_per_s": 2048.0,
            "preset": "cpu-small",
            "device": "cpu",
            "precision": "bf16",
            "budget_s": 600.0,
            "steps": 652,
            "planned_steps": 1045,
            "best_step": 583,
        }
    )


def demo_job(assets, lake_resources) -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=assets, asset_checks=[challenger_beats_champion], resources=lake_resources,
        jobs=[dg.define_asset_job("demo", selection=dg.AssetSelection.all())],
    )  # fmt: skip
    return defs.resolve_job_def("demo")


def test_a_refused_gate_prints_a_summary_without_stack_traces_and_exits_0(
    instance, lake_resources, tiny_bundle, tmp_path, capfd
):
    upstream = stand_ins(tiny_bundle, write_examples(tmp_path / "examples.parquet"))
    job = demo_job([trained_model_stand_in, *upstream, evaluation_report, champion_model], lake_resources)
    code = run_demo(job, instance, lake_resources["lake"].lake(), RUN_CONFIG)
    out, err = capfd.readouterr()
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == [
        "run", "training", "budget", "bundle", "test", "dev", "dev", "dev", "gate", "report", "champion"
    ]  # fmt: skip
    summary = {line[:10].strip(): line[12:] for line in lines}  # keys padded to one width
    assert summary["training"] == "12.5 s, 2,048 tokens/s (cpu-small, cpu, bf16)"
    assert summary["budget"] == "600 s: 652 of 1045 planned steps, best at step 583"
    assert (
        summary["bundle"].startswith(str(tiny_bundle))
        and f"model_version {bundle_version(tiny_bundle)}" in summary["bundle"]
    )
    assert "sensitivity FP@95R model" in summary["test split"] and "vs regex 0.000" in summary["test split"]
    assert summary["gate"].startswith("refuse: first model does not beat the regex baseline on FP@95R")
    assert summary["champion"] == "no champion: scanning uses the rules engine"
    assert "noseyparker (n=4): FP@95R" in out and "contractnli (n=2): recall" in out
    assert "gate     evaluation_report_challenger_beats_champion: the challenger was not promoted" in err
    assert "ok       evaluation_report" in err
    for text in (out, err):
        assert (
            "Traceback" not in text
            and "Stack Trace" not in text
            and "DagsterAssetCheckFailedError" not in text
        )


def test_a_real_failure_exits_1_and_names_the_step(instance, lake_resources, tiny_bundle, tmp_path, capfd):
    @dg.asset(name="onnx_model")
    def broken_export() -> dict:
        raise ValueError("ONNX export failed: opset 17 not supported")

    _, examples = stand_ins(tiny_bundle, write_examples(tmp_path / "examples.parquet"))
    job = demo_job([broken_export, examples, evaluation_report, champion_model], lake_resources)
    code = run_demo(job, instance, lake_resources["lake"].lake(), RUN_CONFIG)
    out, err = capfd.readouterr()
    assert code == 1
    assert out.splitlines()[-1].split(None, 1) == [
        "FAILED", "onnx_model: ValueError: ONNX export failed: opset 17 not supported"
    ]  # fmt: skip
    assert "failed   onnx_model: ValueError: ONNX export failed" in err
    assert "Traceback" not in out + err and "Stack Trace" not in out + err


def test_a_check_that_warned_gets_a_summary_line_and_the_run_still_exits_0(instance, lake_resources, capfd):
    @dg.asset(name="examples")
    def examples_stand_in() -> None:
        return None

    @dg.asset_check(asset=examples_stand_in)
    def corpora_missing() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.WARN, description="no train example on sotu"
        )

    @dg.asset_check(asset=examples_stand_in)
    def quiet_when_passed() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True, severity=dg.AssetCheckSeverity.WARN, description="all fine")

    defs = dg.Definitions(
        assets=[examples_stand_in], asset_checks=[corpora_missing, quiet_when_passed], resources=lake_resources,
        jobs=[dg.define_asset_job("demo", selection=dg.AssetSelection.all())],
    )  # fmt: skip
    code = run_demo(defs.resolve_job_def("demo"), instance, lake_resources["lake"].lake())
    out, _ = capfd.readouterr()
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["run", "champion", "warning"]
    assert out.splitlines()[-1].split(None, 1) == ["warning", "corpora_missing: no train example on sotu"]
