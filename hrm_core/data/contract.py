"""The data contract: one DLP example, validated field by field.

Every producer (template generator, agentic generator, landing-zone files) emits `Example`s and every
consumer (tokenizer, trainer, evaluator, scanner) reads them. Validation errors name the field at
fault, e.g. ``spans[2].end: span ends at 210, past the end of body (198 characters)``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SPAN_TYPES: tuple[str, ...] = (
    "EMAIL",
    "PHONE",
    "PAN",
    "SSN",
    "SECRET",
    "DBURI",
    "NDA",
    "MATTER",
    "NAME",
    "ADDR",
)
# "O" first so that tag id 0 means "outside"; then B-x, I-x for each type in SPAN_TYPES order.
BIO_TAGS: tuple[str, ...] = ("O", *(f"{p}-{t}" for t in SPAN_TYPES for p in ("B", "I")))
TAG_TO_ID: dict[str, int] = {t: i for i, t in enumerate(BIO_TAGS)}
# The candidate channel's untyped marks, after the BIO ids of the typed candidates: a token of a
# leetspeak-looking word (`tokens.features.leet_words`), of a census first name or surname
# (`rules.name_list.name_words`). The featurizer writes them, the model sizes and masks its embedding by them.
LEET_CANDIDATE = len(BIO_TAGS)
NAME_CANDIDATE = LEET_CANDIDATE + 1
DOC_HEADS: tuple[str, ...] = ("sensitivity", "exposure", "context", "obfuscation")
CHANNELS: tuple[str, ...] = ("email", "chat", "pr", "upload")
ROLES: tuple[str, ...] = ("LEGAL", "FINANCE", "HR", "ENG", "SALES", "SECURITY", "EXEC", "SUPPORT", "OTHER")
SENIORITIES: tuple[str, ...] = ("JUNIOR", "MID", "SENIOR", "EXEC")

# A body longer than this is refused: it would be windowed into hundreds of model passes and is far
# more likely a mis-exported file than a message. Ingestion quarantines it with this reason.
MAX_BODY_CHARS = 1_000_000

SpanType = Literal["EMAIL", "PHONE", "PAN", "SSN", "SECRET", "DBURI", "NDA", "MATTER", "NAME", "ADDR"]
Channel = Literal["email", "chat", "pr", "upload"]
Role = Literal["LEGAL", "FINANCE", "HR", "ENG", "SALES", "SECURITY", "EXEC", "SUPPORT", "OTHER"]
Seniority = Literal["JUNIOR", "MID", "SENIOR", "EXEC"]
BinaryLabel = Annotated[int, Field(ge=0, le=1)] | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=False)


class User(_Strict):
    role: Role
    dept: str = ""
    seniority: Seniority = "MID"


class Attachment(_Strict):
    name: str
    mime: str = "application/octet-stream"
    size: Annotated[int, Field(ge=0)] = 0


class Labels(_Strict):
    """Document labels; None means the source does not label that head (never scored)."""

    sensitivity: BinaryLabel = None
    exposure: BinaryLabel = None
    context: BinaryLabel = None
    obfuscation: BinaryLabel = None

    @field_validator("sensitivity", "exposure", "context", "obfuscation", mode="before")
    @classmethod
    def _no_bool_or_float(cls, v: Any) -> Any:
        # 1.0 or True silently becoming 1 hides upstream bugs; accept exact ints only.
        if isinstance(v, bool) or (isinstance(v, float) and v not in (0.0, 1.0)):
            raise ValueError(f"label must be 0, 1 or null, got {v!r}")
        return int(v) if isinstance(v, float) else v

    def as_list(self) -> list[int | None]:
        return [getattr(self, h) for h in DOC_HEADS]


class Span(_Strict):
    type: SpanType
    start: Annotated[int, Field(ge=0)]
    end: Annotated[int, Field(ge=0)]


class Meta(BaseModel):
    # Extra keys are kept (generators record e.g. hard_negative, obfuscation kinds, scenario).
    model_config = ConfigDict(extra="allow")

    org_domains: list[str] = Field(default_factory=list)
    annotated_types: list[SpanType] | None = None
    source: str = "unknown"


class Example(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=256)]
    thread_id: str | None = None
    channel: Channel
    user: User
    recipients: list[str] = Field(default_factory=list)
    subject: str = ""
    body: Annotated[str, Field(max_length=MAX_BODY_CHARS)]
    attachments: list[Attachment] = Field(default_factory=list)
    links: list[str] = Field(default_factory=list)
    labels: Labels = Field(default_factory=Labels)
    spans: list[Span] = Field(default_factory=list)
    meta: Meta = Field(default_factory=Meta)

    @model_validator(mode="after")
    def _spans_are_well_formed(self) -> Example:
        n = len(self.body)
        prev_end = -1
        for i, s in enumerate(self.spans):
            if s.end <= s.start:
                raise ValueError(f"spans[{i}]: end ({s.end}) must be greater than start ({s.start})")
            if s.end > n:
                raise ValueError(
                    f"spans[{i}].end: span ends at {s.end}, past the end of body ({n} characters)"
                )
            if s.start < prev_end:
                raise ValueError(
                    f"spans[{i}]: starts at {s.start}, before the previous span ends ({prev_end}); "
                    "spans must be sorted and non-overlapping"
                )
            prev_end = s.end
        return self

    def scored_types(self) -> tuple[str, ...]:
        """Span types this example's source annotates (all ten when `meta.annotated_types` is absent)."""
        return tuple(self.meta.annotated_types) if self.meta.annotated_types is not None else SPAN_TYPES

    def content_hash(self) -> str:
        """Hash of everything but `id` and `meta`: two rows with the same hash are exact duplicates."""
        payload = self.model_dump(mode="json", exclude={"id", "meta"})
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ContractError(ValueError):
    """An example that breaks the contract; `reasons` has one ``field: message`` entry per problem."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("; ".join(reasons))


def format_validation_error(err: ValidationError) -> list[str]:
    """Turn pydantic's error list into ``field.path: message`` strings (``spans[2].end: ...``)."""
    out = []
    for e in err.errors(include_url=False):
        path = ""
        for part in e["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        msg = e["msg"].removeprefix("Value error, ")
        out.append(f"{path}: {msg}" if path else msg)
    return out


def validate_example(obj: Any) -> Example:
    """Validate a decoded JSON object (dict) into an `Example`, raising `ContractError` with per-field reasons."""
    if not isinstance(obj, dict):
        raise ContractError([f"row must be a JSON object, got {type(obj).__name__}"])
    try:
        return Example.model_validate(obj)
    except ValidationError as err:
        raise ContractError(format_validation_error(err)) from None
