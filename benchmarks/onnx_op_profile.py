"""Where a bundle's ONNX time goes: one window's latency by length, and time per operator type.

    .venv/bin/python benchmarks/onnx_op_profile.py --model data_lake/models/champion \
        --out data_lake/bench/onnx_op_profile.json

For each graph (int8, fp32) and each window length, one window runs alone on one thread (how the
scanner runs windows on CPU: `OnnxEngine`, one per core), after a warm-up; the median of ``--runs``
calls is reported. At the longest length, onnxruntime's profiler sums kernel time per operator type
over the same number of runs. The window is the start of a seeded 2 KB bench message
(`hrm_core.serve.bench.make_message`), with its candidate channel, so the numbers are the served
input's. Prints a Markdown table; writes JSON. Cores should be otherwise idle.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hrm_core.release.onnx_session import session_options
from hrm_core.serve.bench import machine_info, make_message
from hrm_core.serve.scanner import BACKEND_FILES, Scanner, parse_scan_request


def window_feeds(bundle: Path, lengths: list[int]) -> dict[int, dict[str, np.ndarray]]:
    """For each length, the first that many tokens of a 2 KB bench message as the scanner feeds one window."""
    scanner = Scanner.from_bundle(bundle, backend="fp32")
    prepared = scanner._prepare(parse_scan_request(make_message(2048)))
    all_ids = np.asarray(prepared.ids, dtype=np.int64)
    all_cand = np.asarray(prepared.candidates or np.zeros_like(all_ids), dtype=np.int64)
    out: dict[int, dict[str, np.ndarray]] = {}
    for n in lengths:
        if len(all_ids) < n:
            raise ValueError(f"the bench message has {len(all_ids)} tokens, fewer than {n}")
        ids = all_ids[None, :n]
        out[n] = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "memory_seed": np.zeros((1, scanner.memory_dim), dtype=np.float32),
            "candidate_ids": all_cand[None, :n],
        }
    return out


def _session(path: Path, profile_dir: str | None = None) -> Any:
    import onnxruntime as ort

    opts = session_options(threads=1)
    if profile_dir is not None:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(profile_dir) / "ort")
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _feeds_for(session: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = {i.name for i in session.get_inputs()}
    return {k: v for k, v in feeds.items() if k in names}


def window_latency_ms(path: Path, feeds: dict[str, np.ndarray], runs: int) -> float:
    session = _session(path)
    feeds = _feeds_for(session, feeds)
    for _ in range(3):
        session.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 3)


def op_profile(path: Path, feeds: dict[str, np.ndarray], runs: int) -> dict[str, float]:
    """Kernel milliseconds per call by operator type, largest first."""
    with tempfile.TemporaryDirectory() as tmp:
        session = _session(path, tmp)
        feeds = _feeds_for(session, feeds)
        for _ in range(runs):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    per_op: collections.Counter[str] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            per_op[e["args"]["op_name"]] += e["dur"]
    return {op: round(us / runs / 1000, 3) for op, us in per_op.most_common()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="a model bundle directory")
    ap.add_argument("--lengths", default="128,256,512")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--out", type=Path, default=Path("data_lake/bench/onnx_op_profile.json"))
    args = ap.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    report: dict[str, Any] = {"machine": machine_info(), "model": str(args.model), "runs": args.runs}
    feeds = window_feeds(args.model, lengths)
    for backend, name in BACKEND_FILES.items():
        path = args.model / name
        report[backend] = {
            "window_ms_one_thread": {str(n): window_latency_ms(path, feeds[n], args.runs) for n in lengths},
            f"op_ms_at_{max(lengths)}": op_profile(path, feeds[max(lengths)], args.runs),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(
        "| graph | " + " | ".join(f"{n} tokens (ms)" for n in lengths) + " | top operators at the longest |"
    )
    print("|---|" + "---|" * (len(lengths) + 1))
    for backend in BACKEND_FILES:
        r = report[backend]
        ops = r[f"op_ms_at_{max(lengths)}"]
        total = sum(ops.values()) or 1.0
        top = ", ".join(f"{op} {ms:.2f} ({ms / total:.0%})" for op, ms in list(ops.items())[:5])
        lat = " | ".join(str(r["window_ms_one_thread"][str(n)]) for n in lengths)
        print(f"| {backend} | {lat} | {top} |")


if __name__ == "__main__":
    main()
