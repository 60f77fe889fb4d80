"""Landing-sensor tick time for a landing folder with N files (default 1,000). Writes JSON.

Three ticks matter: the first sighting (stat only), the tick that finds the files stable (stat + hash
every file once), and the steady state (stat only). Each is timed through the real sensor with
`build_sensor_context`, median of `--repeats` fresh folders.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg

from sensors.landing import build_landing_sensor


def one_run(n_files: int, file_bytes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
        landing = Path(tmp) / "landing"
        landing.mkdir()
        line = ('{"id": "x", "body": "' + "a" * max(0, file_bytes - 40) + '"}\n').encode()
        for i in range(n_files):
            (landing / f"batch-{i:05d}.jsonl").write_bytes(line.replace(b'"x"', f'"{i}"'.encode()))
        job = dg.define_asset_job("ingest_and_retrain", selection="landed_examples")
        sensor = build_landing_sensor(job, lake_root=tmp)
        cursor, out = None, {}
        for name in ("first_sighting_s", "stable_hash_s", "steady_state_s"):
            t0 = time.perf_counter()
            result = sensor.evaluate_tick(dg.build_sensor_context(cursor=cursor, instance=instance))
            out[name] = time.perf_counter() - t0
            cursor = result.cursor
            if name == "stable_hash_s":
                out["runs_requested"] = len(result.run_requests or [])
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--file-bytes", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("data_lake/reports/bench_sensor_tick.json"))
    args = ap.parse_args()
    runs = [one_run(args.files, args.file_bytes) for _ in range(args.repeats)]
    report = {
        "files": args.files,
        "file_bytes": args.file_bytes,
        "repeats": args.repeats,
        **{k: round(statistics.median(r[k] for r in runs), 4) for k in runs[0]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
