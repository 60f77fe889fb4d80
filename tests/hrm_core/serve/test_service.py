"""The scan service over a real uvicorn on 127.0.0.1: endpoints, limits, errors, auth, logs, fuzzing."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hrm_core.serve.scanner import EngineOutput, Scanner
from hrm_core.serve.service import ScanResponse, ServiceSettings, create_app
from tests.hrm_core.serve.scan_fixtures import TINY_MAX_LEN, SeedRulePolicy, tiny_scanner, tiny_tokenizer

LIMITS = ServiceSettings(max_body_bytes=20_000, max_batch=4, timeout_s=5.0)
MESSAGE = {
    "subject": "Q3",
    "body": "Card 4111 1111 1111 1111, call 555 0100",
    "recipients": ["x@gmail.example"],
}


class LiveServer:
    """uvicorn serving `app` on an ephemeral 127.0.0.1 port in a daemon thread; bounded start and stop."""

    def __init__(self, app) -> None:
        # log_config=None: uvicorn's loggers propagate to the root logger, where caplog sees them.
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_config=None, access_log=True, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer(create_app(tiny_scanner(), LIMITS))
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=20) as c:
        yield c


# ---------------------------------------------------------------------------- endpoints


def test_scan_returns_the_spec_response_with_a_request_id(client):
    r = client.post("/scan", json=MESSAGE, headers={"X-Request-ID": "req-42"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "req-42"
    body = ScanResponse.model_validate(r.json())
    assert set(body.scores) == {"sensitivity", "exposure", "context", "obfuscation"}
    assert body.decision in {"ALLOW", "ALLOW_WITH_WARNING", "BLOCK"} and body.latency_ms > 0


def test_scan_is_deterministic_over_http(client):
    a, b = (client.post("/scan", json=MESSAGE).json() for _ in range(2))
    a.pop("latency_ms"), b.pop("latency_ms")
    assert a == b


def test_batch_keeps_order_and_matches_single_scans(client):
    messages = [{"id": f"m{i}", "body": f"message {i}"} for i in range(3)]
    r = client.post("/scan/batch", json={"messages": messages})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["id"] for x in results] == ["m0", "m1", "m2"]
    single = client.post("/scan", json=messages[1]).json()
    assert results[1]["decision"] == single["decision"]
    assert results[1]["scores"] == pytest.approx(single["scores"], abs=1e-5)


def test_healthz_warmup_and_openapi(client):
    assert client.get("/healthz").json() == {
        "status": "ok",
        "model_version": "unversioned",
        "backend": "torch",
    }
    assert client.post("/warmup").json()["warmup_ms"] > 0
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/scan", "/scan/batch", "/healthz", "/warmup"} <= set(paths)


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"subject": "no body"}, "body"),
        ({"body": "x", "user": {"role": "PIRATE"}}, "user.role"),
        ({"body": "x", "attachments": [{"name": "a.pdf", "size": -1}]}, "attachments[0].size"),
        ({"body": "x", "labels": {"sensitivity": 1}}, "labels"),
        ({"body": 12}, "body"),
        (["not", "an", "object"], "request"),
    ],
)
def test_invalid_input_is_422_naming_the_field(client, payload, field):
    r = client.post("/scan", json=payload)
    assert r.status_code == 422
    assert field in [d["field"] for d in r.json()["detail"]]
    assert r.json()["request_id"] == r.headers["x-request-id"]


def test_malformed_json_and_lone_surrogates_are_422(client):
    assert (
        client.post(
            "/scan", content=b'{"body": "x"', headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    r = client.post("/scan", content=b'{"body": "\\ud800"}', headers={"content-type": "application/json"})
    assert r.status_code == 422 and "body" in r.text


def test_oversized_batch_is_422_on_messages(client):
    r = client.post("/scan/batch", json={"messages": [{"body": "x"}] * 5})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "messages"


def test_body_over_the_limit_is_413_by_length_and_by_stream(client):
    big = json.dumps({"body": "a" * 30_000}).encode()
    assert client.post("/scan", content=big, headers={"content-type": "application/json"}).status_code == 413

    def chunks():  # no Content-Length: chunked transfer, counted as it arrives
        for i in range(0, len(big), 4096):
            yield big[i : i + 4096]

    r = client.post("/scan", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "20000 bytes" in r.json()["error"]


class SlowEngine:
    name, fixed_batch, fixed_len = "slow", None, None

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def run(self, input_ids, attention_mask, memory_seed):
        import numpy as np

        time.sleep(self.seconds)
        B, T = input_ids.shape
        return EngineOutput(np.zeros((B, 4)), np.zeros((B, T, 21)), np.zeros((B, 256), np.float32))


def test_a_slow_scan_gets_504_and_a_full_queue_503():
    scanner = Scanner(SlowEngine(1.0), tiny_tokenizer(), SeedRulePolicy(), max_len=TINY_MAX_LEN)
    live = LiveServer(create_app(scanner, ServiceSettings(timeout_s=0.3, workers=1, max_pending=1)))
    try:
        with httpx.Client(base_url=live.url, timeout=10) as c, ThreadPoolExecutor(2) as ex:
            t0 = time.monotonic()
            first = ex.submit(c.post, "/scan", json={"body": "a"})
            time.sleep(0.1)
            second = ex.submit(c.post, "/scan", json={"body": "b"})
            assert first.result().status_code == 504 and "0.3 s" in first.result().json()["error"]
            assert second.result().status_code == 503
            assert time.monotonic() - t0 < 1.0  # answered by the deadline, not after the 1 s scan
    finally:
        live.stop()


# ---------------------------------------------------------------------------- auth


def test_bearer_auth_when_on(monkeypatch):
    monkeypatch.setenv("HRM_DLP_TEST_TOKEN", "s3cret-token")
    app = create_app(tiny_scanner(), ServiceSettings(require_auth=True, auth_token_env="HRM_DLP_TEST_TOKEN"))
    live = LiveServer(app)
    try:
        with httpx.Client(base_url=live.url, timeout=20) as c:
            assert c.post("/scan", json={"body": "x"}).status_code == 401
            wrong = c.post("/scan", json={"body": "x"}, headers={"Authorization": "Bearer s3cret-tokem"})
            assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
            ok = c.post("/scan", json={"body": "x"}, headers={"Authorization": "Bearer s3cret-token"})
            assert ok.status_code == 200
            assert c.get("/healthz").status_code == 200  # liveness probes carry no token
    finally:
        live.stop()


def test_auth_on_without_a_token_refuses_to_start(monkeypatch):
    monkeypatch.delenv("HRM_DLP_TEST_TOKEN", raising=False)
    with pytest.raises(ValueError, match="HRM_DLP_TEST_TOKEN"):
        create_app(tiny_scanner(), ServiceSettings(require_auth=True, auth_token_env="HRM_DLP_TEST_TOKEN"))


def test_auth_is_off_by_default(client):
    assert client.post("/scan", json={"body": "x"}).status_code == 200


# ---------------------------------------------------------------------------- logs never hold content


def test_logs_never_contain_message_content(client, caplog, capfd):
    marker = "ZQX-marker-7f3a9c"
    caplog.set_level(logging.DEBUG)
    client.post(
        "/scan", json={"subject": marker, "body": f"secret {marker}", "recipients": [f"{marker}@x.example"]}
    )
    client.post(
        "/scan/batch", json={"messages": [{"body": marker, "attachments": [{"name": f"{marker}.pdf"}]}]}
    )
    client.post("/scan", json={"body": marker, "user": {"role": marker}})  # 422 path
    client.post(
        "/scan", content=f'{{"body": "{marker}'.encode(), headers={"content-type": "application/json"}
    )
    client.post("/scan", json={"body": marker * 2000})  # 413 path
    client.post("/scan", json={"body": marker, "thread_id": "t1"})
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert (
        "request_id=" in caplog.text and "POST /scan" in logged
    )  # the service and access logs were captured
    assert marker not in logged


# ---------------------------------------------------------------------------- fuzzing: never a 500

_json_scalar = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=30)
_json = st.recursive(
    _json_scalar,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=10,
)
_text = st.text(max_size=60)
_attachment = st.fixed_dictionaries(
    {"name": _text}, optional={"mime": _text | _json, "size": st.integers(-5, 2**40) | _json}
)
_user = st.fixed_dictionaries({}, optional={"role": st.sampled_from(["LEGAL", "ENG", "OTHER", "x"]) | _json, "dept": _text, "seniority": st.sampled_from(["MID", "EXEC"]) | _json})  # fmt: skip
_message = st.fixed_dictionaries(
    {},
    optional={
        "id": _text | _json, "thread_id": _text | _json, "channel": st.sampled_from(["email", "chat", "pr", "upload", "fax"]),
        "user": _user | _json, "recipients": st.lists(_text, max_size=3) | _json, "subject": _text | _json,
        "body": _text | _json, "attachments": st.lists(_attachment, max_size=2) | _json, "links": st.lists(_text, max_size=2),
        "meta": st.fixed_dictionaries({}, optional={"org_domains": st.lists(_text, max_size=2)}) | _json,
        "extra_key": _json,
    },
)  # fmt: skip


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(payload=_message | _json, batch=st.booleans())
def test_generated_requests_never_get_a_500(client, payload, batch):
    path, body = ("/scan/batch", {"messages": [payload]}) if batch else ("/scan", payload)
    r = client.post(path, content=json.dumps(body).encode(), headers={"content-type": "application/json"})
    assert r.status_code in (200, 413, 422), r.text
    assert r.headers["content-type"] == "application/json"


class BrokenEngine:
    name, fixed_batch, fixed_len = "broken", None, None

    def run(self, input_ids, attention_mask, memory_seed):
        raise RuntimeError("engine failed on ZQX-broken-marker")


def test_an_internal_failure_is_a_json_error_with_request_id_and_type_only_logged(caplog):
    caplog.set_level(logging.INFO)
    scanner = Scanner(BrokenEngine(), tiny_tokenizer(), SeedRulePolicy(), max_len=TINY_MAX_LEN)
    live = LiveServer(create_app(scanner))
    try:
        with httpx.Client(base_url=live.url, timeout=10) as c:
            r = c.post("/scan", json={"body": "x"})
    finally:
        live.stop()
    assert r.status_code == 500 and r.json() == {
        "error": "internal error",
        "request_id": r.headers["x-request-id"],
    }
    assert "RuntimeError" in caplog.text and "ZQX-broken-marker" not in caplog.text
