"""Sending requests to Claude: disk cache, retries, concurrent requests, Message Batches with fallback.

`MessageClient.complete_all(requests)` takes `messages.create` kwargs dicts and returns, in order,
each response as the Messages API JSON (a dict) or the exception that ended it. Before anything
is sent, every request is looked up in the disk cache, keyed by a hash of the whole request (model,
system, messages, tools, tool_choice, max_tokens): a re-run, or a resume after a crash,
sends nothing it has already paid for.

What is not cached goes either as one Message Batch (half price, minutes to hours) or as concurrent
requests on a bounded thread pool. `mode="auto"` batches from `batch_min` requests up. A batch that
has not ended within `batch_timeout_s` is cancelled, and whatever did not succeed in it is sent
concurrently. Retries are ours, not the SDK's (the client is built with ``max_retries=0``): tenacity
on 429, 5xx and 529 overloaded, and on connection errors. The wait is what the API asks for in its
``retry-after-ms`` or ``retry-after`` header (seconds or an HTTP date, capped at `retry_after_max_s`),
as the SDK itself would do; without one (or with 0), exponential backoff with full jitter.
The API key is never stored here; the `anthropic.Anthropic` object holds it and its repr hides it.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path
from typing import Any, Literal

import anthropic
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from hrm_core.agentic.pricing import Usage

log = logging.getLogger(__name__)
Mode = Literal["batch", "concurrent", "auto"]
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class SpendLimitReached(RuntimeError):
    """The run's estimated spend reached the configured limit; nothing more is sent."""


def request_key(request: dict[str, Any]) -> str:
    """Stable hash of a request: canonical JSON of every field that changes the answer."""
    blob = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def is_retryable(exc: BaseException) -> bool:
    """429 rate limit, 5xx, 529 overloaded and dropped connections are worth another try."""
    if isinstance(exc, anthropic.APIStatusError):
        return exc.status_code in RETRY_STATUS or exc.status_code >= 500
    return isinstance(exc, anthropic.APIConnectionError)


def retry_after_seconds(exc: BaseException | None, now: Callable[[], float] = time.time) -> float | None:
    """The wait an API error's response asks for: ``retry-after-ms``, else ``retry-after`` as seconds
    or as an HTTP date (relative to `now`); None when there is no such header or it does not parse."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        try:
            return float(headers.get(name)) * scale
        except (TypeError, ValueError):
            pass
    try:
        when = email.utils.parsedate_to_datetime(headers.get("retry-after") or "")
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        when = when.replace(tzinfo=UTC)
    return when.timestamp() - now()


class ResponseCache:
    """One JSON file per request key under `root` (two-level fan-out), written atomically."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        p = self._path(key)
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError:  # a torn file from a crash outside our atomic write: treat as a miss
            return None

    def put(self, key: str, message: dict[str, Any]) -> None:
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:8]}.", suffix=".tmp", dir=p.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(message, fh, ensure_ascii=False)
        os.replace(tmp, p)


