"""DSL serialization: an `Example` as the typed, line-oriented text the tokenizer reads.

    <CHANNEL> email
    <USER> role=LEGAL dept=CORP seniority=SENIOR
    <ORG> corp.example
    <TO> counsel@lawfirm.example [external] ; bob@corp.example [internal]
    <SUBJECT> Matter 2024-LIT-0042 draft
    <BODY>
    ...body text, byte-for-byte...
    </BODY>
    <ATTACH> nda_v3.pdf application/pdf 120KB
    <LINK> https://share.example/abc [external]

Free-text fields (subject, body, recipients, attachment names, links) are copied verbatim, and the
`OffsetMap` records where each one starts in the text, so a character span in any field maps to the
exact same characters of the serialized text and back. Section shuffle reorders the sections (the
body stays one section) and the map follows.

Each recipient and link is followed by its destination class relative to `meta.org_domains`
(`[internal]`, `[webmail]`, `[public]`, `[external]`; hrm_core/data/destinations.py): a tiny model reads
exposure off that token instead of learning to compare domain strings.

Versions: 1 (`DSL_VERSION`, the default) is the form above. 2 ends the ``<USER>`` line with the sender's
workflow allowances on this channel (``may=SSN>internal,payroll PII>internal,payroll``,
`workflows.workflow_text`), so that the context head could compare a value with what it is shown
instead of memorising the policy table; measured over 3 seeds it did not lift context
(`benchmarks/ablation.py`, lake built with ``dsl_version=2``), so it is not the default. A model records
the version of the table it was trained on (``ModelConfig.dsl_version``) and the scanner serializes in
that version.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field

from hrm_core.data.contract import Example
from hrm_core.data.destinations import destination_class, link_host, recipient_host
from hrm_core.data.workflows import workflow_text

DSL_TAGS: tuple[str, ...] = (
    "<CHANNEL>", "<USER>", "<ORG>", "<TO>", "<SUBJECT>", "<BODY>", "</BODY>", "<ATTACH>", "<LINK>",
)  # fmt: skip
SECTIONS: tuple[str, ...] = ("channel", "user", "org", "to", "subject", "body", "attach", "link")
TEXT_FIELDS: tuple[str, ...] = ("subject", "body", "recipient", "attachment", "link")
DSL_VERSION = 1  # what new tables are written in; 2 adds the sender's workflow allowances (``may=``)
DSL_VERSIONS = (1, 2)


@dataclass(frozen=True)
class Segment:
    """One verbatim field copied into the serialized text: `text[start:start+length] == value`."""

    field: str  # one of TEXT_FIELDS
    index: int  # which recipient / attachment / link; 0 for subject and body
    start: int
    length: int

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass
class OffsetMap:
    segments: list[Segment] = field(default_factory=list)

    def segment(self, field_name: str, index: int = 0) -> Segment:
        for s in self.segments:
            if s.field == field_name and s.index == index:
                return s
        raise KeyError(f"no segment for {field_name}[{index}]")

    def to_text(self, field_name: str, start: int, end: int, index: int = 0) -> tuple[int, int]:
        """Field character span -> serialized-text span."""
        seg = self.segment(field_name, index)
        if not 0 <= start <= end <= seg.length:
            raise ValueError(
                f"span {start}:{end} out of bounds for {field_name}[{index}] ({seg.length} chars)"
            )
        return seg.start + start, seg.start + end

    def from_text(self, start: int, end: int) -> tuple[str, int, int, int] | None:
        """Serialized-text span -> (field, index, start, end), or None when it is not inside one field."""
        starts = [s.start for s in self._sorted()]
        i = bisect.bisect_right(starts, start) - 1
        if i < 0:
            return None
        seg = self._sorted()[i]
        if start >= seg.start and end <= seg.end and end > start:
            return seg.field, seg.index, start - seg.start, end - seg.start
        return None

    def _sorted(self) -> list[Segment]:
        return sorted(self.segments, key=lambda s: s.start)


@dataclass
class Serialized:
    text: str
    offsets: OffsetMap
    section_order: tuple[str, ...]

    @property
    def shuffled(self) -> bool:
        return self.section_order != SECTIONS

    def body_span_to_text(self, start: int, end: int) -> tuple[int, int]:
        return self.offsets.to_text("body", start, end)


def _size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f}MB"
    return f"{max(1, round(n / 1024))}KB" if n else "0KB"


def serialize_example(
    example: Example, section_order: tuple[str, ...] | None = None, version: int = DSL_VERSION
) -> Serialized:
    """Serialize `example` to DSL text with its offset map. `section_order` is a permutation of SECTIONS;
    `version` one of `DSL_VERSIONS` (the model's ``dsl_version``)."""
    order = tuple(section_order) if section_order is not None else SECTIONS
    if sorted(order) != sorted(SECTIONS):
        raise ValueError(f"section_order must be a permutation of {SECTIONS}, got {order}")
    if version not in DSL_VERSIONS:
        raise ValueError(f"DSL version must be one of {DSL_VERSIONS}, got {version!r}")
    parts: list[str] = []
    segments: list[Segment] = []
    pos = 0

    def emit(s: str) -> None:
        nonlocal pos
        parts.append(s)
        pos += len(s)

    def emit_field(value: str, field_name: str, index: int = 0) -> None:
        segments.append(Segment(field_name, index, pos, len(value)))
        emit(value)

    u = example.user
    org = example.meta.org_domains
    for sec in order:
        if sec == "channel":
            emit(f"<CHANNEL> {example.channel}\n")
        elif sec == "user":
            may = f" may={workflow_text(u.role, example.channel)}" if version >= 2 else ""
            emit(f"<USER> role={u.role} dept={u.dept or '-'} seniority={u.seniority}{may}\n")
        elif sec == "org":
            emit(f"<ORG> {' ; '.join(example.meta.org_domains) or '-'}\n")
        elif sec == "to":
            emit("<TO> ")
            for i, r in enumerate(example.recipients):
                if i:
                    emit(" ; ")
                emit_field(r, "recipient", i)
                emit(f" [{destination_class(recipient_host(r), org)}]")
            emit("\n")
        elif sec == "subject":
            emit("<SUBJECT> ")
            emit_field(example.subject, "subject")
            emit("\n")
        elif sec == "body":
            emit("<BODY>\n")
            emit_field(example.body, "body")
            emit("\n</BODY>\n")
        elif sec == "attach":
            for i, a in enumerate(example.attachments):
                emit("<ATTACH> ")
                emit_field(a.name, "attachment", i)
                emit(f" {a.mime} {_size(a.size)}\n")
        elif sec == "link":
            for i, link in enumerate(example.links):
                emit("<LINK> ")
                emit_field(link, "link", i)
                emit(f" [{destination_class(link_host(link), org, is_link=True)}]\n")
    return Serialized("".join(parts), OffsetMap(segments), order)


def shuffled_section_order(rng: random.Random) -> tuple[str, ...]:
    """A random section order different from the canonical one (for section-shuffle augmentation)."""
    order = list(SECTIONS)
    while tuple(order) == SECTIONS:
        rng.shuffle(order)
    return tuple(order)
