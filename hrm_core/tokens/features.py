"""Pre-tokenized features: token ids with BIO tags aligned from character spans, and back.

Alignment rule: a token whose character offsets overlap a gold span is tagged ``B-x`` if it is the
span's first overlapping token, ``I-x`` otherwise. Decoding reverses it: a run ``B-x I-x ...`` (or
``I-x ...`` without a ``B-``) becomes the character span from its first token's start to its last
token's end. Tokenizer offsets leave out the whitespace a piece carries, and values start and end
on token boundaries, so the round trip recovers gold spans exactly (the share it does not is
reported as ``alignment_loss``).

Partially annotated sources: when ``meta.annotated_types`` is a strict subset of the ten types, a
token inside a free-text field outside every labelled span might be a value of a type nobody
annotated, so it gets ``PARTIAL_O`` (-2): "``O`` or a tag of a type this row does not annotate". The
loss (`hrm_core.model.losses.bio_ce`) maximises the probability of that allowed set, so the row still
teaches that the token is no EMAIL or PAN. B/I tags of the annotated types are kept, and structural
tokens (DSL tags, header words outside every free-text field) stay ``O``, since no span can live there.

Consistent labels: spans are labelled in the body only, so every token of a recipient or link field,
and any email-shaped string outside the body, is ``IGNORE_INDEX`` (-100), never ``O``: the same
address must not be a value in the body and a non-value in the header.

Per-token channels travel with the tags: the recognizers' candidates (`candidate_tags`, a model input)
and dense evidence labels for three doc heads (`destination_evidence`, `obfuscation_evidence`,
`context_evidence`; -1 where the data does not know the token-level answer).
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import pyarrow as pa

from hrm_core.data.contract import (
    BIO_TAGS,
    LEET_CANDIDATE,
    NAME_CANDIDATE,
    SPAN_TYPES,
    TAG_TO_ID,
    Example,
)
from hrm_core.data.destinations import DESTINATION_CLASSES
from hrm_core.data.dsl import DSL_VERSION, Serialized, serialize_example, shuffled_section_order
from hrm_core.rules.name_list import name_words
from hrm_core.rules.regex_baseline import email_shaped, scan_text
from hrm_core.synth.labels import derive_labels, out_of_workflow, span_elements
from hrm_core.synth.obfuscation import LEET_DIGITS
from hrm_core.tokens.tokenizer import DlpTokenizer

IGNORE_INDEX = -100
# A whole word of 4+ letters and leetspeak digits with a letter right after one of the digits; the
# regex does the scanning, `leet_words` the two checks left (letters, hex).
_LEET = "".join(sorted(LEET_DIGITS))
_LEET_WORD = re.compile(
    rf"(?<![A-Za-z0-9])(?=[A-Za-z0-9]{{4}})[A-Za-z{_LEET}]*[{_LEET}][A-Za-z][A-Za-z{_LEET}]*(?![A-Za-z0-9])"
)
_HEX = re.compile(r"[0-9a-fA-F]+")
PARTIAL_O = -2  # "O, or a value of a type this row does not annotate" (see the module docstring)
_DEST_TAG = re.compile(r"\[(" + "|".join(DESTINATION_CLASSES) + r")\]")
Offsets = Sequence[tuple[int, int]]
CharSpan = tuple[str, int, int]  # (type, start, end) in serialized-text characters

TOKENIZED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("thread_id", pa.string()),
        pa.field("thread_index", pa.int32(), nullable=False),
        pa.field("input_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("bio", pa.list_(pa.int8()), nullable=False),
        pa.field("candidates", pa.list_(pa.int8()), nullable=False),
        pa.field("dest_evidence", pa.list_(pa.int8()), nullable=False),
        pa.field("obf_evidence", pa.list_(pa.int8()), nullable=False),
        pa.field("ctx_evidence", pa.list_(pa.int8()), nullable=False),
        pa.field("doc_labels", pa.list_(pa.int8()), nullable=False),
        pa.field("types_present", pa.list_(pa.int8()), nullable=False),
        pa.field("hard_negative", pa.bool_(), nullable=False),
        pa.field("obfuscated", pa.bool_(), nullable=False),
        pa.field("shuffled", pa.bool_(), nullable=False),
        pa.field("n_tokens", pa.int32(), nullable=False),
    ]
)
DSL_VERSION_KEY = "hrm_dlp.dsl_version"  # schema metadata of the tokenized table
# ... and the untyped marks its candidate channel holds (`candidate_tags`), comma-separated.
CANDIDATE_MARKS_KEY = "hrm_dlp.candidate_marks"
CANDIDATE_MARKS = ("leet", "name")  # what `build_tokenized_table` writes (`candidate_tags`' defaults)
LEGACY_CANDIDATE_MARKS = frozenset({"leet"})  # a table written before the key (it predates the name mark)
# Token-length histogram bin edges (the last bin is open-ended).
LENGTH_BINS: tuple[int, ...] = (0, 64, 128, 256, 512, 1024, 2048, 4096)


@dataclass
class TokenizedExample:
    ids: list[int]
    offsets: list[tuple[int, int]]
    bio: list[int]
    serialized: Serialized
    candidates: list[int]  # `candidate_tags`
    dest_evidence: list[int]  # `destination_evidence`
    obf_evidence: list[int]  # `obfuscation_evidence`
    ctx_evidence: list[int]  # `context_evidence`


@dataclass
class FeatureStats:
    """What the tokenized_examples asset reports."""

    rows: int = 0
    shuffled_rows: int = 0
    tokens: int = 0
    mean_tokens: float = 0.0
    max_tokens: int = 0
    gold_spans: int = 0
    unrecovered_spans: int = 0
    alignment_loss: float = 0.0  # unrecovered_spans / gold_spans
    length_histogram: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def align_bio_tags(offsets: Offsets, char_spans: Iterable[CharSpan]) -> list[int]:
    """BIO tag id per token (``TAG_TO_ID``) for sorted, non-overlapping character spans.

    A token already claimed by an earlier span keeps that tag (the later span then cannot be
    recovered exactly, which `alignment_loss` counts).
    """
    tags = [TAG_TO_ID["O"]] * len(offsets)
    ends = [e for _, e in offsets]  # non-decreasing: tokens come in text order
    for span_type, start, end in char_spans:
        first = True
        for i in tokens_in(offsets, ends, start, end):
            if tags[i] == TAG_TO_ID["O"]:
                tags[i] = TAG_TO_ID[f"{'B' if first else 'I'}-{span_type}"]
                first = False
    return tags


def tokens_in(offsets: Offsets, ends: Sequence[int], start: int, end: int) -> Iterable[int]:
    """Indices of the non-empty tokens overlapping characters ``[start, end)``; ``ends`` is the tokens'
    end offsets (non-decreasing), computed once by the caller."""
    i = bisect.bisect_right(ends, start)  # first token ending after the range starts
    while i < len(offsets) and offsets[i][0] < end:
        if offsets[i][1] > offsets[i][0]:
            yield i
        i += 1


def decode_bio_to_spans(tag_ids: Sequence[int], offsets: Offsets) -> list[CharSpan]:
    """Character spans ``(type, start, end)`` from BIO tag ids; an ``I-x`` without ``B-x`` opens a span.

    ``O`` and ``IGNORE_INDEX`` close the current span. Byte-fallback tokens of one character share
    its offsets, so a span always covers whole characters.
    """
    spans: list[CharSpan] = []
    cur: list = []  # [type, start, end] of the open span
    for tag_id, (ts, te) in zip(tag_ids, offsets, strict=True):
        tag = BIO_TAGS[tag_id] if 0 <= tag_id < len(BIO_TAGS) else "O"
        if tag == "O":
            if cur:
                spans.append((cur[0], cur[1], cur[2]))
            cur = []
            continue
        prefix, span_type = tag.split("-", 1)
        if prefix == "I" and cur and cur[0] == span_type:
            cur[2] = max(cur[2], te)
            continue
        if cur:
            spans.append((cur[0], cur[1], cur[2]))
        cur = [span_type, ts, te]
    if cur:
        spans.append((cur[0], cur[1], cur[2]))
    return spans


def gold_text_spans(example: Example, serialized: Serialized) -> list[CharSpan]:
    """The example's body spans as serialized-text character spans."""
    return [(s.type, *serialized.body_span_to_text(s.start, s.end)) for s in example.spans]


