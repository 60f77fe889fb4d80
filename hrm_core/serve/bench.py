"""Scanner latency and throughput: torch eager vs ONNX fp32 vs ONNX int8 vs the regex baseline, one run.

For each backend and message size (2 KB by default, plus larger ones that measure windowing cost):
single-request latency p50 / p95 / p99 (ms) and batched throughput (messages/s) at each batch size.
A measurement repeats its call ``runs`` times, or for about ``seconds`` (at least ``min_runs``), after
a warm-up. Messages are synthetic business text with a few sensitive values, seeded, so runs compare.
A backend that cannot load is reported with its error, never skipped silently.

Used by ``hrm-dlp bench`` and ``benchmarks/bench_latency.py``; no Dagster, no message content logged.
"""

from __future__ import annotations

import os
import platform
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

MODEL_BACKENDS = ("int8", "fp32", "torch")
REGEX = "regex"
DEFAULT_BATCHES = (1, 8, 32)
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

ScanBatch = Callable[[list[dict]], object]


@dataclass(frozen=True)
class BenchBudget:
    """How long each measurement runs: calls repeat until ``runs`` calls or ``seconds`` elapsed,
    whichever comes first, but at least ``min_runs`` calls (``runs`` None: up to ``max_runs``).

    ``max_call_s`` bounds the slow cases: a throughput batch whose one call is estimated (from the
    measured single-message latency) to take longer is skipped and reported as skipped, so a 200 KB
    batch of 32 on 2 cores cannot stall the command, and a measurement stops after any call once it
    has run that long. None measures every batch with at least ``min_runs`` calls.
    """

    runs: int | None = None
    seconds: float = 3.0
    min_runs: int = 3
    max_runs: int = 2000
    max_call_s: float | None = None


def size_label(n_chars: int) -> str:
    """'2KB' for 2000 or 2048 characters, '200KB' for 204800; other sizes as '<n>B'."""
    for unit in (1024, 1000):
        if n_chars >= unit and n_chars % unit == 0:
            return f"{n_chars // unit}KB"
    return f"{n_chars}B"


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


def percentiles(samples_ms: Sequence[float]) -> dict:
    """p50 / p95 / p99 / mean (ms, 3 decimals) and the sample count."""
    a = np.asarray(samples_ms, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(a, 50)), 3),
        "p95": round(float(np.percentile(a, 95)), 3),
        "p99": round(float(np.percentile(a, 99)), 3),
        "mean": round(float(a.mean()), 3),
        "n": int(a.size),
    }


def timed_runs(fn: Callable[[], object], budget: BenchBudget, min_runs: int | None = None) -> list[float]:
    """Wall-clock milliseconds of repeated ``fn()`` calls, as many as ``budget`` allows.

    Past ``max_call_s`` of total time the loop stops after any call, even below ``min_runs``: one
    200 KB message on 2 cores can take many seconds, and a single sample of it is still a measurement.
    """
    cap = budget.max_runs if budget.runs is None else max(1, budget.runs)
    floor = min(cap, budget.min_runs if min_runs is None else min_runs)
    out: list[float] = []
    t_start = time.perf_counter()
    t_end = t_start + budget.seconds
    hard_end = None if budget.max_call_s is None else t_start + budget.max_call_s
    while len(out) < cap and (len(out) < floor or time.perf_counter() < t_end):
        if out and hard_end is not None and time.perf_counter() > hard_end:
            break
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def bench_scanner(
    scan_batch: ScanBatch,
    budget: BenchBudget,
    sizes: dict[str, int],
    batches: Iterable[int] = DEFAULT_BATCHES,
) -> dict:
    """Latency percentiles (batch of one) and messages/s at each batch size, per message size label."""
    scan_batch([make_message(200)])  # warm-up: first-call allocations
    result = {}
    for label, n_chars in sizes.items():
        message = make_message(n_chars)
        latency = percentiles(timed_runs(partial(scan_batch, [message]), budget))
        throughput: dict[str, float] = {}
        skipped: dict[str, str] = {}
        for b in batches:
            estimate_s = latency["mean"] * b / 1000
            if budget.max_call_s is not None and estimate_s > budget.max_call_s:
                skipped[str(b)] = f"one call estimated at {estimate_s:.1f} s > {budget.max_call_s} s"
                continue
            batch = [make_message(n_chars, seed=i) for i in range(b)]
            runs = timed_runs(partial(scan_batch, batch), budget, min_runs=2)
            throughput[str(b)] = round(b * len(runs) / (sum(runs) / 1000), 2)
        result[label] = {"latency_ms": latency, "messages_per_s": throughput}
        if skipped:
            result[label]["skipped_batches"] = skipped
    return result


