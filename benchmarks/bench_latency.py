"""Scanner latency and throughput: torch eager vs ONNX fp32 vs ONNX int8 vs the regex baseline, one run.

    .venv/bin/python benchmarks/bench_latency.py --model data_lake/models/champion --out bench.json

For each backend and message size (2 KB, 20 KB, 200 KB: the larger ones measure windowing cost):
single-request latency p50 / p95 / p99 (ms) and batched throughput (messages/s) at batch 1, 8, 32.
Each measurement runs for about ``--seconds`` (at least a few repetitions), after a warm-up. The
messages are synthetic business text with a few sensitive values, seeded, so runs compare.
Writes JSON (also printed); a backend that cannot load is reported with its error, not skipped silently.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

SIZES = {"2KB": 2_000, "20KB": 20_000, "200KB": 200_000}
BATCHES = (1, 8, 32)
SENTENCES = (
    "Please find the quarterly forecast attached for review before Thursday's call.",
    "The vendor confirmed the shipment will arrive at the Harbor Road warehouse next week.",
    "Can you update the card on file to 4111 1111 1111 1111 before the renewal?",
    "Per the mutual NDA, the pricing terms of matter 2024-LIT-0042 stay confidential.",
    "Ping me at +1 415 555 0100 or maria.chen@gmail.example if the build breaks again.",
    "prod creds: postgres://svc_app:Xk9#pLq2@db.corp.example:5432/billing",
    "Let's keep the retro short; the team already agreed on the action items.",
    "Employee SSN 123-45-6789 is needed by payroll today.",
)


def make_message(n_chars: int, seed: int = 0) -> dict:
    """A seeded email of about ``n_chars`` body characters, with an outside recipient and an attachment."""
    rng = random.Random(seed)
    parts, size = [], 0
    while size < n_chars:
        s = rng.choice(SENTENCES)
        parts.append(s)
        size += len(s) + 1
    return {
        "id": f"bench-{n_chars}-{seed}",
        "channel": "email",
        "user": {"role": "FINANCE", "dept": "FIN", "seniority": "MID"},
        "recipients": ["partner@vendor.example", "bob@corp.example"],
        "subject": "Q3 forecast and renewal",
        "body": " ".join(parts)[:n_chars],
        "attachments": [{"name": "forecast_q3.xlsx", "mime": "application/vnd.ms-excel", "size": 48_000}],
        "meta": {"org_domains": ["corp.example"]},
    }


def _percentiles(samples_ms: list[float]) -> dict:
    a = np.asarray(samples_ms)
    return {
        "p50": round(float(np.percentile(a, 50)), 3),
        "p95": round(float(np.percentile(a, 95)), 3),
        "p99": round(float(np.percentile(a, 99)), 3),
        "mean": round(float(a.mean()), 3),
        "n": int(a.size),
    }


def _timed_runs(
    fn: Callable[[], object], seconds: float, min_runs: int = 3, max_runs: int = 2000
) -> list[float]:
    """Wall-clock milliseconds of repeated ``fn()`` calls for about ``seconds``."""
    out: list[float] = []
    t_end = time.perf_counter() + seconds
    while len(out) < max_runs and (len(out) < min_runs or time.perf_counter() < t_end):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def bench_scanner(scan_batch: Callable[[list[dict]], object], seconds: float, sizes: dict[str, int]) -> dict:
    """Latency percentiles (batch of one) and messages/s at each batch size, per message size."""
    scan_batch([make_message(200)])  # warm-up: first-call allocations
    result = {}
    for label, n_chars in sizes.items():
        message = make_message(n_chars)
        latency = _percentiles(_timed_runs(lambda m=message: scan_batch([m]), seconds))
        throughput = {}
        for b in BATCHES:
            batch = [make_message(n_chars, seed=i) for i in range(b)]
            runs = _timed_runs(lambda batch=batch: scan_batch(batch), seconds, min_runs=2)
            throughput[str(b)] = round(b * len(runs) / (sum(runs) / 1000), 2)
        result[label] = {"latency_ms": latency, "messages_per_s": throughput}
    return result


def bench_regex(seconds: float, sizes: dict[str, int]) -> dict:
    """The regex baseline on the same messages (sequential: batching does not apply)."""
    from hrm_core.contract import validate_example
    from hrm_core.regex_baseline import RegexBaseline

    baseline = RegexBaseline()

    def as_example(m: dict) -> object:
        return validate_example(m)

    def scan_batch(messages: list[dict]) -> None:
        for m in messages:
            baseline.predict(as_example(m))

    return bench_scanner(scan_batch, seconds, sizes)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None, help="bundle dir (default: <lake>/models/champion)")
    p.add_argument("--lake", default=None)
    p.add_argument("--out", type=Path, default=None, help="JSON file to write")
    p.add_argument("--backends", default="torch,fp32,int8", help="comma list of torch, fp32, int8")
    p.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    p.add_argument("--sizes", default=",".join(SIZES), help="comma list of 2KB, 20KB, 200KB")
    args = p.parse_args(argv)

    import onnxruntime

    from hrm_core.scan_cli import default_model_dir
    from hrm_core.scanner import Scanner, usable_cpu_count

    model = args.model or default_model_dir(args.lake)
    sizes = {k: SIZES[k] for k in args.sizes.split(",")}
    report: dict = {
        "machine": {
            "cpus": usable_cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        },
        "model": str(model),
        "seconds_per_measurement": args.seconds,
        "results": {},
    }
    for backend in args.backends.split(","):
        try:
            scanner = Scanner.from_bundle(model, backend=backend)
        except Exception as exc:
            report["results"][backend] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        report["model_version"] = scanner.model_version
        report["results"][backend] = bench_scanner(scanner.scan_batch, args.seconds, sizes)
    report["results"]["regex"] = bench_regex(args.seconds, sizes)
    report["ratios"] = _ratios(report["results"])
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


def _ratios(results: dict) -> dict:
    """Model p50 latency and batch-32 throughput relative to the regex baseline, on 2 KB messages."""
    regex = results.get("regex", {}).get("2KB")
    out = {}
    for backend, r in results.items():
        if backend == "regex" or "2KB" not in r or regex is None:
            continue
        out[backend] = {
            "p50_latency_x_regex": round(r["2KB"]["latency_ms"]["p50"] / regex["latency_ms"]["p50"], 2),
            "batch32_throughput_x_regex": round(
                r["2KB"]["messages_per_s"]["32"] / regex["messages_per_s"]["32"], 4
            ),
        }
    return out


if __name__ == "__main__":
    sys.exit(main())
