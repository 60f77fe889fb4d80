"""Probes of issue 13 for the scan service and bundles: long inputs, overload, tampered bundles.

    .venv/bin/python benchmarks/probe_service.py --model BUNDLE --out reports/probe_service.json
    PYTHONPATH=/tmp/before13 .venv/bin/python benchmarks/probe_service.py --code /tmp/before13 ...

``--code DIR`` is the checkout the server and the CLI run from (default: this one), so the same probes
measure an older commit. Every server is a fresh ``hrm-dlp serve`` subprocess on 127.0.0.1 with the
default settings (its peak RSS is its own high-water mark), stopped afterwards whatever happens; every
request has a client timeout and every probe a bound. Probes (``--probes``, comma list):

  long    POST /scan with a 300 KB body: status and seconds
  huge    POST /scan with a 20 MB body (Content-Length): status, or the transport error, and seconds
          (also huge_raw: the same from a plain socket client; huge_chunked: without Content-Length)
  burst   two 1.9 MB requests (valid: 950k characters, a fifth of them escaped non-ASCII), then
          {"body": "hello"} until it answers 200: seconds until then, statuses, peak RSS
  load    ``--clients`` threads for ``--duration`` s of mixed traffic (2 KB and 20 KB scans, thread
          messages, 32 x 2 KB batches; a 503's Retry-After is honoured): status counts, p50/p99, RSS
  bundles ``hrm-dlp scan --model`` on tampered copies of the bundle (one byte of config.json, a
          truncated int8 ONNX, no tokenizer, broken calibration JSON, no manifest): exit status,
          stderr lines, the first line, and what the one-byte change did to the scores
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from load_test import free_port, peak_rss_mb, wait_healthy  # benchmarks/ is on the path of a script

from hrm_core.serve.bench import make_message, percentiles

ROOT = Path(__file__).resolve().parent.parent
SERVE = (
    "import argparse, sys; from hrm_core.cli.scan import add_serve_arguments, run_serve; "
    "p = argparse.ArgumentParser(); add_serve_arguments(p); sys.exit(run_serve(p.parse_args(sys.argv[1:])))"
)
JSON_HEADERS = {"content-type": "application/json"}


class Server:
    """``hrm-dlp serve`` from ``code`` on a free 127.0.0.1 port (context manager: always stopped)."""

    def __init__(self, code: Path, model: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(code)}
        cmd = [sys.executable, "-c", SERVE, "--model", str(model), "--port", str(self.port)]
        self.proc = subprocess.Popen(
            cmd, cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def __enter__(self) -> Server:
        wait_healthy(self.url, self.proc, timeout_s=180)
        return self

    def rss_mb(self) -> float | None:
        return peak_rss_mb(self.proc.pid, [])

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def post(url: str, path: str, content: bytes, timeout: float) -> dict:
    """One POST: status (or the transport error's type) and seconds."""
    t0 = time.monotonic()
    try:
        r = httpx.post(url + path, content=content, headers=JSON_HEADERS, timeout=timeout)
        out: dict[str, Any] = {"status": r.status_code, "seconds": round(time.monotonic() - t0, 2)}
        if r.status_code != 200:
            out["error"] = (
                r.json().get("error") if "json" in r.headers.get("content-type", "") else r.text[:100]
            )
        return out
    except httpx.HTTPError as exc:
        return {"status": type(exc).__name__, "seconds": round(time.monotonic() - t0, 2)}


def probe_long(url: str) -> dict:
    body = json.dumps(make_message(300_000, seed=1)).encode()
    return {"bytes": len(body), **post(url, "/scan", body, timeout=300)}


def probe_huge(url: str) -> dict:
    body = json.dumps({"body": "a" * (20 << 20)}).encode()
    return {"bytes": len(body), **post(url, "/scan", body, timeout=120)}


def probe_huge_raw(url: str) -> dict:
    """20 MB with Content-Length from a plain socket client (sends everything, then reads), which has
    no httpx leniency: a server that closes without reading the body resets it before it reads."""
    import socket

    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"body": "a" * (20 << 20)}).encode()
    head = f"POST /scan HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, int(port)), timeout=60) as sock:
            sock.sendall(head.encode() + body)
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        status_line = reply.split(b"\r\n", 1)[0].decode()
        return {"status": int(status_line.split()[1]), "seconds": round(time.monotonic() - t0, 2)}
    except OSError as exc:
        return {"status": type(exc).__name__, "seconds": round(time.monotonic() - t0, 2)}


