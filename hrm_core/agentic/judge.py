"""The optional judge pass: a second Claude call that scores realism and label correctness.

The judge sees the message as the scanner would (DSL text) plus the labels and tagged values, and
answers through the `score_example` tool. Its requests go through the same `MessageClient`, so
they are cached and batched like generation requests. An example is rejected ("judge_rejected")
when realism is below `min_realism` or the judge disagrees with any label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hrm_core.agentic.agents import HEAD_MEANINGS
from hrm_core.data.contract import DOC_HEADS, Example
from hrm_core.data.dsl import serialize_example

JUDGE_TOOL_NAME = "score_example"
JUDGE_TOOL: dict[str, Any] = {
    "name": JUDGE_TOOL_NAME,
    "description": "Score one labeled DLP training example.",
    "input_schema": {
        "type": "object",
        "properties": {
            "realism": {"type": "integer", "minimum": 1, "maximum": 5,
                        "description": "1 = obviously synthetic, 5 = indistinguishable from real mail."},
            "labels_correct": {"type": "object", "properties": {h: {"type": "boolean"} for h in DOC_HEADS},
                               "required": list(DOC_HEADS)},
            "spans_correct": {"type": "boolean"},
        },
        "required": ["realism", "labels_correct", "spans_correct"],
    },
}  # fmt: skip
JUDGE_SYSTEM = (
    "You review labeled training examples for a data-loss-prevention model. Be strict: judge realism as a "
    "security analyst reading real corporate traffic, and check every label against its definition:\n"
    + "\n".join(f"- {h}: {m}" for h, m in HEAD_MEANINGS.items())
    + "\nAnswer only by calling the score_example tool."
)


@dataclass(frozen=True)
class JudgeScore:
    realism: int
    label_agreement: float  # share of the four heads the judge agrees with
    spans_correct: bool

    def passes(self, min_realism: int) -> bool:
        return self.realism >= min_realism and self.label_agreement == 1.0


def build_judge_request(example: Example, model: str, max_tokens: int = 256) -> dict[str, Any]:
    """`messages.create` kwargs asking the judge to score `example`."""
    values = "\n".join(f"- {s.type}: {example.body[s.start : s.end]}" for s in example.spans) or "- (none)"
    labels = ", ".join(f"{h}={getattr(example.labels, h)}" for h in DOC_HEADS)
    prompt = (
        f"Message:\n{serialize_example(example).text}\n\nLabels: {labels}\nTagged values:\n{values}\n"
        "Score it."
    )
    return {
        "model": model,
        "max_tokens": max_tokens,
        "system": JUDGE_SYSTEM,
        "messages": [{"role": "user", "content": prompt}],
        "tools": [JUDGE_TOOL],
        "tool_choice": {"type": "tool", "name": JUDGE_TOOL_NAME},
    }


def parse_judge(message: dict[str, Any]) -> JudgeScore | None:
    """The judge's score, or None when the answer has no usable tool call (the example is then kept)."""
    for block in message.get("content") or []:
        if block.get("type") == "tool_use" and block.get("name") == JUDGE_TOOL_NAME:
            data = block.get("input") or {}
            try:
                agree = data["labels_correct"]
                return JudgeScore(
                    realism=int(data["realism"]),
                    label_agreement=sum(bool(agree.get(h)) for h in DOC_HEADS) / len(DOC_HEADS),
                    spans_correct=bool(data.get("spans_correct", True)),
                )
            except (KeyError, TypeError, ValueError, AttributeError):
                return None
    return None
