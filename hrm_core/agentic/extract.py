"""From Claude's answer to a contract `Example`: find the values, check the labels, drop duplicates.

The model says *which* values are sensitive; the code says *where*. Each returned value is located
in the body (every occurrence, non-overlapping, sorted); a value the model paraphrased is repaired
when a case- or whitespace-insensitive match finds it, otherwise the message is rejected. Labels
are checked against the content rules of the synthetic generator. Every rejection carries one of
`REJECTION_REASONS`, so the audit table can count them.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from hrm_core.agentic.agents import EMIT_TOOL_NAME, SPECIALISTS
from hrm_core.agentic.plan import Task
from hrm_core.data.contract import DOC_HEADS, SPAN_TYPES, ContractError, Example, validate_example

REJECTION_REASONS: tuple[str, ...] = (
    "api_error",  # the request failed after every retry
    "no_tool_use",  # no emit_message call and no parseable JSON in the text
    "malformed_output",  # tool input missing fields or of the wrong types
    "value_not_found",  # a returned value is nowhere in the body, even after repair
    "label_contradiction",  # labels disagree with the content rules
    "contract_error",  # the assembled example breaks the data contract
    "duplicate",  # same content hash as an accepted example
    "near_duplicate",  # same normalised body as an accepted example
    "judge_rejected",  # the judge scored realism or label correctness too low
)
# Types whose presence makes a message sensitive under the content rules.
STRONG_TYPES = frozenset({"PAN", "SSN", "SECRET", "DBURI", "NDA", "MATTER"})


class Rejected(Exception):
    """A generated message that does not become an example; `reason` is one of REJECTION_REASONS."""

    def __init__(self, reason: str, detail: str = ""):
        assert reason in REJECTION_REASONS, reason
        self.reason = reason
        self.detail = detail  # never message content: types, counts and field names only
        super().__init__(f"{reason}: {detail}" if detail else reason)


def tool_input(message: dict[str, Any]) -> dict[str, Any]:
    """The `emit_message` tool input of a Messages API response; a JSON text block is accepted as fallback."""
    content = message.get("content") or []
    for block in content:
        if block.get("type") == "tool_use" and block.get("name") == EMIT_TOOL_NAME:
            if isinstance(block.get("input"), dict):
                return block["input"]
            raise Rejected("malformed_output", "tool input is not an object")
    text = "".join(b.get("text", "") for b in content if b.get("type") == "text").strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise Rejected("no_tool_use", f"stop_reason={message.get('stop_reason')}") from None
    if not isinstance(data, dict):
        raise Rejected("no_tool_use", "JSON text is not an object")
    return data


def _occurrences(body: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in pattern.finditer(body) if m.end() > m.start()]


def find_value(body: str, value: str) -> tuple[list[tuple[int, int]], bool]:
    """Every non-overlapping occurrence of `value` in `body`, and whether a repair was needed.

    Exact match first; then case-insensitive with any run of whitespace matching any other (the
    model often re-wraps or re-cases what it copies). Empty list when it is not there at all.
    """
    value = value.strip()
    if not value:
        return [], False
    exact = _occurrences(body, re.compile(re.escape(value)))
    if exact:
        return exact, False
    loose = r"\s+".join(re.escape(part) for part in value.split())
    return _occurrences(body, re.compile(loose, re.IGNORECASE)), True


def locate_spans(body: str, values: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Spans for `values` (type, value): sorted, non-overlapping; returns (spans, repaired values).

    Raises `Rejected("value_not_found")` when a value is absent. Where two values overlap (a NAME
    inside an EMAIL), the longer span wins, as a tagger can only emit one tag per character.
    """
    found: list[tuple[int, int, str]] = []
    repaired = 0
    for i, v in enumerate(values):
        if v.get("type") not in SPAN_TYPES or not isinstance(v.get("value"), str):
            raise Rejected("malformed_output", f"values[{i}] has no valid type/value")
        hits, was_repaired = find_value(body, v["value"])
        if not hits:
            raise Rejected("value_not_found", f"values[{i}] ({v['type']}) not in body")
        repaired += int(was_repaired)
        found.extend((s, e, v["type"]) for s, e in hits)
    # Longest first, then leftmost: keep a span only if it overlaps nothing kept so far.
    kept: list[tuple[int, int, str]] = []
    for s, e, t in sorted(set(found), key=lambda x: (-(x[1] - x[0]), x[0])):
        if all(e <= ks or s >= ke for ks, ke, _ in kept):
            kept.append((s, e, t))
    return [{"type": t, "start": s, "end": e} for s, e, t in sorted(kept)], repaired


