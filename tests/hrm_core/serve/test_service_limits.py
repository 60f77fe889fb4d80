"""The service under long inputs and overload, over a real uvicorn on 127.0.0.1: a readable 413 for a
huge body, work past its deadline cancelled between window batches, quick 413s for messages that cannot
fit the deadline, bounded admission (503 + Retry-After), and a client that leaves frees its thread."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from hrm_core.serve.scanner import EngineOutput, Scanner
from hrm_core.serve.service import ServiceSettings, create_app
from hrm_core.tokens.windows import window_starts
from tests.hrm_core.serve.scan_fixtures import TINY_MAX_LEN, SeedRulePolicy, tiny_scanner, tiny_tokenizer
from tests.hrm_core.serve.test_service import LiveServer

LONG_BODY = " ".join(f"row {i} card {i}{i}{i}" for i in range(120))  # ~20 windows of 64 tokens


class TunableEngine:
    """Sleeps ``seconds`` per window batch (changeable after warmup) and counts its calls."""

    name, fixed_batch, fixed_len = "tunable", None, None

    def __init__(self, seconds: float) -> None:
        self.seconds, self.calls, self._lock = seconds, 0, threading.Lock()

    def run(self, input_ids, attention_mask, memory_seed):
        with self._lock:
            self.calls += 1
        time.sleep(self.seconds)
        B, T = input_ids.shape
        return EngineOutput(np.zeros((B, 4)), np.zeros((B, T, 21)), np.zeros((B, 256), np.float32))


def _live(engine: TunableEngine, **settings) -> tuple[LiveServer, Scanner]:
    scanner = Scanner(engine, tiny_tokenizer(), SeedRulePolicy(), max_len=TINY_MAX_LEN, batch_size=1)
    return LiveServer(create_app(scanner, ServiceSettings(**settings))), scanner


def _windows(scanner: Scanner, body: str) -> int:
    n_tokens = len(scanner._prepare(scanner_request(body)).ids)
    return len(window_starts(n_tokens, scanner.max_len, scanner.window_overlap))


def scanner_request(body: str):
    from hrm_core.serve.scanner import parse_scan_request

    return parse_scan_request({"body": body})


def _raw_post(url: str, body: bytes) -> bytes:
    """POST with Content-Length from a plain socket: send everything, then read (no httpx leniency for a
    server that answers early: httpx reads an answer even after a failed write)."""
    host, port = url.removeprefix("http://").split(":")
    head = f"POST /scan HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def test_a_20mb_body_gets_a_413_the_client_reads():
    live = LiveServer(create_app(tiny_scanner(), ServiceSettings(max_body_bytes=2 << 20)))
    big = json.dumps({"body": "a" * (20 << 20)}).encode()
    error = {"error": f"request body larger than {2 << 20} bytes"}
    try:
        t0 = time.monotonic()
        reply = _raw_post(live.url, big)  # the old service reset this connection: ConnectionResetError
        head, _, payload = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413") and b"connection: close" in head.lower()
        assert json.loads(payload).items() >= error.items() and time.monotonic() - t0 < 10
        chunks = (big[i : i + (1 << 20)] for i in range(0, len(big), 1 << 20))  # no Content-Length
        with httpx.Client(base_url=live.url, timeout=30) as c:
            r = c.post("/scan", content=chunks, headers={"content-type": "application/json"})
            assert r.status_code == 413 and r.json().items() >= error.items()
            assert c.post("/scan", json={"body": "hello"}).status_code == 200  # the service is fine
    finally:
        live.stop()


def test_a_scan_past_its_deadline_stops_and_the_next_request_is_served_at_once():
    engine = TunableEngine(0.005)  # fast at warmup: the long message fits the window allowance
    live, scanner = _live(engine, timeout_s=0.6, workers=1)
    try:
        n_windows = _windows(scanner, LONG_BODY)
        assert 15 <= n_windows <= 0.9 * 0.6 / 0.005  # within the allowance measured at start
        engine.seconds = 0.15  # now the model is slow: the scan cannot finish by its deadline
        with httpx.Client(base_url=live.url, timeout=10) as c:
            calls0, t0 = engine.calls, time.monotonic()
            r = c.post("/scan", json={"body": LONG_BODY})
            assert r.status_code == 504 and time.monotonic() - t0 < 1.0
            time.sleep(0.3)  # the batch in progress at the deadline ends, then nothing more runs
            ran = engine.calls - calls0
            assert ran <= 6 < n_windows
            engine.seconds = 0.005
            t1 = time.monotonic()
            assert c.post("/scan", json={"body": "hello"}).status_code == 200
            assert time.monotonic() - t1 < 0.5 and engine.calls - calls0 == ran + 1
    finally:
        live.stop()


def test_two_messages_too_long_for_the_deadline_are_413_at_once_and_a_small_one_is_served():
    engine = TunableEngine(0.02)
    live, _ = _live(engine, timeout_s=2.0, workers=2, max_body_bytes=4 << 20)
    huge = {"body": "token stream " * 69_000}  # 0.9 MB, within every limit; far over the deadline
    try:
        with httpx.Client(base_url=live.url, timeout=10) as c, ThreadPoolExecutor(2) as ex:
            calls0, t0 = engine.calls, time.monotonic()
            big = [ex.submit(c.post, "/scan", json=huge) for _ in range(2)]
            time.sleep(0.05)
            small = c.post("/scan", json={"body": "hello"})
            small_s = time.monotonic() - t0
            for f in big:
                r = f.result()
                assert r.status_code == 413 and "deadline" in r.json()["error"]
                assert r.json()["detail"][0]["field"] == "request"
            assert small.status_code == 200 and small_s < 1.0
            assert engine.calls - calls0 == 1  # only the small message reached the model
            batch = c.post("/scan/batch", json={"messages": [{"body": LONG_BODY * 3}] * 8})
            assert batch.status_code == 413 and "windows" in batch.json()["error"]
    finally:
        live.stop()


def test_a_full_queue_answers_503_with_retry_after_and_recovers():
    engine = TunableEngine(0.01)
    live, _ = _live(engine, timeout_s=3.0, workers=1, max_pending=2)
    try:
        engine.seconds = 0.3
        with httpx.Client(base_url=live.url, timeout=10) as c, ThreadPoolExecutor(6) as ex:
            futures = [ex.submit(c.post, "/scan", json={"body": f"message {i}"}) for i in range(6)]
            answers = [f.result() for f in futures]
            statuses = sorted(r.status_code for r in answers)
            assert statuses.count(200) == 2 and statuses.count(503) == 4, statuses
            busy = [r for r in answers if r.status_code == 503]
            assert all(int(r.headers["retry-after"]) >= 1 for r in busy)
            assert all(r.json()["error"] == "scanner busy, retry later" for r in busy)
            engine.seconds = 0.01
            assert c.post("/scan", json={"body": "after"}).status_code == 200
    finally:
        live.stop()


def test_a_client_that_goes_away_frees_its_thread():
    engine = TunableEngine(0.005)
    live, scanner = _live(engine, timeout_s=30.0, workers=1)
    try:
        engine.seconds = 0.1
        calls0 = engine.calls
        with httpx.Client(base_url=live.url, timeout=0.4) as c, pytest.raises(httpx.ReadTimeout):
            c.post("/scan", json={"body": LONG_BODY})
        time.sleep(0.4)
        stopped_at = engine.calls - calls0
        time.sleep(0.4)
        assert engine.calls - calls0 == stopped_at < _windows(scanner, LONG_BODY) - 5
    finally:
        live.stop()