def tokenize_example(
    example: Example,
    tok: DlpTokenizer,
    section_order: tuple[str, ...] | None = None,
    dsl_version: int = DSL_VERSION,
) -> TokenizedExample:
    """Serialize ``example`` to DSL, tokenize it and align its body spans to BIO tags (see module doc)."""
    serialized = serialize_example(example, section_order, dsl_version)
    ids, offsets = tok.encode(serialized.text)
    bio = align_bio_tags(offsets, gold_text_spans(example, serialized))
    segments = sorted((s.start, s.end) for s in serialized.offsets.segments)
    if set(example.scored_types()) != set(SPAN_TYPES):
        for i, (ts, te) in enumerate(offsets):
            if bio[i] == TAG_TO_ID["O"] and _inside_any(ts, te, segments):
                bio[i] = PARTIAL_O
    ignored = [(s.start, s.end) for s in serialized.offsets.segments if s.field in ("recipient", "link")]
    body = serialized.offsets.segment("body")
    ignored += [(s, e) for s, e in email_shaped(serialized.text) if not (body.start <= s and e <= body.end)]
    ignored = _union(ignored)
    for i, (ts, te) in enumerate(offsets):
        if bio[i] in (TAG_TO_ID["O"], PARTIAL_O) and _inside_any(ts, te, ignored):
            bio[i] = IGNORE_INDEX
    return TokenizedExample(
        ids,
        offsets,
        bio,
        serialized,
        candidate_tags(serialized, offsets),
        destination_evidence(serialized, offsets),
        obfuscation_evidence(example, serialized, offsets),
        context_evidence(example, serialized, offsets),
    )