def probe_huge_chunked(url: str) -> dict:
    """20 MB without Content-Length (chunked transfer), through httpx."""
    body = json.dumps({"body": "a" * (20 << 20)}).encode()
    chunks = (body[i : i + (1 << 20)] for i in range(0, len(body), 1 << 20))
    t0 = time.monotonic()
    try:
        r = httpx.post(url + "/scan", content=chunks, headers=JSON_HEADERS, timeout=60)
        return {"status": r.status_code, "seconds": round(time.monotonic() - t0, 2)}
    except httpx.HTTPError as exc:
        return {"status": type(exc).__name__, "seconds": round(time.monotonic() - t0, 2)}


def burst_message(seed: int) -> bytes:
    """A valid message of 1.9 MB: 840k body characters, half of the words German, Greek or Russian,
    sent JSON-escaped ("\\u00fc"), as Python's json.dumps does by default."""
    rng = random.Random(seed)
    words = [
        "Überweisung",
        "für",
        "Jürgen",
        "Müller",
        "Straße",
        "Köln",
        "réunion",
        "déjà",
        "Ελλάδα",
        "Привет",
    ]
    words += ["invoice", "total"]
    text = " ".join(rng.choice(words) for _ in range(130_000))[:840_000]
    return json.dumps({"body": text}).encode()


def probe_burst(url: str, bound_s: float = 150.0) -> dict:
    bigs = [burst_message(s) for s in (1, 2)]
    big_results: list[dict] = []
    threads = [
        threading.Thread(target=lambda b=b: big_results.append(post(url, "/scan", b, timeout=bound_s)))
        for b in bigs
    ]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(0.5)
    attempts: Counter[str] = Counter()
    until = None
    while time.monotonic() - t0 < bound_s:
        r = post(url, "/scan", b'{"body": "hello"}', timeout=30)
        attempts[str(r["status"])] += 1
        if r["status"] == 200:
            until = round(time.monotonic() - t0, 2)
            break
        time.sleep(0.5)
    for t in threads:
        t.join(timeout=bound_s + 10)
    return {
        "big_bytes": [len(b) for b in bigs],
        "big": big_results,
        "small_200_after_s": until if until is not None else f"> {bound_s:g}",
        "small_attempts": dict(attempts),
    }


def probe_load(url: str, clients: int, duration_s: float) -> dict:
    small = [json.dumps(make_message(2_000, seed=i)).encode() for i in range(32)]
    medium = [json.dumps(make_message(20_000, seed=100 + i)).encode() for i in range(4)]
    threaded = [
        json.dumps({**make_message(2_000, seed=200 + i), "thread_id": f"t{i % 4}"}).encode() for i in range(8)
    ]
    batch = json.dumps({"messages": [make_message(2_000, seed=300 + i) for i in range(32)]}).encode()
    statuses: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = {}
    latencies: list[float] = []
    ok_latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + duration_s

    def client(k: int) -> None:
        rng = random.Random(k)
        with httpx.Client(base_url=url, timeout=60) as c:
            while time.monotonic() < deadline:
                x = rng.random()
                kind, path, body = (
                    ("scan_2k", "/scan", rng.choice(small)) if x < 0.6
                    else ("scan_20k", "/scan", rng.choice(medium)) if x < 0.75
                    else ("thread_2k", "/scan", rng.choice(threaded)) if x < 0.85
                    else ("batch_32x2k", "/scan/batch", batch)
                )  # fmt: skip
                t0 = time.perf_counter()
                retry = 0.0
                try:
                    r = c.post(path, content=body, headers=JSON_HEADERS)
                    status = str(r.status_code)
                    if r.status_code == 503:
                        retry = min(5.0, float(r.headers.get("retry-after", "1")))
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    statuses[status] += 1
                    by_kind.setdefault(kind, Counter())[status] += 1
                    latencies.append(ms)
                    if status == "200":
                        ok_latencies.append(ms)
                if retry:
                    time.sleep(retry)

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration_s + 90)
    return {
        "clients": clients,
        "duration_s": duration_s,
        "wall_s": round(time.monotonic() - t0, 1),
        "statuses": dict(statuses),
        "by_kind": {k: dict(v) for k, v in by_kind.items()},
        "latency_ms_all": percentiles(latencies) if latencies else None,
        "latency_ms_200": percentiles(ok_latencies) if ok_latencies else None,
    }


