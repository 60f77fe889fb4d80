"""`hrm-dlp ingest` through the real entry point: the reconciliation JSON, then views the duckdb CLI can read."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb

from hrm_core.data.lake import Lake
from hrm_core.synth import generate_examples, write_jsonl


def test_ingest_prints_the_reconciliation_and_refreshes_the_views(tmp_path):
    lake = Lake(tmp_path / "lake")
    drop = tmp_path / "drop.jsonl"
    write_jsonl(generate_examples(30, seed=3), drop)
    env = {**os.environ, "HRM_DLP_LAKE": str(lake.root)}
    cli = [sys.executable, "-m", "hrm_core.cli.main", "ingest", str(drop)]
    first = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120, check=True)
    again = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120, check=True)
    counts = [json.loads(p.stdout) for p in (first, again)]
    assert [(c["rows"], c["accepted"], c["duplicates"]) for c in counts] == [(30, 30, 0), (30, 0, 30)]
    assert first.stderr == again.stderr == ""
    # What an analyst's `duckdb -readonly data_lake/warehouse.duckdb` sees, with no `hrm-dlp query` first.
    con = duckdb.connect(str(lake.warehouse), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM landed_examples").fetchone() == (30,)
    finally:
        con.close()