def leet_words(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of the words that look like leetspeak: 4 or more letters and digits, 2 or more of
    them letters, digits only those `to_leetspeak` writes for letters (4 3 1 0 5 7), a letter after a digit
    (not ``test1``, ``ipv4``), and not a long hex run. ``Z1lm1l``, ``G0ur``, ``c0nf1d3nt14l``; also
    ``log4j`` or ``v1beta``: a mark for the model to weigh, not a verdict."""
    out = []
    for m in _LEET_WORD.finditer(text):  # digits only at the end (test1, ipv4) do not match
        w = m.group()
        if sum(c.isalpha() for c in w) < 2 or (len(w) >= 8 and _HEX.fullmatch(w)):
            continue  # one letter; or a hash or an id, not a disguised word
        out.append(m.span())
    return out


def candidate_tags(
    serialized: Serialized, offsets: Offsets, leetspeak: bool = True, names: bool = True
) -> list[int]:
    """The deterministic recognizers' candidates as one tag id per token (0 = no candidate).

    The recognizers are the regex baseline's rules with their validators (Luhn, SSN numbering,
    phone shapes, provider key formats, entropy, DB URI grammar, decoded blobs), run over the body,
    the field spans are labelled in: their BIO tag ids. Two untyped marks follow, each only on body
    tokens no typed candidate covers: with ``leetspeak``, a token of a `leet_words` word is
    `LEET_CANDIDATE`; with ``names``, a token of a census name (`rules.name_list.name_words`) is
    `NAME_CANDIDATE`. The model reads these ids as an input channel (``ModelConfig.use_candidates``;
    each mark only with its own flag, ``leet_candidates`` / ``name_candidates``, which the scanner passes
    here) and learns to confirm, reject or extend them. The trainer and the scanner both call this
    function, so the model is served the channel it was trained on; the tokenized table stores every
    mark, and a model reads a mark it was not built for as 0.
    """
    body = serialized.offsets.segment("body")
    text = serialized.text[body.start : body.end]
    spans = [(t, s + body.start, e + body.start) for t, s, e in scan_text(text)]
    tags = align_bio_tags(offsets, spans)
    marks = [(leet_words, LEET_CANDIDATE)] if leetspeak else []
    if names:
        marks.append((name_words, NAME_CANDIDATE))
    if marks:
        ends = [e for _, e in offsets]
        for find, mark in marks:
            for s, e in find(text):
                for i in tokens_in(offsets, ends, s + body.start, e + body.start):
                    tags[i] = tags[i] or mark
    return tags


def destination_evidence(serialized: Serialized, offsets: Offsets) -> list[int]:
    """Per-token exposure evidence: 1 on the tokens of a recipient's or link's destination class that
    leaves the organisation (``[webmail]``, ``[public]``, ``[external]``), 0 on ``[internal]``, -1 (no
    label) everywhere else. Dense auxiliary labels for the exposure head's per-token evidence logits."""
    out = [-1] * len(offsets)
    ends = [e for _, e in offsets]
    for m in _DEST_TAG.finditer(serialized.text):
        if serialized.offsets.from_text(m.start(), m.end()) is not None:
            continue  # inside a field (a body that quotes "[external]"): not the serializer's tag
        for i in tokens_in(offsets, ends, m.start(), m.end()):
            out[i] = int(m.group(1) != "internal")
    return out