def probe_bundles(code: Path, model: Path) -> dict:
    text = make_message(3_000, seed=5)["body"]
    cases = {
        "intact": lambda d: None,
        "config_one_byte": lambda d: (d / "config.json").write_text(
            (d / "config.json").read_text().replace('"max_len": 512', '"max_len": 502', 1)
        ),
        "truncated_int8_onnx": lambda d: (d / "model.int8.onnx").write_bytes(
            (d / "model.int8.onnx").read_bytes()[:100_000]
        ),
        "missing_tokenizer": lambda d: (d / "tokenizer.model").unlink(),
        "broken_json": lambda d: (d / "calibration.json").write_text(
            (d / "calibration.json").read_text()[:-5]
        ),
        "no_manifest": lambda d: (d / "manifest.json").unlink(missing_ok=True),
    }
    env = {**os.environ, "PYTHONPATH": str(code)}
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, damage in cases.items():
            d = Path(shutil.copytree(model, Path(tmp) / name))
            damage(d)
            cmd = [sys.executable, "-m", "hrm_core.cli.main", "scan", "--model", str(d), "--text", text]
            p = subprocess.run(
                cmd, cwd=code, env=env, capture_output=True, text=True, timeout=120, check=False
            )
            lines = p.stderr.strip().splitlines()
            result: dict = {"exit": p.returncode, "stderr_lines": len(lines)}
            if lines:
                result["stderr_first"] = lines[0][:240]
                result["stderr_last"] = lines[-1][:240]
            if p.returncode in (0, 1, 2) and p.stdout.strip():
                scan = json.loads(p.stdout.splitlines()[0])
                result["model_version"] = scan["model_version"]
                result["scores"] = scan["scores"]
            out[name] = result
    return out


def loadavg() -> str:
    """The 1-minute load average: the cores are shared, so each probe says how busy they were."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help="bundle dir")
    p.add_argument("--code", type=Path, default=ROOT, help="checkout the server and CLI run from")
    p.add_argument("--probes", default="long,huge,huge_raw,huge_chunked,burst,load,bundles")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    code, model = args.code.resolve(), args.model.resolve()
    report: dict = {"code": str(code), "model": str(model)}
    probes = [x.strip() for x in args.probes.split(",") if x.strip()]
    singles = {
        "long": probe_long,
        "huge": probe_huge,
        "huge_raw": probe_huge_raw,
        "huge_chunked": probe_huge_chunked,
    }
    if set(singles) & set(probes):
        with Server(code, model) as server:
            for name, fn in singles.items():
                if name in probes:
                    report[name] = {"load_before": loadavg(), **fn(server.url), "load_after": loadavg()}
                    print(name, json.dumps(report[name]), flush=True)
            report["singles_peak_rss_mb"] = server.rss_mb()
    if "burst" in probes:
        with Server(code, model) as server:
            report["burst"] = {"load_before": loadavg(), **probe_burst(server.url)}
            report["burst"] |= {"peak_rss_mb": server.rss_mb(), "load_after": loadavg()}
            print("burst", json.dumps(report["burst"]), flush=True)
    if "load" in probes:
        with Server(code, model) as server:
            report["load"] = probe_load(server.url, args.clients, args.duration) | {
                "peak_rss_mb": server.rss_mb()
            }
            print("load", json.dumps(report["load"]), flush=True)
    if "bundles" in probes:
        report["bundles"] = probe_bundles(code, model)
        print("bundles", json.dumps(report["bundles"]), flush=True)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
