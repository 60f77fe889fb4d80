"""The scan service: FastAPI over a `Scanner`, with limits, optional auth and content-free logs.

    POST /scan         one message            -> the scan result (SPEC "Scanner and service")
    POST /scan/batch   {"messages": [...]}    -> {"results": [...]}, in input order
    GET  /healthz      liveness + model version (never needs a token)
    POST /warmup       runs one tiny message through the model
    GET  /openapi.json the schema

Limits, checked in this order: body size (413, from Content-Length and then a bounded read, before
any JSON parsing), auth (401), schema (422 naming the field), batch size (422), admission (503 with
``Retry-After``: `hrm_core.serve.admission`), the request's window allowance (413: more windows than
its deadline allows on this machine) and its deadline (504). Scans run on a small thread pool, so a
slow model never blocks the event loop.

Degrade, never collapse: each request carries a `ScanBudget` (its deadline, its window allowance)
that the scanner checks between window batches. A request answered 504, or whose client went away,
is cancelled there, so its thread is free again within one window batch instead of finishing the
scan for nobody; work waiting for a thread is admitted only while it can finish in time, so a burst
gets quick 503s instead of a backlog that answers every later request 504. Memory per request is
bounded: the body by ``max_body_bytes``, the model work by the window allowance (a message over it
is refused from a lower bound on its token count, before it is tokenized).

Logs carry the request id, method, path, status, sizes, timing and decisions: never a message field.
Exceptions are logged by type only, because their text can quote the input.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hrm_core.serve.admission import Admission, Overloaded
from hrm_core.serve.budget import ScanBudget, ScanCancelled, ScanTooLong
from hrm_core.serve.scanner import Scanner, ScanRequest

log = logging.getLogger("hrm_dlp.service")
_bearer = HTTPBearer(auto_error=False)  # module level: FastAPI resolves dependency annotations here
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class ServiceSettings:
    """Service limits and auth; the defaults suit the cpu-small model on a 2-core CPU box."""

    max_body_bytes: int = 2 * 1024 * 1024
    max_batch: int = 32
    # The deadline of each request: its answer comes within it (200, or 504 with the work stopped),
    # and it sets the longest message served (`allowance_windows`): 30 s lets a 300 KB message
    # (~350 windows of 512 tokens, 10-18 s on 2 shared cores) through. See README "Service limits".
    timeout_s: float = 30.0
    max_wait_s: float = 5.0  # longest expected wait for a scan thread before 503 + Retry-After
    workers: int = 2  # scan threads; they share the engine's model runs (one per core)
    max_pending: int = 32  # scans admitted (waiting or running) before new ones get 503
    drain_bytes: int = (
        32 * 1024 * 1024
    )  # a body over the limit is read and dropped up to this, for a clean 413
    require_auth: bool = False
    auth_token_env: str = "HRM_DLP_API_TOKEN"
    backend: str = "int8"


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: Annotated[list[ScanRequest], Field(min_length=1)]


class SpanOut(BaseModel):
    type: str
    field: str
    index: int
    start: int
    end: int
    score: float


class MemoryOut(BaseModel):
    vec: str = Field(description="base64 of the float32 little-endian memory vector")
    flags: dict[str, bool]


class ScanResponse(BaseModel):
    id: str | None
    scores: dict[str, float]
    spans: list[SpanOut]
    memory: MemoryOut
    decision: str
    rationale: list[str]
    redacted_body: str
    model_version: str
    latency_ms: float


class BatchResponse(BaseModel):
    results: list[ScanResponse]


class ServiceError(Exception):
    """An error answered with a JSON body ``{"error", "request_id"[, "detail"]}``."""

    def __init__(self, status: int, error: str, detail: Any = None, headers: dict | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


# ---------------------------------------------------------------------------- ASGI middleware


def _json_bytes(status: int, payload: dict) -> tuple[dict, bytes]:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {"type": "http.response.start", "status": status, "headers": headers}, body


class RequestContextMiddleware:
    """Request id, one content-free log line per request, and the last-resort JSON 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SAFE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        t0, status, sent, bytes_out = time.perf_counter(), 500, False, 0

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent, bytes_out
            if message["type"] == "http.response.start":
                status, sent = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                bytes_out += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log.error("request_id=%s unhandled %s", request_id, type(exc).__name__)
            if not sent:
                start, body = _json_bytes(500, {"error": "internal error", "request_id": request_id})
                await send_with_id(start)
                await send_with_id({"type": "http.response.body", "body": body})
        state = scope["state"]
        log.info(
            "request_id=%s method=%s path=%s status=%d bytes_in=%d bytes_out=%d ms=%.1f decisions=%s",
            request_id, scope["method"], scope["path"], status, state.get("bytes_in", 0), bytes_out,
            (time.perf_counter() - t0) * 1000, ",".join(state.get("decisions", [])) or "-",
        )  # fmt: skip