def _rule_labels(example: Example, obfuscations: list[Any]) -> dict[str, int | None]:
    """The labels the synthetic generator's documented rules give this content (hrm_core.synth.labels).

    Context is left unchecked (None): its rules recognise legitimate destinations (outside counsel,
    payroll, payment processor) by the generator's fixed partner domains, which model-written messages
    do not use, so checking it would reject sound examples. The judge pass scores context instead.
    """
    from hrm_core.synth.labels import derive_labels

    probe = example.model_copy(deep=True)
    probe.meta.obfuscations = list(obfuscations)  # type: ignore[attr-defined]  # meta allows extra keys
    return {**derive_labels(probe), "context": None}


def label_contradictions(example: Example, obfuscations: list[Any]) -> list[str]:
    """Heads whose label contradicts the content rules (empty when consistent)."""
    derived = _rule_labels(example, obfuscations)
    return [h for h in DOC_HEADS if derived.get(h) is not None and getattr(example.labels, h) != derived[h]]


def build_example(
    task: Task, turn: int, data: dict[str, Any], org_domain: str, run_id: str
) -> tuple[Example, dict[str, Any]]:
    """Assemble, locate and check one generated message; returns (example, extraction stats)."""
    body, labels = data.get("body"), data.get("labels")
    if not isinstance(body, str) or not body.strip() or not isinstance(labels, dict):
        raise Rejected("malformed_output", "body or labels missing")
    values = data.get("values") or []
    obfuscations = data.get("obfuscations") or []
    if not isinstance(values, list) or not isinstance(obfuscations, list):
        raise Rejected("malformed_output", "values/obfuscations are not lists")
    spans, repaired = locate_spans(body, values)
    for i, ob in enumerate(obfuscations):
        if not isinstance(ob, dict) or not find_value(body, str(ob.get("value", "")))[0]:
            raise Rejected("value_not_found", f"obfuscations[{i}] not in body")
    spec = SPECIALISTS[task.cell.domain]
    seniority = ("JUNIOR", "MID", "SENIOR")[task.index % 3]
    raw = {
        "id": f"agentic-{run_id}-{task.index:07d}-{turn}",
        "thread_id": task.thread_id,
        "channel": task.cell.channel,
        "user": {"role": spec.role, "dept": spec.dept, "seniority": seniority},
        "recipients": data.get("recipients") or [],
        "subject": data.get("subject") or "",
        "body": body,
        "attachments": data.get("attachments") or [],
        "links": data.get("links") or [],
        "labels": {h: labels.get(h) for h in DOC_HEADS},
        "spans": spans,
        "meta": {
            "org_domains": [org_domain],
            "source": "agentic",
            "agent": task.cell.domain,
            "difficulty": task.cell.difficulty,
            "turn": turn,
            "obfuscation_kinds": sorted({str(o.get("technique")) for o in obfuscations}),
        },
    }
    try:
        example = validate_example(raw)
    except ContractError as err:
        # Field paths only: the reasons could quote content, so keep the part before the colon.
        raise Rejected("contract_error", ",".join(r.split(":", 1)[0] for r in err.reasons)) from None
    bad = label_contradictions(example, obfuscations)
    if bad:
        raise Rejected("label_contradiction", ",".join(bad))
    return example, {"values": len(values), "spans": len(spans), "repaired": repaired}


def normalized_body_hash(body: str) -> str:
    """Hash of the body with case, punctuation, whitespace and digits folded: catches template twins."""
    text = unicodedata.normalize("NFKC", body).lower()
    text = re.sub(r"\d", "0", text)
    text = re.sub(r"[^\w]+", " ", text).strip()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Deduper:
    """Accepted content hashes and normalised-body hashes; `check` raises on a repeat."""

    hashes: set[str]
    bodies: set[str]

    @classmethod
    def empty(cls) -> Deduper:
        return cls(set(), set())

    def check(self, example: Example) -> None:
        if example.content_hash() in self.hashes:
            raise Rejected("duplicate")
        if normalized_body_hash(example.body) in self.bodies:
            raise Rejected("near_duplicate")

    def add(self, example: Example) -> None:
        self.hashes.add(example.content_hash())
        self.bodies.add(normalized_body_hash(example.body))
