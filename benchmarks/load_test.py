"""Load test of the real scan service: uvicorn in a subprocess on 127.0.0.1, N clients for D seconds.

    .venv/bin/python benchmarks/load_test.py --model data_lake/models/champion --clients 32 --duration 60

Each client thread posts 2 KB messages (a third of them in threads, so thread memory is exercised)
until the deadline or ``--max-requests``; the server is stopped afterwards whatever happens. Reports
throughput, latency p50 / p95 / p99, errors (any non-200 or transport error, by kind) and the server
process's peak RSS (VmHWM from /proc on Linux, else psutil samples). Writes JSON (also printed).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from hrm_core.serve.bench import make_message, percentiles

ROOT = Path(__file__).resolve().parent.parent  # the repository: the server runs from here

SERVE = (
    "import argparse, sys; from hrm_core.cli.scan import add_serve_arguments, run_serve; "
    "p = argparse.ArgumentParser(); add_serve_arguments(p); sys.exit(run_serve(p.parse_args(sys.argv[1:])))"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int, sampled: list[float]) -> float | None:
    """Peak resident set of ``pid`` in MB: the kernel's high-water mark, else the largest sample."""
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(max(sampled), 1) if sampled else None


def _sample_rss(pid: int, stop: threading.Event, out: list[float]) -> None:
    try:
        import psutil
    except ImportError:
        return
    proc = psutil.Process(pid)
    while not stop.wait(0.5):
        try:
            out.append(proc.memory_info().rss / 2**20)
        except psutil.Error:
            return


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"server not healthy after {timeout_s} s")


def run_clients(url: str, clients: int, duration_s: float, max_requests: int) -> dict:
    """``clients`` threads posting until the deadline; returns latencies, statuses and error kinds."""
    deadline = time.monotonic() + duration_s
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    lock, sent = threading.Lock(), [0]
    messages = [make_message(2_000, seed=i) for i in range(64)]
    for i, m in enumerate(messages):
        if i % 3 == 0:
            m["thread_id"] = f"load-thread-{i % 12}"

    def client(k: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            i = k
            while time.monotonic() < deadline:
                with lock:
                    if sent[0] >= max_requests:
                        return
                    sent[0] += 1
                t0 = time.perf_counter()
                try:
                    r = c.post("/scan", json=messages[i % len(messages)])
                    ok = r.status_code == 200
                    kind = f"http_{r.status_code}"
                except httpx.HTTPError as exc:
                    ok, kind = False, type(exc).__name__
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    if ok:
                        latencies.append(ms)
                    else:
                        errors[kind] += 1
                i += clients

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration_s + 60)  # bounded even if a request hangs past its own timeout
    wall = time.monotonic() - t0
    return {
        "requests_ok": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(latencies) / wall, 2),
        "latency_ms": percentiles(latencies) if latencies else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None, help="bundle dir (default: <lake>/models/champion)")
    p.add_argument("--backend", choices=("int8", "fp32", "torch"), default="int8")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    p.add_argument("--max-requests", type=int, default=1_000_000, help="stop after this many requests")
    p.add_argument("--workers", type=int, default=2, help="server scan threads")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)

    from hrm_core.serve.loading import default_model_dir

    model = args.model or default_model_dir(None)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-c", SERVE, "--model", str(model), "--backend", args.backend, "--port", str(port)]
    cmd += ["--workers", str(args.workers), "--timeout", "30"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop, samples = threading.Event(), []
    try:
        wait_healthy(url, proc, timeout_s=120)
        sampler = threading.Thread(target=_sample_rss, args=(proc.pid, stop, samples), daemon=True)
        sampler.start()
        result = run_clients(url, args.clients, args.duration, args.max_requests)
        result["peak_rss_mb"] = peak_rss_mb(proc.pid, samples)
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    report = {
        "model": str(model),
        "backend": args.backend,
        "clients": args.clients,
        "duration_s": args.duration,
    }
    report |= result
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
