"""Scanner latency and throughput: torch eager vs ONNX fp32 vs ONNX int8 vs the regex baseline, one run.

    .venv/bin/python benchmarks/bench_latency.py --model data_lake/models/champion --out bench.json

A thin script over `hrm_core.serve.bench` (``hrm-dlp bench`` calls the same function): each measurement runs
for about ``--seconds`` after a warm-up. Writes JSON (also printed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from hrm_core.serve.bench import BenchBudget, run_benchmark  # noqa: E402

SIZES = {"2KB": 2_000, "20KB": 20_000, "200KB": 200_000}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--model", type=Path, default=None, help="bundle dir (default: <lake>/models/champion)")
    p.add_argument("--lake", default=None)
    p.add_argument("--out", type=Path, default=None, help="JSON file to write")
    p.add_argument("--backends", default="torch,fp32,int8", help="comma list of torch, fp32, int8")
    p.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    p.add_argument("--sizes", default=",".join(SIZES), help="comma list of 2KB, 20KB, 200KB")
    args = p.parse_args(argv)

    from hrm_core.serve.loading import default_model_dir

    model = args.model or default_model_dir(args.lake)
    sizes = {k: SIZES[k] for k in args.sizes.split(",")}
    backends = [*args.backends.split(","), "regex"]  # the baseline is always measured beside the models
    report = run_benchmark(model, backends, sizes, budget=BenchBudget(seconds=args.seconds))
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