def regex_scan_batch() -> ScanBatch:
    """The regex baseline as a batch scanner (sequential: batching does not apply to it)."""
    from hrm_core.data.contract import validate_example
    from hrm_core.rules.regex_baseline import RegexBaseline

    baseline = RegexBaseline()

    def scan_batch(messages: list[dict]) -> None:
        for m in messages:
            baseline.predict(validate_example(m))  # validation is part of its per-message cost too

    return scan_batch


def machine_info() -> dict:
    """Where the numbers were taken: usable CPUs, platform, versions, OMP threads."""
    import onnxruntime

    from hrm_core.release.onnx_session import usable_cpu_count

    return {
        "cpus": usable_cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def regex_ratios(results: dict, label: str = "2KB") -> dict:
    """Model p50 latency and batch-32 (else largest batch) throughput relative to the regex baseline."""
    regex = results.get(REGEX, {}).get(label)
    out = {}
    for backend, r in results.items():
        if backend == REGEX or label not in r or regex is None:
            continue
        mine, theirs = r[label]["messages_per_s"], regex["messages_per_s"]
        shared = sorted(set(mine) & set(theirs), key=int)
        row = {"p50_latency_x_regex": round(r[label]["latency_ms"]["p50"] / regex["latency_ms"]["p50"], 2)}
        if shared:
            b = "32" if "32" in shared else shared[-1]
            row[f"batch{b}_throughput_x_regex"] = round(mine[b] / theirs[b], 4)
        out[backend] = row
    return out


def run_benchmark(
    model_dir: Path,
    backends: Sequence[str] = (*MODEL_BACKENDS, REGEX),
    sizes: dict[str, int] | None = None,
    batches: Sequence[int] = DEFAULT_BATCHES,
    budget: BenchBudget | None = None,
) -> dict:
    """The whole benchmark report: machine, model, per-backend results and ratios to the regex baseline.

    ``backends`` names any of ``int8``, ``fp32``, ``torch`` and ``regex`` (the baseline needs no model).
    ``sizes`` maps a label to a body length in characters (default ``{"2KB": 2000}``).
    """
    from hrm_core.serve.scanner import Scanner

    budget = budget or BenchBudget()
    sizes = sizes or {"2KB": 2_000}
    unknown = [b for b in backends if b not in (*MODEL_BACKENDS, REGEX)]
    if unknown:
        raise ValueError(f"unknown backends {unknown}; choose from {[*MODEL_BACKENDS, REGEX]}")
    report: dict[str, Any] = {
        "machine": machine_info(),
        "model": str(model_dir),
        "budget": asdict(budget),
        "seconds_per_measurement": budget.seconds,
        "sizes": dict(sizes),
        "batches": [int(b) for b in batches],
        "results": {},
    }
    for backend in backends:
        if backend == REGEX:
            continue  # measured last, as before: the models' numbers do not wait on it
        try:
            scanner = Scanner.from_bundle(model_dir, backend=backend)
        except Exception as exc:  # a missing graph or a broken runtime is a result, not a crash
            report["results"][backend] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        report["model_version"] = scanner.model_version
        report["results"][backend] = bench_scanner(scanner.scan_batch, budget, sizes, batches)
    if REGEX in backends:
        report["results"][REGEX] = bench_scanner(regex_scan_batch(), budget, sizes, batches)
    first = next(iter(sizes))
    report["ratios"] = regex_ratios(report["results"], first)
    return report


# --- `hrm-dlp bench` ------------------------------------------------------------------------------