class BodyLimitMiddleware:
    """413 for a body over ``max_bytes``, by Content-Length first, then by counting a bounded read.

    The 413 must reach a client that is still sending: closing a connection with unread data resets
    it, and the client sees a dropped connection instead of the answer. So the rest of the body is read
    and dropped first (never held), up to ``drain_bytes`` and ``drain_s``, and the answer closes the
    connection. A client that waits for ``100 Continue`` has sent nothing yet and is answered at once;
    one declaring more than ``drain_bytes`` is answered at once too (it may then see a reset).
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, drain_bytes: int = 32 << 20, drain_s: float = 10.0
    ) -> None:
        self.app, self.max_bytes, self.drain_bytes, self.drain_s = app, max_bytes, drain_bytes, drain_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id")
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        waits_for_continue = headers.get(b"expect", b"").lower() == b"100-continue"
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            drain = not waits_for_continue and declared.isdigit() and int(declared) <= self.drain_bytes
            if drain:
                await self._drain(receive)
            await self._too_large(send, request_id)
            return
        chunks, size, more = [], 0, True
        while more:  # at most max_bytes are ever held: a chunked upload past the limit stops here
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                if message.get("more_body", False):
                    await self._drain(receive)
                await self._too_large(send, request_id)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        scope["state"]["bytes_in"] = size
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _drain(self, receive: Receive) -> None:
        """Read and drop the rest of the body, up to ``drain_bytes`` and ``drain_s``."""

        async def drop() -> None:
            dropped = 0
            while dropped <= self.drain_bytes:
                message = await receive()
                if message["type"] == "http.disconnect" or not message.get("more_body", False):
                    return
                dropped += len(message.get("body", b""))

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(drop(), self.drain_s)

    async def _too_large(self, send: Send, request_id: str | None) -> None:
        error = f"request body larger than {self.max_bytes} bytes"
        start, body = _json_bytes(413, {"error": error, "request_id": request_id})
        start["headers"].append((b"connection", b"close"))
        await send(start)
        await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------------- the app


def _field_path(loc: tuple) -> str:
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)  # "body" here is the HTTP body
    path = ""
    for p in parts:
        path += f"[{p}]" if isinstance(p, int) else (f".{p}" if path else str(p))
    return path or "request"


def create_app(scanner_or_bundle_dir: Any, settings: ServiceSettings | None = None) -> FastAPI:
    """The FastAPI app over a scanner (`Scanner`, `RulesScanner`) or a bundle directory.

    A directory is loaded with ``settings.backend``; anything else is used as the scanner.
    """
    settings = settings or ServiceSettings()
    scanner = (
        Scanner.from_bundle(scanner_or_bundle_dir, backend=settings.backend)
        if isinstance(scanner_or_bundle_dir, str | Path)
        else scanner_or_bundle_dir
    )
    token = os.environ.get(settings.auth_token_env, "") if settings.require_auth else ""
    if settings.require_auth and not token:
        raise ValueError(f"auth is on but ${settings.auth_token_env} is empty")
    pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="scan")
    admission = Admission(settings.timeout_s, settings.workers, settings.max_pending, settings.max_wait_s)
    if getattr(scanner, "seconds_per_token", None) is None:
        try:
            scanner.warmup()  # measures the model (seconds per token of full windows) on this machine
        except Exception as exc:  # each scan will then answer 500 itself; the type only (no content)
            log.warning("warmup failed (%s): no window allowance until POST /warmup", type(exc).__name__)

    def check_auth(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        if not settings.require_auth:
            return
        given = creds.credentials.encode() if creds is not None else b""
        if not hmac.compare_digest(given, token.encode()):  # constant time: no token-prefix oracle
            raise ServiceError(401, "missing or invalid bearer token")

    def window_seconds() -> float:
        """Model seconds of one full window, measured by the scanner's warmup (0: not measured)."""
        per_token = getattr(scanner, "seconds_per_token", None) or 0.0
        return per_token * getattr(scanner, "max_len", 0)

    async def run_scan(request: Request, messages: list[ScanRequest]) -> list[dict]:
        """``scanner.scan_batch(messages)`` on the pool, admitted, within the deadline, cancellable."""
        window_s = window_seconds()
        try:
            ticket = admission.admit(scanner.estimate_windows(messages) * window_s)
        except Overloaded as busy:
            headers = {"Retry-After": str(busy.retry_after_s)}
            raise ServiceError(503, "scanner busy, retry later", headers=headers) from None
        budget = ScanBudget(settings.timeout_s, allowance_windows(settings.timeout_s, window_s))

        def work() -> list[dict]:
            admission.start(ticket)
            return scanner.scan_batch(messages, budget=budget)

        def finished(_: Any) -> None:  # also when cancelled before it started
            measured = budget.tokens_run * (getattr(scanner, "seconds_per_token", None) or 0.0)
            admission.finish(ticket, measured, budget.model_seconds)

        future = pool.submit(work)
        future.add_done_callback(finished)
        watch = asyncio.create_task(_cancel_on_disconnect(request, budget))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), settings.timeout_s)
        except (TimeoutError, ScanCancelled):
            budget.cancel()  # the thread stops at its next window batch
            raise ServiceError(504, f"scan took longer than {settings.timeout_s:g} s") from None
        except ScanTooLong as too_long:
            raise ServiceError(
                413, _too_long_message(too_long, settings.timeout_s), _too_long_detail(too_long)
            ) from None
        finally:
            watch.cancel()

    app = FastAPI(
        title="hrm-dlp scanner",
        description="DLP scan of outgoing messages: scores, spans, decision.",
        version=scanner.model_version,
    )
    app.state.scanner, app.state.settings = scanner, settings
    auth = [Depends(check_auth)]

    @app.post("/scan", response_model=ScanResponse, dependencies=auth)
    async def scan(message: ScanRequest, request: Request) -> dict:
        result = (await run_scan(request, [message]))[0]
        request.state.decisions = [result["decision"]]
        return result

    @app.post("/scan/batch", response_model=BatchResponse, dependencies=auth)
    async def scan_batch(batch: BatchRequest, request: Request) -> dict:
        if len(batch.messages) > settings.max_batch:
            detail = [{"field": "messages", "message": f"at most {settings.max_batch} messages per batch"}]
            raise ServiceError(422, "invalid request", detail)
        results = await run_scan(request, batch.messages)
        request.state.decisions = [r["decision"] for r in results]
        return {"results": results}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "model_version": scanner.model_version, "backend": scanner.engine.name}

    @app.post("/warmup", dependencies=auth)
    async def warmup(request: Request) -> dict:
        try:
            ticket = admission.admit(window_seconds() * getattr(scanner, "batch_size", 1))
        except Overloaded as busy:
            headers = {"Retry-After": str(busy.retry_after_s)}
            raise ServiceError(503, "scanner busy, retry later", headers=headers) from None

        def work() -> float:
            admission.start(ticket)
            try:
                return float(scanner.warmup())
            finally:
                admission.finish(ticket)

        return {"warmup_ms": round(await asyncio.wrap_future(pool.submit(work)), 3)}

    def error(
        request: Request, status: int, message: str, detail: Any = None, headers: dict | None = None
    ) -> JSONResponse:
        payload: dict[str, Any] = {"error": message, "request_id": getattr(request.state, "request_id", None)}
        if detail is not None:
            payload["detail"] = detail
        headers = {**(headers or {}), **({"WWW-Authenticate": "Bearer"} if status == 401 else {})}
        return JSONResponse(payload, status_code=status, headers=headers or None)

    @app.exception_handler(ServiceError)
    async def on_service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return error(request, exc.status, exc.error, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The field and the reason, never the offending input (pydantic's "input" would echo content).
        detail = [{"field": _field_path(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
        return error(request, 422, "invalid request", detail)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
        return error(request, exc.status_code, str(exc.detail))

    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, drain_bytes=settings.drain_bytes
    )
    app.add_middleware(RequestContextMiddleware)  # added last = outermost: sees every response
    return app


def allowance_windows(deadline_s: float, window_s: float) -> int | None:
    """Windows one request may take: what fits 90 % of its deadline on this machine (at least one;
    None when the model time is not measured). The rest covers tokenizing, decoding and the reply."""
    if window_s <= 0:
        return None
    return max(1, int(0.9 * deadline_s / window_s))


async def _cancel_on_disconnect(request: Request, budget: ScanBudget) -> None:
    """Cancel ``budget`` when the client goes away (the body is read: the next message is the disconnect)."""
    message = await request.receive()
    if message["type"] == "http.disconnect":
        budget.cancel()


def _too_long_message(err: ScanTooLong, deadline_s: float) -> str:
    at_least = "at least " if err.estimated else ""
    return (
        f"too long to scan within the {deadline_s:g} s deadline: {at_least}{err.windows} windows, at most "
        f"{err.max_windows} fit; split the message or batch, or use `hrm-dlp scan` (no deadline)"
    )


def _too_long_detail(err: ScanTooLong) -> list[dict]:
    return [{"field": "request", "message": f"{err.windows} windows > {err.max_windows}"}]