def obfuscation_evidence(example: Example, serialized: Serialized, offsets: Offsets) -> list[int]:
    """Per-token obfuscation evidence: 1 on the tokens of the hidden value (``meta.obfuscated_span``), 0 on
    the tokens of every other labelled value (shown plainly), -1 (no label) elsewhere and in rows whose
    obfuscation label is unknown. Dense auxiliary labels for the obfuscation head's evidence logits."""
    out = [-1] * len(offsets)
    if example.labels.obfuscation is None:
        return out
    extra = example.meta.model_extra or {}
    hidden = extra.get("obfuscated_span") if extra.get("obfuscations") else None
    ends = [e for _, e in offsets]
    for k, (_, start, end) in enumerate(gold_text_spans(example, serialized)):
        for i in tokens_in(offsets, ends, start, end):
            out[i] = int(k == hidden)
    return out


def context_evidence(example: Example, serialized: Serialized, offsets: Offsets) -> list[int]:
    """Per-token context evidence: on the tokens of each value that makes the message sensitive (its
    element, `labels.span_elements`), 1 where sending that element to these destinations on this channel
    is part of the sender's job (not `labels.out_of_workflow`) and 0 where it is not; 0 on the hidden value
    of an obfuscated sensitive message (legitimate workflows do not hide data); -1 (no label) elsewhere.

    A message is legitimate iff none of its values is 0, so the context head reads these logits through
    a min over tokens (``ModelConfig.context_evidence``). Rows whose context label is unknown, or is not
    the one the label rules derive (a reviewer's label the rules cannot see), get no token labels.
    """
    out = [-1] * len(offsets)
    if example.labels.context is None or derive_labels(example)["context"] != example.labels.context:
        return out
    elements = span_elements(example)
    extra = example.meta.model_extra or {}
    hidden = None
    if extra.get("obfuscations") and any(elements):
        hidden = extra.get("obfuscated_span")
        if hidden is None:
            return out  # context 0 because something is hidden, and we do not know which tokens
    outside = out_of_workflow(example)
    ends = [e for _, e in offsets]
    for k, ((_, start, end), element, out_k) in enumerate(
        zip(gold_text_spans(example, serialized), elements, outside, strict=True)
    ):
        if k == hidden:
            label = 0
        elif element is None:
            continue
        else:
            label = int(not out_k)
        for i in tokens_in(offsets, ends, start, end):
            out[i] = label if out[i] < 0 else min(out[i], label)  # a token two values share: the stricter
    return out


