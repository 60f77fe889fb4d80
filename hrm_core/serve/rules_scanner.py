"""The rules engine as a scanner: what `hrm-dlp scan` and `serve` answer with before any model is promoted.

The champion gate refuses a model until it beats the regex baseline, so a fresh install has no
champion. Scanning must still work: `RulesScanner` runs the baseline's recognizers (patterns plus
Luhn / SSN / entropy validators, `hrm_core.rules.regex_baseline`) and answers in the Scanner's
response shape, with the default decision policy. It says what it is in ``model_version`` and keeps
no memory (``memory.vec`` is empty). Spans cover the body only: the baseline does not tag headers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from hrm_core.data.contract import DOC_HEADS, SPAN_TYPES
from hrm_core.release.policy import Policy, load_policy
from hrm_core.rules.regex_baseline import SEVERITY, RegexBaseline
from hrm_core.serve.budget import ScanBudget
from hrm_core.serve.scanner import ScanRequest, parse_scan_request, redact_body

RULES_MODEL_VERSION = "rules-engine (no champion model; regex baseline recognizers)"


class RulesEngine:
    """Stands where a Scanner has its inference engine, so `/healthz` can name the backend."""

    name = "rules"


class RulesScanner:
    """`Scanner.scan` / `scan_batch` / `warmup` over the regex baseline; stateless and thread-safe."""

    seconds_per_token: float | None = None  # no model: the service prices its work at nothing

    def __init__(self, policy: Policy | None = None, model_version: str = RULES_MODEL_VERSION) -> None:
        self.baseline = RegexBaseline()
        self.policy = policy or load_policy()
        self.engine = RulesEngine()
        self.model_version = model_version

    def scan(self, message: Any, thread_id: str | None = None) -> dict[str, Any]:
        """Scan one message (dict, `ScanRequest` or `Example`); ``thread_id`` is accepted and unused."""
        return self.scan_batch([message])[0]

    def scan_batch(
        self,
        messages: Sequence[Any],
        thread_ids: Sequence[str | None] | None = None,
        *,
        budget: ScanBudget | None = None,
    ) -> list[dict[str, Any]]:
        """Scan messages one by one (rules need no batching); results in input order.

        A ``budget`` is checked before each message (`ScanCancelled` past its deadline).
        """
        t0 = time.perf_counter()
        results = []
        for m in messages:
            if budget is not None:
                budget.check()
            results.append(self._scan_one(m))
        latency_ms = round((time.perf_counter() - t0) * 1000 / max(1, len(results)), 3)
        for r in results:
            r["latency_ms"] = latency_ms
        return results

    def estimate_windows(self, messages: Sequence[ScanRequest]) -> int:
        return 0  # no model windows

    def warmup(self) -> float:
        t0 = time.perf_counter()
        self.scan_batch([{"body": "warmup"}])
        return (time.perf_counter() - t0) * 1000

    def _scan_one(self, message: Any) -> dict[str, Any]:
        request = parse_scan_request(message)
        prediction = self.baseline.predict(request.to_example())
        scores = {h: round(float(prediction.doc_scores[h]), 6) for h in DOC_HEADS}
        spans = [
            {"type": t, "field": "body", "index": 0, "start": s, "end": e, "score": SEVERITY[t]}
            for t, s, e in prediction.spans
        ]
        decision, rationale = self.policy.decide(scores, spans)
        found = {s["type"] for s in spans}
        return {
            "id": request.id,
            "scores": scores,
            "spans": spans,
            "memory": {"vec": "", "flags": {f"has_{t.lower()}": t in found for t in SPAN_TYPES}},
            "decision": decision,
            "rationale": list(rationale),
            "redacted_body": redact_body(request.body, spans),
            "model_version": self.model_version,
        }
