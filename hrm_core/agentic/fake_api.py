"""A stand-in for the Anthropic API over `httpx2.MockTransport`, for tests and the mocked benchmark run.

It answers with the real JSON shapes of the Messages API (``type: "message"``, ``tool_use`` content
blocks, ``usage``, ``stop_reason``) and of the Message Batches API (create / retrieve / cancel and
the JSONL results stream), so the real `anthropic` SDK parses everything as it would in production.
Generated messages follow the labels asked for in the prompt. `fault(seed, request)` may turn an
answer into a known bad one (one of `FAULTS`), and `errors` makes the next message calls fail with
the given HTTP statuses (e.g. ``[429]`` for one rate limit before success). Nothing leaves the process.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import anthropic
import httpx2

FAULTS: tuple[str, ...] = (
    "no_tool_use", "bad_tool_input", "value_not_found", "label_contradiction", "duplicate", "judge_low",
)  # fmt: skip
_WORDS = [
    "invoice",
    "quarterly",
    "renewal",
    "vendor",
    "ledger",
    "audit",
    "roadmap",
    "onboarding",
    "escrow",
    "payroll",
    "badge",
    "rollout",
    "staging",
    "hotfix",
    "retention",
    "forecast",
    "kickoff",
    "offsite",
    "budget",
    "review",
    "memo",
    "draft",
    "counsel",
    "approval",
    "sprint",
    "backlog",
    "migration",
    "handover",
    "rotation",
    "triage",
    "ticket",
    "policy",
    "template",
    "archive",
    "planning",
    "intake",
    "summary",
    "notes",
]
_ISO = "2025-01-01T00:00:00Z"


def _unique_words(seed: str, n: int = 7) -> str:
    h = hashlib.sha256(seed.encode()).digest()
    return " ".join(_WORDS[b % len(_WORDS)] for b in h[:n])


def fake_emit_input(prompt: str, fault: str | None = None) -> dict[str, Any]:
    """A plausible `emit_message` input meeting the labels the prompt asks for (or `fault`'s bad variant)."""
    labels = {
        h: int(v) for h, v in re.findall(r"- (sensitivity|exposure|context|obfuscation) = ([01])", prompt)
    }
    org = (re.findall(r"organisation (\S+?)\.\n", prompt) or ["acme-corp.example"])[-1]
    seed = (re.findall(r"Variation seed: (\S+) ", prompt) or ["0"])[-1]
    words = _unique_words(seed) if fault != "duplicate" else "the same canned message every time"
    parts = [f"Hi team, a note about {words}."]
    values: list[dict[str, str]] = []
    obfuscations: list[dict[str, str]] = []
    if labels.get("sensitivity"):
        parts.append("Employee SSN is 123-45-6789 for the payroll form.")
        values.append({"type": "SSN", "value": "123-45-6789"})
    if labels.get("obfuscation"):
        parts.append("Reference blob: MTIzLTQ1LTY3ODk= as requested.")
        obfuscations.append({"technique": "base64", "value": "MTIzLTQ1LTY3ODk="})
        if labels.get("sensitivity"):
            values.append({"type": "SSN", "value": "MTIzLTQ1LTY3ODk="})
    parts.append("Thanks, Dana")
    recipients = ["partner@fabrikam.example"] if labels.get("exposure") else [f"ops@{org}"]
    if fault == "value_not_found":
        values.append({"type": "PAN", "value": "4111 1111 1111 1111"})
    if fault == "label_contradiction":
        labels["exposure"] = 1 - labels.get("exposure", 0)
    return {
        "subject": f"Re: {words.split()[0]}",
        "body": " ".join(parts),
        "recipients": recipients,
        "attachments": [],
        "links": [],
        "values": values,
        "labels": {h: labels.get(h, 0) for h in ("sensitivity", "exposure", "context", "obfuscation")},
        "obfuscations": obfuscations,
    }


def message_json(
    content: list[dict[str, Any]], model: str, in_tok: int, out_tok: int, n: int
) -> dict[str, Any]:
    """A Messages API response body."""
    stop = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
    return {
        "id": f"msg_fake{n:06d}", "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": stop, "stop_sequence": None, "usage": {"input_tokens": in_tok, "output_tokens": out_tok},
    }  # fmt: skip


class FakeClaude:
    """Serves /v1/messages and /v1/messages/batches*; counts every request that reaches it."""

    def __init__(
        self,
        fault: Callable[[str, dict[str, Any]], str | None] | None = None,
        batch_polls_to_end: int | None = 1,
    ):
        self.fault = fault or (lambda seed, req: None)
        self.batch_polls_to_end = batch_polls_to_end  # None: a batch never ends (forces the timeout path)
        self.errors: list[int] = []
        self.requests: list[tuple[str, str]] = []
        self.seen: list[dict[str, Any]] = []  # every message request body answered
        self.batches: dict[str, dict[str, Any]] = {}
        self._n = 0

    def client(self) -> anthropic.Anthropic:
        """A real SDK client wired to this fake; SDK retries off, as `MessageClient` does its own."""
        transport = httpx2.MockTransport(self.handler)
        return anthropic.Anthropic(
            api_key="test", max_retries=0, http_client=httpx2.Client(transport=transport)
        )

    @property
    def message_calls(self) -> int:
        return sum(1 for m, p in self.requests if m == "POST" and p == "/v1/messages")

    def answer(self, req: dict[str, Any]) -> dict[str, Any]:
        """The Messages API answer to one request body."""
        self._n += 1
        self.seen.append(req)
        prompt = req["messages"][-1]["content"]
        seed = (re.findall(r"Variation seed: (\S+) ", prompt) or [""])[-1]
        fault = self.fault(seed, req)
        tool = req["tools"][0]["name"]
        if tool == "score_example":
            data: dict[str, Any] = {
                "realism": 1 if fault == "judge_low" else 4,
                "labels_correct": dict.fromkeys(("sensitivity", "exposure", "context", "obfuscation"), True),
                "spans_correct": True,
            }
        else:
            data = fake_emit_input(prompt, fault)
        content: list[dict[str, Any]]
        if fault == "no_tool_use":
            content = [{"type": "text", "text": '{"body": "unterminated'}]
        elif fault == "bad_tool_input" and tool != "score_example":
            content = [
                {"type": "tool_use", "id": f"toolu_{self._n}", "name": tool, "input": {"subject": "x"}}
            ]
        else:
            content = [{"type": "tool_use", "id": f"toolu_{self._n}", "name": tool, "input": data}]
        return message_json(
            content, req["model"], len(prompt) // 4 + 400, len(json.dumps(data)) // 4, self._n
        )

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        self.requests.append((request.method, path))
        if request.method == "POST" and path == "/v1/messages":
            if self.errors:
                status = self.errors.pop(0)
                kind = (
                    "overloaded_error"
                    if status == 529
                    else "rate_limit_error"
                    if status == 429
                    else "api_error"
                )
                body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": "fake failure"}}
                return httpx2.Response(status, json=body, headers={"retry-after": "0"})
            return httpx2.Response(200, json=self.answer(json.loads(request.content)))
        if request.method == "POST" and path == "/v1/messages/batches":
            reqs = json.loads(request.content)["requests"]
            bid = f"msgbatch_fake{len(self.batches):04d}"
            self.batches[bid] = {"requests": reqs, "polls": 0, "status": "in_progress"}
            return httpx2.Response(200, json=self._batch_json(bid))
        m = re.fullmatch(r"/v1/messages/batches/([\w-]+)(/cancel|/results)?", path)
        if m:
            bid, tail = m.group(1), m.group(2)
            b = self.batches[bid]
            if tail == "/cancel":
                b["status"] = "canceling"
            elif tail == "/results":
                lines = [
                    json.dumps(
                        {
                            "custom_id": r["custom_id"],
                            "result": {"type": "succeeded", "message": self.answer(r["params"])},
                        }
                    )
                    for r in b["requests"]
                ]
                return httpx2.Response(
                    200, content="\n".join(lines).encode(), headers={"content-type": "application/binary"}
                )
            elif b["status"] == "in_progress":
                b["polls"] += 1
                if self.batch_polls_to_end is not None and b["polls"] >= self.batch_polls_to_end:
                    b["status"] = "ended"
            return httpx2.Response(200, json=self._batch_json(bid))
        return httpx2.Response(
            404, json={"type": "error", "error": {"type": "not_found_error", "message": path}}
        )

    def _batch_json(self, bid: str) -> dict[str, Any]:
        b = self.batches[bid]
        n, ended = len(b["requests"]), b["status"] == "ended"
        return {
            "id": bid, "type": "message_batch", "processing_status": b["status"],
            "request_counts": {"processing": 0 if ended else n, "succeeded": n if ended else 0, "errored": 0,
                               "canceled": 0, "expired": 0},
            "created_at": _ISO, "expires_at": "2025-01-02T00:00:00Z", "ended_at": _ISO if ended else None,
            "cancel_initiated_at": _ISO if b["status"] == "canceling" else None, "archived_at": None,
            "results_url": f"https://api.anthropic.com/v1/messages/batches/{bid}/results" if ended else None,
        }  # fmt: skip
