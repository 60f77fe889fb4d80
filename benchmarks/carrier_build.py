"""Time the `carrier_corpus` build (parse every cached source, surrogate pass, Parquet) per worker count.

    .venv/bin/python benchmarks/carrier_build.py --lake data_lake --workers 1,2 --out carrier_build.json

Reads the corpora cache of ``--lake`` (`make install` fetches it) and builds the carrier table into a
temporary lake once per worker count, with the asset's settings (seed 0, 400 stdlib files, the regex
baseline's PHONE rules as ``find_phones``). Reports wall seconds per count, their ratio to the first, and
whether every count wrote the same rows (Parquet tables equal, source by source). ``--reference DIR``
also compares with the Parquet files of an earlier build (e.g. ``<lake>/parquet/carriers`` of a demo).
Run it alone: on 2 cores anything beside it is measured too.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from hrm_core.data.corpus import build_carrier_corpus, carriers_dir, corpora_dir
from hrm_core.data.lake import Lake
from hrm_core.release.onnx_session import usable_cpu_count
from hrm_core.rules.regex_baseline import phone_spans


def _tables(directory: Path) -> dict:
    return {p.stem: pq.read_table(p) for p in sorted(directory.glob("*.parquet"))}


def _same_rows(a: dict, b: dict) -> bool:
    return sorted(a) == sorted(b) and all(a[k].equals(b[k]) for k in a)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lake", type=Path, default=Path("data_lake"))
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts, each built once")
    ap.add_argument("--reference", type=Path, default=None, help="Parquet directory of an earlier build")
    ap.add_argument("--out", type=Path, default=Path("carrier_build.json"))
    args = ap.parse_args()
    cache = corpora_dir(Lake(args.lake))
    counts = [int(w) for w in args.workers.split(",")]
    runs, tables = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in counts:
            lake = Lake(Path(tmp) / f"workers-{workers}")
            t0 = time.perf_counter()
            report = build_carrier_corpus(lake, cache=cache, find_phones=phone_spans, workers=workers)
            seconds = time.perf_counter() - t0
            tables[workers] = _tables(carriers_dir(lake))
            runs.append({"workers": workers, "seconds": round(seconds, 2),
                         "documents": {k: v["documents"] for k, v in report.items()}})  # fmt: skip
            print(f"workers {workers}: {seconds:.1f} s", flush=True)
    first = tables[counts[0]]
    out = {
        "cpus": usable_cpu_count(),
        "runs": runs,
        "seconds_x_first": {r["workers"]: round(r["seconds"] / runs[0]["seconds"], 3) for r in runs},
        "same_rows_for_every_count": all(_same_rows(t, first) for t in tables.values()),
    }
    if args.reference is not None:
        out["same_rows_as_reference"] = _same_rows(_tables(args.reference), first)
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