class MessageClient:
    """Cached, retried, batched access to the Messages API for one run; accumulates `usage`."""

    def __init__(
        self,
        client: anthropic.Anthropic,
        cache_dir: str | os.PathLike[str],
        model: str,
        concurrency: int = 8,
        mode: Mode = "auto",
        batch_min: int = 100,
        batch_timeout_s: float = 3600.0,
        batch_poll_s: float = 30.0,
        max_attempts: int = 6,
        backoff_max_s: float = 60.0,
        retry_after_max_s: float = 120.0,
        spend_limit_usd: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,  # for HTTP-date retry-after headers
    ):
        self._client = client
        self.cache = ResponseCache(cache_dir)
        self.model = model
        self.concurrency = max(1, concurrency)
        self.mode: Mode = mode
        self.batch_min = batch_min
        self.batch_timeout_s = batch_timeout_s
        self.batch_poll_s = batch_poll_s
        self.max_attempts = max_attempts
        self.backoff_max_s = backoff_max_s
        self.retry_after_max_s = retry_after_max_s
        self._backoff = wait_random_exponential(multiplier=1.0, max=backoff_max_s)
        self.spend_limit_usd = spend_limit_usd
        self.sleep = sleep
        self.clock = clock
        self.wall_clock = wall_clock
        self.usage = Usage()
        self.retries = 0
        self.batch_fallbacks = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # the wrapped SDK client holds the key; never show it
        return f"MessageClient(model={self.model!r}, mode={self.mode!r}, concurrency={self.concurrency})"

    # -- accounting -------------------------------------------------------------------------------

    def _record(self, message: dict[str, Any], batch: bool) -> None:
        u = message.get("usage") or {}
        with self._lock:
            self.usage.add(self.model, int(u.get("input_tokens", 0)), int(u.get("output_tokens", 0)), batch)

    def _check_budget(self) -> None:
        if self.spend_limit_usd is not None and self.usage.cost_usd >= self.spend_limit_usd:
            raise SpendLimitReached(
                f"estimated spend ${self.usage.cost_usd:.2f} reached the limit ${self.spend_limit_usd:.2f}"
            )

    # -- one request ------------------------------------------------------------------------------

    def _before_sleep(self, state: Any) -> None:
        with self._lock:
            self.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        status = getattr(exc, "status_code", type(exc).__name__)
        log.warning("Claude request failed (%s); retry %d", status, state.attempt_number)

    def _wait(self, state: RetryCallState) -> float:
        """Seconds before the next attempt: the API's ``retry-after`` (capped) when it gives one."""
        asked = retry_after_seconds(state.outcome.exception() if state.outcome else None, now=self.wall_clock)
        if asked is not None and asked > 0:
            return min(asked, self.retry_after_max_s)
        return self._backoff(state)

    def _send_one(self, request: dict[str, Any]) -> dict[str, Any]:
        self._check_budget()
        retrying = Retrying(
            retry=retry_if_exception(is_retryable),
            wait=self._wait,
            stop=stop_after_attempt(self.max_attempts),
            sleep=self.sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        message = retrying(lambda: self._client.messages.create(**request)).model_dump(mode="json")
        self._record(message, batch=False)
        return message

    def _complete_one(self, request: dict[str, Any], key: str) -> dict[str, Any] | Exception:
        try:
            message = self._send_one(request)
        except SpendLimitReached:
            raise
        except anthropic.APIError as exc:
            return exc
        self.cache.put(key, message)
        return message

    # -- many requests ----------------------------------------------------------------------------

    def complete_all(self, requests: list[dict[str, Any]]) -> list[dict[str, Any] | Exception]:
        """Responses for `requests`, in order: cache first, then one batch or concurrent calls."""
        keys = [request_key(r) for r in requests]
        results: list[dict[str, Any] | Exception | None] = [self.cache.get(k) for k in keys]
        self.usage.cache_hits += sum(r is not None for r in results)
        todo = [i for i, r in enumerate(results) if r is None]
        if todo and self._use_batch(len(todo)):
            for i, message in self._run_batch([requests[i] for i in todo], [keys[i] for i in todo]).items():
                results[todo[i]] = message
            todo = [i for i in todo if results[i] is None]
        if todo:
            self._check_budget()
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                futures = {i: pool.submit(self._complete_one, requests[i], keys[i]) for i in todo}
                for i, fut in futures.items():
                    results[i] = fut.result()
        return [r if r is not None else RuntimeError("no response") for r in results]

    def _use_batch(self, n: int) -> bool:
        return self.mode == "batch" or (self.mode == "auto" and n >= self.batch_min)

    def _run_batch(self, requests: list[dict[str, Any]], keys: list[str]) -> dict[int, dict[str, Any]]:
        """Submit one Message Batch; returns the succeeded responses by position (the rest fall back)."""
        self._check_budget()
        batches = self._client.messages.batches
        # custom_id: at most 64 of [a-zA-Z0-9_-]; position plus key prefix, so results map back.
        ids = [f"r{i}-{k[:40]}" for i, k in enumerate(keys)]
        # `params` are exactly the messages.create kwargs (a TypedDict the checker cannot see through).
        batch_requests: list[Any] = [
            {"custom_id": c, "params": r} for c, r in zip(ids, requests, strict=True)
        ]
        batch = batches.create(requests=batch_requests)
        started = self.clock()
        while batch.processing_status != "ended":
            if self.clock() - started > self.batch_timeout_s:
                log.warning("batch %s did not end within %.0f s; cancelling, falling back", batch.id,
                            self.batch_timeout_s)  # fmt: skip
                batches.cancel(batch.id)
                self.batch_fallbacks += 1
                return {}
            self.sleep(self.batch_poll_s)
            batch = batches.retrieve(batch.id)
        out: dict[int, dict[str, Any]] = {}
        position = {cid: i for i, cid in enumerate(ids)}
        for item in batches.results(batch.id):
            i = position.get(item.custom_id)
            if i is None or item.result.type != "succeeded":
                continue  # errored / expired / canceled: sent again concurrently
            message = item.result.message.model_dump(mode="json")
            self._record(message, batch=True)
            self.cache.put(keys[i], message)
            out[i] = message
        if len(out) < len(requests):
            self.batch_fallbacks += 1
        return out


API_KEY_ENV = "ANTHROPIC_API_KEY"
MISSING_KEY_MESSAGE = (
    f"{API_KEY_ENV} is not set. Agentic generation calls Claude: create a key at "
    f"https://console.anthropic.com/settings/keys, then `export {API_KEY_ENV}=sk-ant-...` in the shell that "
    "runs `dagster dev` or `hrm-dlp generate --agentic` (or put it in a .env file next to workspace.yaml). "
    "`hrm-dlp generate --agentic --dry-run` shows the plan and cost without a key."
)


def api_key_from_env() -> str:
    """The API key from the environment; raises with instructions when it is missing (never echoes it)."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise RuntimeError(MISSING_KEY_MESSAGE)
    return key


def anthropic_client(api_key: str, timeout_s: float = 120.0) -> anthropic.Anthropic:
    """The SDK client with its own retries off: `MessageClient` retries, so attempts are counted once."""
    return anthropic.Anthropic(api_key=api_key, max_retries=0, timeout=timeout_s)
