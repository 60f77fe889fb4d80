"""The decision policy: calibrated doc scores and detected spans -> ALLOW / WARN / BLOCK with a rationale.

The policy is a small YAML file (the default is `policy_default.yaml`, documented there): ordered
rules with score conditions, a default decision, and evidence lines for the rationale. It is data,
not code, so a security team can tighten it without retraining or redeploying the model.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hrm_core.data.contract import DOC_HEADS, SPAN_TYPES, Example, Span
from hrm_core.synth.labels import out_of_workflow

DEFAULT_POLICY_PATH = Path(__file__).with_name("policy_default.yaml")
# The spec calls the middle decision WARN; the scan response spells it out.
RESPONSE_DECISION = {"ALLOW": "ALLOW", "WARN": "ALLOW_WITH_WARNING", "BLOCK": "BLOCK"}
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_CONDITION = re.compile(r"^\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*$")

Decision = Literal["ALLOW", "WARN", "BLOCK"]


class PolicyError(ValueError):
    """The policy file is malformed; the message names the field at fault."""


def _check_conditions(conds: dict[str, str]) -> dict[str, str]:
    for head, cond in conds.items():
        if head not in DOC_HEADS:
            raise ValueError(f"unknown head {head!r}; heads are {list(DOC_HEADS)}")
        if not _CONDITION.match(str(cond)):
            raise ValueError(f"{head}: condition {cond!r} is not like '> 0.9'")
    return conds


def _holds(cond: str, score: float) -> bool:
    m = _CONDITION.match(cond)
    assert m is not None  # validated on load
    return _OPS[m.group(1)](score, float(m.group(2)))


class Rule(BaseModel):
    """One ordered rule: every `all` condition, at least one `any` condition, at least one `span_types`."""

    model_config = ConfigDict(extra="forbid")

    decision: Decision
    reason: str
    all: dict[str, str] = Field(default_factory=dict)
    any: dict[str, str] = Field(default_factory=dict)
    span_types: list[str] = Field(default_factory=list)

    _heads = field_validator("all", "any")(_check_conditions)

    @field_validator("span_types")
    @classmethod
    def _known_types(cls, types: list[str]) -> list[str]:
        unknown = sorted(set(types) - set(SPAN_TYPES))
        if unknown:
            raise ValueError(f"unknown span types {unknown}")
        return types

    def matches(self, scores: Mapping[str, float], types: set[str]) -> bool:
        """Whether the rule fires for these scores and detected span types."""
        if not all(_holds(c, scores[h]) for h, c in self.all.items()):
            return False
        if self.any and not any(_holds(c, scores[h]) for h, c in self.any.items()):
            return False
        return not self.span_types or bool(types & set(self.span_types))


class Rationale(BaseModel):
    """Evidence lines: one per span-type group found, one per score condition that holds."""

    model_config = ConfigDict(extra="forbid")

    span_types: dict[str, list[str]] = Field(default_factory=dict)
    scores: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("scores")
    @classmethod
    def _conditions(cls, scores: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for conds in scores.values():
            _check_conditions(conds)
        return scores


class Policy(BaseModel):
    """A loaded decision policy; `decide` is all a scanner needs."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    rules: list[Rule]
    default: Decision = "WARN"
    rationale: Rationale = Field(default_factory=Rationale)

    def decide(self, scores: Mapping[str, float], spans: Iterable[Any] = ()) -> tuple[str, list[str]]:
        """(decision as the response spells it, rationale lines) for calibrated `scores` and `spans`.

        `spans` are dicts or objects with a `type`. The first rule that matches decides and its
        reason leads the rationale; evidence lines follow.
        """
        missing = [h for h in DOC_HEADS if h not in scores]
        if missing:
            raise KeyError(f"scores lack heads {missing}")
        types = {s["type"] if isinstance(s, Mapping) else s.type for s in spans}
        rule = next((r for r in self.rules if r.matches(scores, types)), None)
        decision = rule.decision if rule is not None else self.default
        lines = [rule.reason] if rule is not None else []
        lines += [text for text, group in self.rationale.span_types.items() if types & set(group)]
        lines += [
            text
            for text, conds in self.rationale.scores.items()
            if all(_holds(c, scores[h]) for h, c in conds.items())
        ]
        return RESPONSE_DECISION[decision], lines


def parse_policy(text: str) -> Policy:
    """A `Policy` from YAML text; raises `PolicyError` naming the field at fault."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise PolicyError(f"policy is not valid YAML: {e}") from e
    if not isinstance(doc, dict):
        raise PolicyError("policy must be a YAML mapping")
    try:
        return Policy.model_validate(doc)
    except ValidationError as e:
        reasons = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise PolicyError(f"invalid policy: {reasons}") from e


def load_policy(path: Path | str | None = None) -> Policy:
    """Load a policy YAML file (the packaged default when `path` is None)."""
    return parse_policy(Path(path or DEFAULT_POLICY_PATH).read_text())


def default_policy_text() -> str:
    """The packaged default policy, as written into a bundle's policy.yaml."""
    return DEFAULT_POLICY_PATH.read_text()


def workflow_context(example: Example, context: float, spans: Iterable[Mapping[str, Any]]) -> float:
    """The served context score: the model's ``context`` capped at 1 - the score of the most confident
    served body span whose sensitive element the sender's role may not send to these recipients and links
    on this channel (`labels.out_of_workflow`, the rule the context label is derived by; a sender without
    a role is ``OTHER``, whose workflow allows nothing). ``example`` is the scanned message (its spans are
    ignored); ``spans`` are the scanner's (``field``, ``type``, ``start``, ``end``, ``score``).

    The model's context head must learn the workflow table from examples, and on internal destinations
    it does not (ENG may not send PII inside, SUPPORT may); the table itself is known, so it vetoes."""
    body = [s for s in spans if s["field"] == "body"]
    if not body:
        return context
    detected = example.model_copy(
        update={"spans": [Span(type=s["type"], start=s["start"], end=s["end"]) for s in body]}
    )
    outside = out_of_workflow(detected)
    risk = max((float(s["score"]) for s, out in zip(body, outside, strict=True) if out), default=0.0)
    return round(min(context, 1.0 - risk), 6)
