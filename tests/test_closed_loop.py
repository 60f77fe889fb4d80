"""The closed loop of issue 7: a labeled file lands, the sensor asks for one run, the run ingests,
retrains, recalibrates, exports, evaluates and gates, and the same file dropped again asks for nothing.

Starts from an empty temporary lake (no synthetic data, no champion), so the first run trains on the
landed rows only and the gate compares the challenger with the regex baseline. The first bundle is then
promoted by hand, standing in for an earlier champion, and a second file lands, so the second gate runs
against a champion. Whether a tiny model is promoted is up to the gate; the test checks that the champion
link follows gate_decision.json exactly, either way. Everything is tiny (vocab 800, one epoch of a
1-layer model, a few hundred rows) to stay within a couple of minutes on 2 cores; the outside dev sets
are left out here (tests/dlp_assets/test_release_gate.py weighs them).
"""

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from dlp_assets.definitions import build_definitions
from hrm_core.data.lake import Lake
from hrm_core.data.warehouse import query
from hrm_core.release.champion import GateDecision, current_champion, promote
from hrm_core.synth import generate_examples

pytestmark = pytest.mark.slow

N_VALID = 300
N_SECOND = 150
LANDING_FILE = "partner_batch.jsonl"
SECOND_FILE = "partner_batch_2.jsonl"
# Rows the contract rejects (with a span past the end of the body, added below: three in all).
INVALID_LINES = [
    "{not json",
    json.dumps({"id": "bad-channel", "channel": "fax", "body": "x"}),
]

# Merged over the sensor's run_config: tiny tokenizer, model, training and evaluation.
TINY_RUN_CONFIG = {
    "tokenizer": {"config": {"vocab_size": 800}},
    "trained_model": {
        "config": {
            "epochs": 1,
            "batch_size": 16,
            "d_model": 32,
            "n_heads": 2,
            "n_fast_layers": 1,
            "max_len": 256,
            "H_cycles": 1,
            "L_cycles": 1,
        }
    },
    "evaluation_report": {"config": {"stability_n": 10}},
}


def write_landing_file(landing: Path, name: str, n: int, seed: int) -> bytes:
    """`n` valid rows from a seed the lake has never seen, then three rows the contract must quarantine."""
    examples = generate_examples(n, seed=seed)
    bad_span = examples[0].model_dump(mode="json")
    bad_span["id"] = "bad-span"
    bad_span["spans"] = [{"type": "EMAIL", "start": 0, "end": len(bad_span["body"]) + 50}]
    lines = [json.dumps(e.model_dump(mode="json")) for e in examples]
    lines += [*INVALID_LINES, json.dumps(bad_span)]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    landing.mkdir(parents=True, exist_ok=True)
    (landing / name).write_bytes(data)
    return data


def tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None):
    """One sensor evaluation: (run requests, new cursor)."""
    result = sensor.evaluate_tick(dg.build_sensor_context(cursor=cursor, instance=instance))
    return result.run_requests or [], result.cursor


