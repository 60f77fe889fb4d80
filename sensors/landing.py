"""Landing sensor: one run per new or changed file in data_lake/landing/, once the file is stable.

A tick only lists the folder and stats files (no DuckDB, no parsing). A file is *stable* when its size
and mtime are unchanged between two ticks; only then is its content hashed (streamed, within a byte
budget per tick) and a run requested with run_key ``<name>:<sha256>``. Dagster never launches two runs
with one run key, and the cursor remembers every file's last signature and hash, so a file is processed
once, an identical re-drop requests nothing, and nothing is missed across a daemon restart.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import dagster as dg

from hrm_core.data.lake import default_lake_root

LANDING_SUFFIXES = (".jsonl", ".json", ".parquet")
HASH_BUDGET_BYTES = 512 << 20  # per tick; files past the budget are hashed on the next tick
HASH_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def landing_tick(landing: Path, cursor: dict) -> tuple[list[tuple[str, str]], dict]:
    """Pure tick logic: returns ([(file name, content hash) to run], new cursor).

    cursor = {"seen": {name: [size, mtime_ns]} from the previous tick,
              "done": {name: sha256 of the content already requested}}
    """
    seen_before: dict[str, list[int]] = cursor.get("seen", {})
    done: dict[str, str] = dict(cursor.get("done", {}))
    seen_now: dict[str, list[int]] = {}
    to_run: list[tuple[str, str]] = []
    budget = HASH_BUDGET_BYTES
    if not landing.is_dir():
        return [], {"seen": {}, "done": done}
    with os.scandir(landing) as it:
        entries = sorted(
            (e for e in it if e.is_file() and e.name.endswith(LANDING_SUFFIXES)), key=lambda e: e.name
        )
    for entry in entries:
        st = entry.stat()
        sig = [st.st_size, st.st_mtime_ns]
        seen_now[entry.name] = sig
        if seen_before.get(entry.name) != sig:
            continue  # new or still being written: wait one more tick
        if done.get(entry.name, "").startswith(f"{sig[0]}:{sig[1]}:"):
            continue  # already hashed at this signature
        if st.st_size > budget and to_run:
            continue  # over this tick's hashing budget; next tick
        budget -= st.st_size
        digest = file_sha256(Path(entry.path))
        previous = done.get(entry.name, "")
        done[entry.name] = f"{sig[0]}:{sig[1]}:{digest}"
        if previous.rsplit(":", 1)[-1] != digest:
            to_run.append((entry.name, digest))
    # Forget files that left the folder; a re-drop is still de-duplicated by its run key.
    done = {name: v for name, v in done.items() if name in seen_now}
    return to_run, {"seen": seen_now, "done": done}


def build_landing_sensor(job: dg.UnresolvedAssetJobDefinition | dg.JobDefinition, lake_root: str = "",
                         interval_s: int = 30) -> dg.SensorDefinition:  # fmt: skip
    @dg.sensor(
        name="landing_sensor",
        job=job,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Ingest each new or changed labeled file in data_lake/landing/ and retrain, recalibrate, "
        "export, evaluate and run the champion gate.",
    )
    def landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        landing = Path(lake_root or default_lake_root()) / "landing"
        cursor = json.loads(context.cursor) if context.cursor else {}
        to_run, new_cursor = landing_tick(landing, cursor)
        requests = [
            dg.RunRequest(
                run_key=f"{name}:{digest}",
                run_config={"ops": {"landed_examples": {"config": {"paths": [name]}}}},
                tags={"hrm-dlp/landing_file": name, "hrm-dlp/content_sha256": digest[:16]},
            )
            for name, digest in to_run
        ]
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(new_cursor, sort_keys=True))

    return landing_sensor
