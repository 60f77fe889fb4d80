"""The scan service: FastAPI over a `Scanner`, with limits, optional auth and content-free logs.

    POST /scan         one message            -> the scan result (SPEC "Scanner and service")
    POST /scan/batch   {"messages": [...]}    -> {"results": [...]}, in input order
    GET  /healthz      liveness + model version (never needs a token)
    POST /warmup       runs one tiny message through the model
    GET  /openapi.json the schema

Limits, checked in this order: body size (413, from Content-Length and then a bounded read, before
any JSON parsing), auth (401), schema (422 naming the field), batch size (422), pending scans (503)
and a per-request deadline (504). Scans run on a small thread pool, so a slow model never blocks the
event loop; a scan past its deadline is answered 504 and its thread finishes in the background.

Logs carry the request id, method, path, status, sizes, timing and decisions: never a message field.
Exceptions are logged by type only, because their text can quote the input.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import threading
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

from hrm_core.serve.scanner import Scanner, ScanRequest

log = logging.getLogger("hrm_dlp.service")
_bearer = HTTPBearer(auto_error=False)  # module level: FastAPI resolves dependency annotations here
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class ServiceSettings:
    """Service limits and auth; the defaults suit one 2 KB-message model on a small CPU box."""

    max_body_bytes: int = 2 * 1024 * 1024
    max_batch: int = 32
    timeout_s: float = 10.0
    workers: int = 2  # scan threads; each ONNX run already uses the session's intra-op threads
    max_pending: int = 256  # scans queued or running before new ones get 503
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

    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail


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
    """413 for a body over ``max_bytes``: by Content-Length first, then by counting a bounded read."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
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

    async def _too_large(self, send: Send, request_id: str | None) -> None:
        error = f"request body larger than {self.max_bytes} bytes"
        start, body = _json_bytes(413, {"error": error, "request_id": request_id})
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
    pending, pending_lock = [0], threading.Lock()

    def check_auth(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        if not settings.require_auth:
            return
        given = creds.credentials.encode() if creds is not None else b""
        if not hmac.compare_digest(given, token.encode()):  # constant time: no token-prefix oracle
            raise ServiceError(401, "missing or invalid bearer token")

    async def run_scan(request: Request, fn: Any, *args: Any) -> Any:
        with pending_lock:
            if pending[0] >= settings.max_pending:
                raise ServiceError(503, "scanner overloaded, retry later")
            pending[0] += 1

        def release(_: Any) -> None:
            with pending_lock:
                pending[0] -= 1

        future = pool.submit(fn, *args)
        future.add_done_callback(release)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), settings.timeout_s)
        except TimeoutError:
            raise ServiceError(504, f"scan took longer than {settings.timeout_s:g} s") from None

    app = FastAPI(
        title="hrm-dlp scanner",
        description="DLP scan of outgoing messages: scores, spans, decision.",
        version=scanner.model_version,
    )
    app.state.scanner, app.state.settings = scanner, settings
    auth = [Depends(check_auth)]

    @app.post("/scan", response_model=ScanResponse, dependencies=auth)
    async def scan(message: ScanRequest, request: Request) -> dict:
        result = await run_scan(request, scanner.scan, message)
        request.state.decisions = [result["decision"]]
        return result

    @app.post("/scan/batch", response_model=BatchResponse, dependencies=auth)
    async def scan_batch(batch: BatchRequest, request: Request) -> dict:
        if len(batch.messages) > settings.max_batch:
            detail = [{"field": "messages", "message": f"at most {settings.max_batch} messages per batch"}]
            raise ServiceError(422, "invalid request", detail)
        results = await run_scan(request, scanner.scan_batch, batch.messages)
        request.state.decisions = [r["decision"] for r in results]
        return {"results": results}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "model_version": scanner.model_version, "backend": scanner.engine.name}

    @app.post("/warmup", dependencies=auth)
    async def warmup(request: Request) -> dict:
        return {"warmup_ms": round(await run_scan(request, scanner.warmup), 3)}

    def error(request: Request, status: int, message: str, detail: Any = None) -> JSONResponse:
        payload: dict[str, Any] = {"error": message, "request_id": getattr(request.state, "request_id", None)}
        if detail is not None:
            payload["detail"] = detail
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(payload, status_code=status, headers=headers)

    @app.exception_handler(ServiceError)
    async def on_service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return error(request, exc.status, exc.error, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The field and the reason, never the offending input (pydantic's "input" would echo content).
        detail = [{"field": _field_path(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
        return error(request, 422, "invalid request", detail)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
        return error(request, exc.status_code, str(exc.detail))

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)  # added last = outermost: sees every response
    return app