def merged_run_config(request: dg.RunRequest) -> dict:
    ops = {**request.run_config.get("ops", {}), **TINY_RUN_CONFIG}
    return {**request.run_config, "ops": ops}


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def check_outcomes(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    """Asset check name -> passed, from the run's events (a failed blocking check may fail the run)."""
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            out[data.check_name] = data.passed
    return out


def land_and_run(lake: Lake, defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None,
                 name: str) -> tuple[dg.ExecuteInProcessResult, str | None]:  # fmt: skip
    """Two sensor ticks (the file must hold still for one), then the one requested run, in-process."""
    sensor = defs.resolve_sensor_def("landing_sensor")
    requests, cursor = tick(sensor, instance, cursor)
    assert requests == []  # first sighting of this file
    requests, cursor = tick(sensor, instance, cursor)
    assert len(requests) == 1
    request = requests[0]
    assert request.run_key.startswith(f"{name}:")
    assert request.run_config["ops"]["landed_examples"]["config"]["paths"] == [name]
    result = defs.resolve_job_def("ingest_and_retrain").execute_in_process(
        run_config=merged_run_config(request), instance=instance, tags=request.tags, raise_on_error=False
    )
    # Everything up to the gate ran, whatever the gate decides.
    assert {"landed_examples", "examples", "tokenizer", "tokenized_examples", "trained_model",
            "calibration", "onnx_model", "evaluation_report"} <= materialized(result)  # fmt: skip
    return result, cursor


def assert_evaluated_and_gated(lake: Lake, instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult,
                               champion_before: Path | None) -> tuple[Path, dict]:  # fmt: skip
    """A new bundle was evaluated on the test split and the champion link follows its gate decision."""
    bundle_event = instance.get_latest_materialization_event(dg.AssetKey("onnx_model"))
    assert bundle_event.run_id == result.run_id
    bundle = Path(str(bundle_event.asset_materialization.metadata["bundle"].value))
    assert bundle != champion_before and (bundle / "config.json").is_file()
    report_path = lake.reports / result.run_id / "evaluation.json"
    report = json.loads(report_path.read_text())
    test_rows = query(lake, "SELECT count(*) AS n FROM examples WHERE split = 'test'")
    assert report["dataset"]["n"] == int(test_rows.n[0]) > 0
    assert 0.0 <= report["model"]["doc"]["sensitivity"]["auprc"] <= 1.0

    decision = json.loads((report_path.parent / "gate_decision.json").read_text())
    assert decision["against"] == ("champion" if champion_before else "regex_baseline")
    assert check_outcomes(result)["challenger_beats_champion"] is decision["promote"]
    if decision["promote"]:
        assert "champion_model" in materialized(result)
        assert current_champion(lake.models) == bundle.resolve()
    else:
        assert "champion_model" not in materialized(result)
        assert current_champion(lake.models) == champion_before
    return bundle, decision


def test_landed_file_retrains_gates_and_is_not_processed_twice(tmp_path, monkeypatch):
    monkeypatch.setenv("HRM_DLP_EVAL_DIR", str(tmp_path / "no-dev-sets"))
    lake = Lake(tmp_path / "lake").ensure()
    defs = build_definitions(str(lake.root))
    data = write_landing_file(lake.landing, LANDING_FILE, N_VALID, seed=1234)

    with dg.instance_for_test() as instance:
        assert current_champion(lake.models) is None  # empty lake
        result, cursor = land_and_run(lake, defs, instance, None, LANDING_FILE)

        # New rows are in the warehouse; the rejected rows are quarantined with reasons.
        landed = query(lake, "SELECT count(*) AS n, count(DISTINCT source) AS s FROM landed_examples")
        assert int(landed.n[0]) == N_VALID and int(landed.s[0]) == 1
        in_examples = query(
            lake, "SELECT count(*) AS n FROM examples WHERE source = ?", [f"landed:{LANDING_FILE}"]
        )
        assert int(in_examples.n[0]) == N_VALID
        quarantine = query(lake, "SELECT file, line, reason FROM quarantine ORDER BY line")
        assert quarantine.line.tolist() == [N_VALID + 1, N_VALID + 2, N_VALID + 3]
        assert set(quarantine.file) == {LANDING_FILE}
        assert all(isinstance(r, str) and r for r in quarantine.reason)

        first_bundle, _ = assert_evaluated_and_gated(lake, instance, result, champion_before=None)

        # The same bytes dropped again (new mtime): hashed, recognised, no new run.
        path = lake.landing / LANDING_FILE
        mtime_ns = path.stat().st_mtime_ns
        path.write_bytes(data)
        os.utime(path, ns=(mtime_ns, mtime_ns + 10_000_000_000))
        again, cursor = tick(defs.resolve_sensor_def("landing_sensor"), instance, cursor)
        again2, cursor = tick(defs.resolve_sensor_def("landing_sensor"), instance, cursor)
        assert again == [] and again2 == []

        # With a champion in place (the first bundle, promoted by hand), a second file is gated against it.
        if current_champion(lake.models) is None:
            by_hand = GateDecision(
                True, "promoted by hand: stands in for an earlier champion", "manual", {}, {}
            )
            promote(lake.models, first_bundle, by_hand.for_bundle(first_bundle, None))
        champion_before = current_champion(lake.models)
        write_landing_file(lake.landing, SECOND_FILE, N_SECOND, seed=4321)
        result, cursor = land_and_run(lake, defs, instance, cursor, SECOND_FILE)
        landed = query(lake, "SELECT count(*) AS n FROM landed_examples")
        assert int(landed.n[0]) == N_VALID + N_SECOND
        assert_evaluated_and_gated(lake, instance, result, champion_before=champion_before)