def _union(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint ranges covering the same characters (what `_inside_any` expects)."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _inside_any(ts: int, te: int, segments: list[tuple[int, int]]) -> bool:
    # segments are sorted and disjoint; a token overlapping one is free text that could hide a value.
    j = bisect.bisect_right(segments, (ts, float("inf"))) - 1
    return any(0 <= k < len(segments) and segments[k][0] < te and ts < segments[k][1] for k in (j, j + 1))


def spans_in_fields(pred_text_spans: Iterable[Sequence], serialized: Serialized) -> list[dict]:
    """Map predicted serialized-text spans ``(type, start, end[, score])`` back to their fields.

    Returns ``{"type", "field", "index", "start", "end"[, "score"]}`` with offsets into that field
    (``body``, ``subject``, ``recipient``, ``attachment`` or ``link``). A span crossing a field
    boundary is clipped to the field it overlaps most (the value is there; the rest is DSL
    scaffolding or a neighbouring field); a span overlapping no field (a DSL tag, a header word) is
    dropped because there is nothing in the message to point at.
    """
    out: list[dict] = []
    for pred in pred_text_spans:
        span_type, start, end = pred[0], int(pred[1]), int(pred[2])
        best, best_overlap = None, 0
        for seg in serialized.offsets.segments:
            overlap = min(end, seg.end) - max(start, seg.start)
            if overlap > best_overlap:
                best, best_overlap = seg, overlap
        if best is None:
            continue
        cs, ce = max(start, best.start), min(end, best.end)
        item = {"type": span_type, "field": best.field, "index": best.index, "start": cs - best.start}
        item["end"] = ce - best.start
        if len(pred) > 3:
            item["score"] = float(pred[3])
        out.append(item)
    return out


def _doc_labels(example: Example) -> list[int]:
    return [-1 if v is None else int(v) for v in example.labels.as_list()]


def _types_present(example: Example) -> list[int]:
    present = {s.type for s in example.spans}
    scored = set(example.scored_types())
    return [(1 if t in present else 0) if t in scored else -1 for t in SPAN_TYPES]


def _row(example: Example, split: str, tokenized: TokenizedExample) -> dict:
    extra = example.meta.model_extra or {}
    return {
        "id": example.id,
        "split": split,
        "thread_id": example.thread_id,
        "thread_index": int(extra.get("thread_index") or 0),
        "input_ids": tokenized.ids,
        "bio": tokenized.bio,
        "candidates": tokenized.candidates,
        "dest_evidence": tokenized.dest_evidence,
        "obf_evidence": tokenized.obf_evidence,
        "ctx_evidence": tokenized.ctx_evidence,
        "doc_labels": _doc_labels(example),
        "types_present": _types_present(example),
        "hard_negative": bool(extra.get("hard_negative", False)),
        "obfuscated": example.labels.obfuscation == 1,
        "shuffled": tokenized.serialized.shuffled,
        "n_tokens": len(tokenized.ids),
    }


def build_tokenized_table(
    examples: Iterable[Example],
    tok: DlpTokenizer,
    splits: dict[str, str] | None = None,
    shuffle_prob: float = 0.1,
    seed: int = 0,
    dsl_version: int = DSL_VERSION,
) -> tuple[pa.Table, FeatureStats]:
    """Tokenize every example once into a ``TOKENIZED_SCHEMA`` table (full sequences, no truncation).

    ``splits`` maps example id to split (missing ids are "train"). For a train row, with probability
    ``shuffle_prob`` a section-shuffled variant (same id, ``shuffled=True``) is added too, so
    section-shuffle augmentation never re-tokenizes during training. Alignment loss is measured on
    the canonical rows. The table's schema metadata records ``dsl_version``, which a model trained on it
    keeps (`tokenized_dsl_version`), and the candidate marks its rows hold (`tokenized_candidate_marks`).
    """
    splits = splits or {}
    rng = random.Random(seed)
    rows: list[dict] = []
    stats = FeatureStats()
    for example in examples:
        split = splits.get(example.id, "train")
        tokenized = tokenize_example(example, tok, dsl_version=dsl_version)
        rows.append(_row(example, split, tokenized))
        gold = gold_text_spans(example, tokenized.serialized)
        recovered = set(decode_bio_to_spans(tokenized.bio, tokenized.offsets))
        stats.gold_spans += len(gold)
        stats.unrecovered_spans += sum(1 for g in gold if g not in recovered)
        if split == "train" and rng.random() < shuffle_prob:
            variant = tokenize_example(example, tok, shuffled_section_order(rng), dsl_version)
            rows.append(_row(example, split, variant))
            stats.shuffled_rows += 1
    lengths = [r["n_tokens"] for r in rows]
    stats.rows = len(rows)
    stats.tokens = sum(lengths)
    stats.mean_tokens = stats.tokens / max(1, len(rows))
    stats.max_tokens = max(lengths, default=0)
    stats.alignment_loss = stats.unrecovered_spans / max(1, stats.gold_spans)
    stats.length_histogram = length_histogram(lengths)
    schema = TOKENIZED_SCHEMA.with_metadata(
        {DSL_VERSION_KEY: str(dsl_version), CANDIDATE_MARKS_KEY: ",".join(CANDIDATE_MARKS)}
    )
    table = pa.Table.from_pylist(rows, schema=schema)
    return table, stats


def tokenized_dsl_version(schema: pa.Schema) -> int:
    """The DSL version a tokenized table was written in (1 for tables from before versions)."""
    return int((schema.metadata or {}).get(DSL_VERSION_KEY.encode(), b"1"))


def tokenized_candidate_marks(schema: pa.Schema) -> frozenset[str]:
    """The untyped candidate marks a tokenized table holds (`LEGACY_CANDIDATE_MARKS` without the key)."""
    raw = (schema.metadata or {}).get(CANDIDATE_MARKS_KEY.encode())
    return frozenset(m for m in raw.decode().split(",") if m) if raw is not None else LEGACY_CANDIDATE_MARKS


def length_histogram(lengths: Iterable[int]) -> dict[str, int]:
    """Counts of sequence lengths per ``LENGTH_BINS`` bin, keyed ``"64-127"`` ... ``"4096+"``."""
    labels = [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(LENGTH_BINS)]
    labels.append(f"{LENGTH_BINS[-1]}+")
    counts = dict.fromkeys(labels, 0)
    for n in lengths:
        counts[labels[bisect.bisect_right(LENGTH_BINS, n) - 1]] += 1
    return counts
