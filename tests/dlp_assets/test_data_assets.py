import json

import dagster as dg
import pyarrow.parquet as pq

from dlp_assets import carriers, checks, data
from hrm_core.data.warehouse import query

RUN_CONFIG = {"ops": {"synthetic_examples": {"config": {"n": 400, "seed": 3}}}}
DATA_ASSETS = [data.synthetic_examples, data.landed_examples, data.examples]
# In the definitions but not in these runs: `examples` gets None for its optional carrier input
# (tests/dlp_assets/test_carriers.py runs them).
NOT_RUN = [carriers.carrier_corpus, carriers.carrier_examples]


def _landing_file(lake_root, rows):
    landing = lake_root / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    path = landing / "batch.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_data_group_materializes_with_checks(tmp_path, instance, resources):
    lake = resources["lake"].lake()
    good = {
        "id": "landed-1", "channel": "email", "user": {"role": "HR", "dept": "People", "seniority": "MID"},
        "recipients": ["payroll@corp.example"], "subject": "ssn", "body": "SSN 123-45-6789 for onboarding",
        "spans": [{"type": "SSN", "start": 4, "end": 15}],
        "labels": {"sensitivity": 1, "exposure": 0, "context": 1, "obfuscation": 0},
        "meta": {"org_domains": ["corp.example"]},
    }  # fmt: skip
    bad = dict(good, id="landed-2", spans=[{"type": "SSN", "start": 4, "end": 999}])
    _landing_file(lake.root, [good, bad, dict(good, id="landed-3")])  # landed-3 duplicates landed-1

    result = dg.materialize(
        [*DATA_ASSETS, *NOT_RUN, *[
            checks.examples_offsets_valid, checks.examples_label_prevalence,
            checks.examples_duplicate_rate, checks.examples_split_leakage,
        ]],
        resources=resources, instance=instance, run_config=RUN_CONFIG,
        selection=dg.AssetSelection.assets(*DATA_ASSETS) | dg.AssetSelection.checks_for_assets(data.examples),
    )  # fmt: skip
    assert result.success
    landed_md = result.asset_materializations_for_node("landed_examples")[0].metadata
    assert (landed_md["rows"].value, landed_md["accepted"].value) == (3, 1)
    assert (landed_md["quarantined"].value, landed_md["duplicates"].value) == (1, 1)

    evals = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evals) == {
        "examples_offsets_valid", "examples_label_prevalence", "examples_duplicate_rate", "examples_split_leakage"
    }  # fmt: skip
    assert evals["examples_offsets_valid"].passed and evals["examples_split_leakage"].passed
    assert evals["examples_split_leakage"].metadata["leaking_threads"].value == 0

    table = pq.read_table(lake.table_dir("examples") / "examples.parquet")
    assert table.num_rows == 401  # 400 synthetic + 1 landed
    per_split = (
        query(lake, "select split, count(*) n from examples group by 1").set_index("split")["n"].to_dict()
    )
    assert sum(per_split.values()) == 401 and set(per_split) == {"train", "val", "test"}
    reasons = query(lake, "select reason from quarantine")["reason"].tolist()
    assert reasons == ["span_out_of_bounds"]


def test_nightly_checks_only_job_reads_the_latest_examples_record(tmp_path, instance, resources):
    from dlp_assets.definitions import build_definitions

    defs = build_definitions(str(tmp_path / "lake"))
    first = dg.materialize(
        [*DATA_ASSETS, *NOT_RUN], selection=DATA_ASSETS, resources=resources, instance=instance,
        run_config=RUN_CONFIG,
    )  # fmt: skip
    nightly = defs.resolve_job_def("data_quality").execute_in_process(instance=instance)
    evals = {e.check_name: e for e in nightly.get_asset_check_evaluations()}
    assert nightly.success and set(evals) >= {"examples_offsets_valid", "examples_split_leakage"}
    assert evals["examples_duplicate_rate"].metadata["incoming_duplicate_rate"].value == 0.0
    logs = [r.user_message for r in instance.all_logs(nightly.run_id) if r.user_message]
    assert any(f"using its latest materialization, run {first.run_id}" in m for m in logs)
