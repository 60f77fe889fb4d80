"""Benchmark the synthetic generator: examples per second (median of 3 runs) and the corpus summary.

    .venv/bin/python benchmarks/bench_generate.py --n 20000 --seed 0 --out data_lake/reports/bench_generate.json

Timing covers generation and contract validation (``generate_examples`` validates every row), not
writing. ``cpu_seconds`` (process time) is reported too: on a shared machine wall time includes
waiting for the CPU, process time does not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from hrm_core.synth import generate_examples, summarize


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark, write the JSON report to --out and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("data_lake/reports/bench_generate.json"))
    args = parser.parse_args(argv)

    wall, cpu = [], []
    examples = []
    for _ in range(args.runs):
        w0, c0 = time.perf_counter(), time.process_time()
        examples = generate_examples(args.n, seed=args.seed)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    seconds, cpu_seconds = statistics.median(wall), statistics.median(cpu)
    report = {
        "n": args.n,
        "seed": args.seed,
        "runs": args.runs,
        "seconds": round(seconds, 4),
        "examples_per_s": round(args.n / seconds, 1),
        "cpu_seconds": round(cpu_seconds, 4),
        "examples_per_cpu_s": round(args.n / cpu_seconds, 1),
        "summary": summarize(examples),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
