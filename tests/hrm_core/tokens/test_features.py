import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrm_core.data.contract import SPAN_TYPES, TAG_TO_ID, validate_example
from hrm_core.data.dsl import serialize_example
from hrm_core.tokens.features import (
    IGNORE_INDEX,
    PARTIAL_O,
    TOKENIZED_SCHEMA,
    align_bio_tags,
    build_tokenized_table,
    decode_bio_to_spans,
    gold_text_spans,
    length_histogram,
    spans_in_fields,
    tokenize_example,
    tokenized_dsl_version,
)
from hrm_core.tokens.tokenizer import DlpTokenizer
from tests.fixtures.make_tiny_spm import TINY_SPM_PATH, fixture_examples


def tag(name: str) -> int:
    return TAG_TO_ID[name]


@pytest.fixture(scope="module")
def tok() -> DlpTokenizer:
    return DlpTokenizer.load(TINY_SPM_PATH)


def make_example(body: str, spans: list[dict], **overrides) -> object:
    row = {
        "id": "ex-1",
        "channel": "email",
        "user": {"role": "LEGAL", "dept": "CORP", "seniority": "SENIOR"},
        "recipients": ["counsel@lawfirm.example", "bob@corp.example"],
        "subject": "Matter 2024-LIT-0042 draft",
        "body": body,
        "attachments": [
            {"name": "notes.txt", "mime": "text/plain", "size": 10},
            {"name": "nda_v3.pdf", "mime": "application/pdf", "size": 120_000},
        ],
        "links": ["https://share.example/abc"],
        "labels": {"sensitivity": 1, "exposure": 1, "context": None, "obfuscation": 0},
        "spans": spans,
        "meta": {"org_domains": ["corp.example"], "source": "test"},
    }
    row.update(overrides)
    return validate_example(row)


# --- alignment, closed form -------------------------------------------------------------------


def test_align_tags_first_overlapping_token_b_then_i():
    offsets = [(0, 4), (5, 10), (10, 11), (12, 16), (16, 17)]
    tags = align_bio_tags(offsets, [("NAME", 0, 10), ("PAN", 12, 17)])
    assert tags == [17, 18, 0, 5, 6]  # B-NAME=17, I-NAME=18, O, B-PAN=5, I-PAN=6
    assert tags[0] == tag("B-NAME") and tags[3] == tag("B-PAN")


def test_align_tags_token_shared_by_two_spans_keeps_the_first():
    # One token "ab" holds the end of an EMAIL and the start of a PHONE: the PHONE loses its B.
    tags = align_bio_tags([(0, 2), (2, 3)], [("EMAIL", 0, 1), ("PHONE", 1, 3)])
    assert tags == [tag("B-EMAIL"), tag("B-PHONE")]
    assert decode_bio_to_spans(tags, [(0, 2), (2, 3)]) == [("EMAIL", 0, 2), ("PHONE", 2, 3)]


def test_decode_tolerates_i_without_b_and_splits_on_type_change():
    offsets = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7)]
    tags = [0, tag("I-PAN"), tag("I-PAN"), tag("I-SSN"), tag("B-SSN"), IGNORE_INDEX, tag("I-NAME")]
    assert decode_bio_to_spans(tags, offsets) == [("PAN", 1, 3), ("SSN", 3, 4), ("SSN", 4, 5), ("NAME", 6, 7)]


def test_decode_merges_byte_pieces_of_one_character():
    # Four byte pieces of one emoji share its span (1, 2).
    offsets = [(0, 1), (1, 2), (1, 2), (1, 2), (1, 2), (2, 3)]
    tags = align_bio_tags(offsets, [("SECRET", 1, 2)])
    assert tags == [0, tag("B-SECRET"), tag("I-SECRET"), tag("I-SECRET"), tag("I-SECRET"), 0]
    assert decode_bio_to_spans(tags, offsets) == [("SECRET", 1, 2)]


# --- alignment, property: spans on word boundaries round-trip exactly -------------------------

_WORD = st.text(
    alphabet=st.one_of(
        st.sampled_from([*"abcJS@.:-_/()0123456789", "\u200b", "é", "е", "🙂", "日"]),
        st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    ),
    min_size=1,
    max_size=8,
).filter(lambda w: not any(c.isspace() for c in w))


@st.composite
def body_with_word_spans(draw):
    words = draw(st.lists(_WORD, min_size=1, max_size=14))
    seps = [draw(st.sampled_from([" ", "  ", "\n", " \t"])) for _ in words]
    body, starts, ends = "", [], []
    for w, sep in zip(words, seps, strict=True):
        starts.append(len(body))
        body += w
        ends.append(len(body))
        body += sep
    spans, i = [], 0
    while i < len(words):
        if draw(st.booleans()):
            j = draw(st.integers(i, min(i + 3, len(words) - 1)))
            spans.append({"type": draw(st.sampled_from(SPAN_TYPES)), "start": starts[i], "end": ends[j]})
            i = j + 1
        else:
            i += 1
    return body, spans


@settings(max_examples=150, deadline=None)
@given(case=body_with_word_spans())
def test_word_boundary_spans_are_recovered_exactly(tok, case):
    body, spans = case
    ex = make_example(body, spans)
    tokenized = tokenize_example(ex, tok)
    gold = gold_text_spans(ex, tokenized.serialized)
    assert decode_bio_to_spans(tokenized.bio, tokenized.offsets) == gold
    back = spans_in_fields(gold, tokenized.serialized)
    assert [(d["type"], d["field"], d["start"], d["end"]) for d in back] == [
        (s["type"], "body", s["start"], s["end"]) for s in spans
    ]


def test_alignment_loss_on_realistic_fixture_is_zero(tok):
    _, stats = build_tokenized_table(fixture_examples(200, seed=7), tok, shuffle_prob=0.0)
    # 200 hand-templated messages carry ~290 spans of all ten types; every one is recovered.
    assert stats.gold_spans > 250
    assert stats.unrecovered_spans == 0 and stats.alignment_loss == 0.0


# --- partial annotation ---------------------------------------------------------------------


def _field_of(t, s: int, e: int) -> str | None:
    for seg in t.serialized.offsets.segments:
        if seg.start < e and s < seg.end:
            return seg.field
    return None


def test_partially_annotated_source_marks_o_inside_fields_as_partial(tok):
    body = "card 4111 1111 1111 1111 for John Smith"
    ex = make_example(body, [{"type": "PAN", "start": 5, "end": 24}], meta={"annotated_types": ["PAN"]})
    t = tokenize_example(ex, tok)
    assert decode_bio_to_spans(t.bio, t.offsets) == gold_text_spans(ex, t.serialized)
    expected_outside = {None: 0, "recipient": IGNORE_INDEX, "link": IGNORE_INDEX}
    for tag_id, (s, e) in zip(t.bio, t.offsets, strict=True):
        if tag_id not in (tag("B-PAN"), tag("I-PAN")):
            # "John Smith" may be an unannotated NAME: O or NAME, not O. "<BODY>" can never be a span;
            # recipients and links are never labelled, so never O either.
            assert tag_id == expected_outside.get(_field_of(t, s, e), PARTIAL_O)
    assert t.bio[0] == 0
    john = t.serialized.text.index("John")
    assert [b for b, (s, _) in zip(t.bio, t.offsets, strict=True) if s == john] == [PARTIAL_O]
    fully = tokenize_example(make_example(body, [{"type": "PAN", "start": 5, "end": 24}]), tok)
    assert PARTIAL_O not in fully.bio


def test_addresses_outside_the_body_are_ignored_never_o(tok):
    ex = make_example("see you", [], subject="ping ann@corp.example today")
    t = tokenize_example(ex, tok)
    text = t.serialized.text
    for name in ("counsel@lawfirm.example", "bob@corp.example", "ann@corp.example", "share.example/abc"):
        a = text.index(name)
        tags = {b for b, (s, e) in zip(t.bio, t.offsets, strict=True) if s < a + len(name) and a < e}
        assert tags == {IGNORE_INDEX}, name
    # The rest of the subject stays O in a fully annotated row.
    ping = text.index("ping")
    assert [b for b, (s, _) in zip(t.bio, t.offsets, strict=True) if s == ping] == [0]


def test_candidates_mark_the_recognizers_spans_in_the_body_only(tok):
    body = "card 4111 1111 1111 1111 and test 4111 1111 1111 1112"  # the second fails Luhn
    ex = make_example(body, [], subject="card 4111 1111 1111 1111")
    t = tokenize_example(ex, tok)
    body_at = t.serialized.offsets.segment("body").start
    assert decode_bio_to_spans(t.candidates, t.offsets) == [("PAN", body_at + 5, body_at + 24)]
    assert len(t.candidates) == len(t.ids)


def test_destination_evidence_labels_the_class_tags_only(tok):
    ex = make_example("quoting [external] in a body", [])
    t = tokenize_example(ex, tok)
    text = t.serialized.text
    by_tag = {}
    for v, (s, e) in zip(t.dest_evidence, t.offsets, strict=True):
        if v >= 0:
            by_tag.setdefault(text[s:e].strip(), set()).add(v)
    labelled = "".join(text[s:e] for v, (s, e) in zip(t.dest_evidence, t.offsets, strict=True) if v >= 0)
    # counsel@lawfirm.example is external, bob@corp.example internal, the share link external.
    assert labelled.replace(" ", "") == "[external][internal][external]"
    body = t.serialized.offsets.segment("body")
    assert all(
        v == -1 for v, (s, _) in zip(t.dest_evidence, t.offsets, strict=True) if body.start <= s < body.end
    )


# --- predicted spans back to fields ---------------------------------------------------------


def test_spans_in_subject_attachment_and_recipient_map_to_their_field():
    ex = make_example("Please review.", [])
    ser = serialize_example(ex)
    subj = ser.offsets.to_text("subject", 7, 20)  # "2024-LIT-0042"
    att = ser.offsets.to_text("attachment", 0, 6, index=1)  # "nda_v3"
    rcpt = ser.offsets.to_text("recipient", 0, 16, index=1)  # "bob@corp.example"
    out = spans_in_fields([("MATTER", *subj, 0.9), ("NDA", *att), ("EMAIL", *rcpt)], ser)
    assert out == [
        {"type": "MATTER", "field": "subject", "index": 0, "start": 7, "end": 20, "score": 0.9},
        {"type": "NDA", "field": "attachment", "index": 1, "start": 0, "end": 6},
        {"type": "EMAIL", "field": "recipient", "index": 1, "start": 0, "end": 16},
    ]
    assert ex.subject[7:20] == "2024-LIT-0042" and ex.attachments[1].name[0:6] == "nda_v3"


def test_spans_crossing_a_field_boundary_are_clipped_or_dropped():
    ser = serialize_example(make_example("Please review.", []))
    subj_start = ser.offsets.segment("subject").start
    # Starts on the "<SUBJECT> " tag, ends 6 characters into the subject: clipped to "Matter".
    out = spans_in_fields([("MATTER", subj_start - 4, subj_start + 6)], ser)
    assert out == [{"type": "MATTER", "field": "subject", "index": 0, "start": 0, "end": 6}]
    # Inside the "<CHANNEL> email" header: no field to point at.
    assert spans_in_fields([("EMAIL", 0, 9)], ser) == []


def test_predicted_subject_span_round_trips_through_tokens(tok):
    ex = make_example("Please review.", [])
    t = tokenize_example(ex, tok)
    tags = align_bio_tags(t.offsets, [("MATTER", *t.serialized.offsets.to_text("subject", 7, 20))])
    out = spans_in_fields(decode_bio_to_spans(tags, t.offsets), t.serialized)
    assert out == [{"type": "MATTER", "field": "subject", "index": 0, "start": 7, "end": 20}]


def test_shuffled_sections_keep_spans_right(tok):
    body = "Send 4111-1111-1111-1111 to John Smith at +1 (555) 010-9999."
    spans = [{"type": "PAN", "start": 5, "end": 24}, {"type": "NAME", "start": 28, "end": 38}]
    spans.append({"type": "PHONE", "start": 42, "end": 59})
    ex = make_example(body, spans)
    order = ("link", "body", "attach", "subject", "to", "user", "org", "channel")
    t = tokenize_example(ex, tok, order)
    assert t.serialized.shuffled and t.serialized.section_order == order
    back = spans_in_fields(decode_bio_to_spans(t.bio, t.offsets), t.serialized)
    assert [(d["type"], d["field"], d["start"], d["end"]) for d in back] == [
        ("PAN", "body", 5, 24),
        ("NAME", "body", 28, 38),
        ("PHONE", "body", 42, 59),
    ]
    assert [body[d["start"] : d["end"]] for d in back] == [
        "4111-1111-1111-1111",
        "John Smith",
        "+1 (555) 010-9999",
    ]


# --- the table ------------------------------------------------------------------------------


def test_table_columns_and_values(tok):
    ex = make_example(
        "ssn 123-45-6789",
        [{"type": "SSN", "start": 4, "end": 15}],
        thread_id="th-9",
        meta={"annotated_types": ["SSN", "PAN"], "thread_index": 2, "hard_negative": True},
        labels={"sensitivity": 1, "exposure": None, "context": 0, "obfuscation": 1},
    )
    table, stats = build_tokenized_table([ex], tok, splits={"ex-1": "val"}, shuffle_prob=1.0)
    assert table.schema == TOKENIZED_SCHEMA
    assert table.column_names == [
        "id", "split", "thread_id", "thread_index", "input_ids", "bio", "candidates", "dest_evidence",
        "obf_evidence", "ctx_evidence", "doc_labels", "types_present", "hard_negative", "obfuscated",
        "shuffled", "n_tokens",
    ]  # fmt: skip
    (row,) = table.to_pylist()  # a val row never gets a shuffled variant
    assert row["split"] == "val" and row["thread_id"] == "th-9" and row["thread_index"] == 2
    assert row["doc_labels"] == [1, -1, 0, 1]
    ssn, pan = SPAN_TYPES.index("SSN"), SPAN_TYPES.index("PAN")
    assert row["types_present"] == [1 if i == ssn else 0 if i == pan else -1 for i in range(10)]
    assert row["hard_negative"] is True and row["obfuscated"] is True and row["shuffled"] is False
    assert row["n_tokens"] == len(row["input_ids"]) == len(row["bio"]) == len(row["candidates"])
    assert row["input_ids"] == tokenize_example(ex, tok).ids
    assert row["candidates"] == tokenize_example(ex, tok).candidates
    offsets = tokenize_example(ex, tok).offsets  # the SSN rule finds the gold SSN, and nothing else
    assert decode_bio_to_spans(row["candidates"], offsets) == decode_bio_to_spans(row["bio"], offsets)
    assert row["dest_evidence"] == tokenize_example(ex, tok).dest_evidence
    assert set(row["dest_evidence"]) == {-1, 1}  # no org domains in this meta: every destination is outside
    assert stats.rows == 1 and stats.gold_spans == 1 and stats.alignment_loss == 0.0


def test_train_rows_get_shuffled_variants_with_the_given_probability(tok):
    examples = fixture_examples(60, seed=2)
    splits = {ex.id: ("train" if i < 40 else "test") for i, ex in enumerate(examples)}
    table, stats = build_tokenized_table(examples, tok, splits=splits, shuffle_prob=1.0)
    rows = table.to_pylist()
    assert len(rows) == 40 * 2 + 20 and stats.shuffled_rows == 40
    shuffled = [r for r in rows if r["shuffled"]]
    assert all(r["split"] == "train" for r in shuffled)
    assert {r["id"] for r in shuffled} == {ex.id for ex in examples[:40]}
    # A variant has the same tokens in another order, and the same tagged tokens.
    by_id = {r["id"]: r for r in rows if not r["shuffled"]}
    for r in shuffled:
        orig = by_id[r["id"]]
        # Every section ends in "\n" and starts with a DSL tag (both single tokens), so sections
        # tokenize independently: the variant has exactly the same tokens, in another order.
        assert sorted(r["input_ids"]) == sorted(orig["input_ids"]) and r["input_ids"] != orig["input_ids"]
        assert sum(t != 0 for t in r["bio"]) == sum(t != 0 for t in orig["bio"])
    none, _ = build_tokenized_table(examples, tok, splits=splits, shuffle_prob=0.0)
    assert none.num_rows == 60
    assert stats.length_histogram == length_histogram(r["n_tokens"] for r in rows)
    assert stats.max_tokens == max(r["n_tokens"] for r in rows)
    assert stats.mean_tokens == pytest.approx(sum(r["n_tokens"] for r in rows) / 100)


def test_length_histogram_bins():
    h = length_histogram([0, 63, 64, 300, 5000])
    assert h["0-63"] == 2 and h["64-127"] == 1 and h["256-511"] == 1 and h["4096+"] == 1
    assert sum(h.values()) == 5
    assert list(h) == ["0-63", "64-127", "128-255", "256-511", "512-1023", "1024-2047", "2048-4095", "4096+"]


def test_obfuscation_evidence_marks_the_hidden_value_and_the_plain_ones(tok):
    body = "card 4111 1111 1111 1111 and ssn MTIzLTQ1LTY3ODk="  # the SSN is hidden (base64)
    spans = [{"type": "PAN", "start": 5, "end": 24}, {"type": "SSN", "start": 33, "end": 49}]
    labels = {"sensitivity": 1, "exposure": 1, "context": 0, "obfuscation": 1}
    meta = {"org_domains": ["corp.example"], "obfuscations": ["base64"], "obfuscated_span": 1}
    t = tokenize_example(make_example(body, spans, labels=labels, meta=meta), tok)
    at = t.serialized.offsets.segment("body").start
    marked = {}
    for v, (s, e) in zip(t.obf_evidence, t.offsets, strict=True):
        if v >= 0:
            marked.setdefault(v, []).append((s - at, e - at))
    assert min(s for s, _ in marked[0]) == 5 and max(e for _, e in marked[0]) == 24  # the plain card
    assert min(s for s, _ in marked[1]) == 33 and max(e for _, e in marked[1]) == 49  # the blob
    unknown = make_example(body, spans, labels={**labels, "obfuscation": None}, meta=meta)
    assert set(tokenize_example(unknown, tok).obf_evidence) == {-1}


def _marked(t, values):
    """Body character ranges of the tokens whose label is in ``values``."""
    at = t.serialized.offsets.segment("body").start
    return [(s - at, e - at) for v, (s, e) in zip(t.ctx_evidence, t.offsets, strict=True) if v in values]


def test_context_evidence_marks_each_sensitive_value_allowed_or_not(tok):
    body = "matter 2024-LIT-0042 and card 4111 1111 1111 1111 for Ana"
    spans = [{"type": "MATTER", "start": 7, "end": 20}, {"type": "PAN", "start": 30, "end": 49},
             {"type": "NAME", "start": 54, "end": 57}]  # fmt: skip
    # LEGAL to counsel and an internal colleague: the matter is part of the job, the card is not, and
    # a name alone makes nothing sensitive.
    recipients = ["counsel@baker-lowe-llp.example", "bob@corp.example"]
    labels = {"sensitivity": 1, "exposure": 1, "context": 0, "obfuscation": 0}
    t = tokenize_example(make_example(body, spans, labels=labels, recipients=recipients, links=[]), tok)
    ones, zeros = _marked(t, {1}), _marked(t, {0})
    assert min(s for s, _ in ones) == 7 and max(e for _, e in ones) == 20
    assert min(s for s, _ in zeros) == 30 and max(e for _, e in zeros) == 49
    assert not _marked(t, {0, 1})[-1][1] > 49  # the lone NAME is unlabelled
    # To a personal address, the matter is not allowed either.
    out = tokenize_example(
        make_example(body, spans, labels=labels, recipients=["ana@gmail.com"], links=[]), tok
    )
    assert _marked(out, {1}) == [] and min(s for s, _ in _marked(out, {0})) == 7
    # Unknown context, or a label the rules do not derive (a reviewer's call): no token labels.
    for ctx in (None, 1):
        row = make_example(body, spans, labels={**labels, "context": ctx}, recipients=recipients, links=[])
        assert set(tokenize_example(row, tok).ctx_evidence) == {-1}


def test_context_evidence_marks_a_hidden_value_illegitimate(tok):
    body = "card 4111 1111 1111 1111 and ssn MTIzLTQ1LTY3ODk="  # the SSN is hidden (base64)
    spans = [{"type": "PAN", "start": 5, "end": 24}, {"type": "SSN", "start": 33, "end": 49}]
    labels = {"sensitivity": 1, "exposure": 0, "context": 0, "obfuscation": 1}
    meta = {"org_domains": ["corp.example"], "obfuscations": ["base64"], "obfuscated_span": 1}
    user = {"role": "FINANCE"}  # a card to an internal colleague is FINANCE's job; hiding an SSN is not
    row = make_example(
        body, spans, labels=labels, meta=meta, user=user, recipients=["bob@corp.example"], links=[]
    )
    t = tokenize_example(row, tok)
    assert min(s for s, _ in _marked(t, {1})) == 5 and max(e for _, e in _marked(t, {1})) == 24
    assert min(s for s, _ in _marked(t, {0})) == 33 and max(e for _, e in _marked(t, {0})) == 49
    # Obfuscated, but which value is hidden is not recorded: no token labels rather than wrong ones.
    meta_unknown = {k: v for k, v in meta.items() if k != "obfuscated_span"}
    row = make_example(
        body, spans, labels=labels, meta=meta_unknown, user=user, recipients=["bob@corp.example"], links=[]
    )
    assert set(tokenize_example(row, tok).ctx_evidence) == {-1}


def test_the_table_records_the_dsl_version_its_rows_were_serialized_in(tok, tmp_path):
    import pyarrow.parquet as pq

    from hrm_core.model.train_data import load_tokenized

    ex = make_example("ssn 123-45-6789", [{"type": "SSN", "start": 4, "end": 15}], user={"role": "HR"})
    for version in (1, 2):
        table, _ = build_tokenized_table([ex], tok, shuffle_prob=0.0, dsl_version=version)
        pq.write_table(table, tmp_path / f"v{version}.parquet")
        assert load_tokenized(tmp_path / f"v{version}.parquet").dsl_version == version
        text = tokenize_example(ex, tok, dsl_version=version).serialized.text
        assert ("may=PII>internal,payroll SSN>internal,payroll" in text) == (version == 2)
    legacy = table.replace_schema_metadata(None)  # written before versions
    assert tokenized_dsl_version(legacy.schema) == 1 and load_tokenized(legacy).dsl_version == 1
    # ... and the candidate marks its rows hold: a table from before the key has the leetspeak mark only.
    assert load_tokenized(table).candidate_marks == {"leet", "name"}
    assert load_tokenized(legacy).candidate_marks == {"leet"}


def _text_marked(t, mark: int) -> str:
    """The serialized text of the tokens a tokenized example's candidate channel gives `mark`, no spaces."""
    pieces = (t.serialized.text[s:e] for c, (s, e) in zip(t.candidates, t.offsets, strict=True) if c == mark)
    return "".join(pieces).replace(" ", "")


def test_leetspeak_words_are_marked_where_no_typed_candidate_is(tok):
    from hrm_core.tokens.features import LEET_CANDIDATE, candidate_tags, leet_words

    text = "Thanks to W4rd4 G0d4; c0nf1d3nt14l, 54n714g0. Not test1, ipv4, 2024, sha256 or 3f4a1b0c5d7e1a3b."
    assert [text[s:e] for s, e in leet_words(text)] == ["W4rd4", "G0d4", "c0nf1d3nt14l", "54n714g0"]
    ex = make_example("card 4111 1111 1111 1111 from W4rd4 G0d4", [])
    t = tokenize_example(ex, tok)
    assert _text_marked(t, LEET_CANDIDATE) == "W4rd4G0d4"  # the table stores the mark
    body_at = t.serialized.offsets.segment("body").start
    typed = [c if c != LEET_CANDIDATE else 0 for c in t.candidates]
    assert decode_bio_to_spans(typed, t.offsets) == [("PAN", body_at + 5, body_at + 24)]
    assert (
        candidate_tags(t.serialized, t.offsets, leetspeak=False) == typed
    )  # what a model without it is served (no census name in this text)


def test_census_names_are_marked_where_no_typed_candidate_is(tok):
    from hrm_core.tokens.features import LEET_CANDIDATE, NAME_CANDIDATE, candidate_tags

    ex = make_example("Dear Jessica, Garcia's card 4111 1111 1111 1111 and W4rd4 G0d4", [])
    t = tokenize_example(ex, tok)
    # "Dear" is a census surname: a mark, no verdict; "Jessica" has the typed NAME candidate of the
    # baseline's greeting rule, which the mark does not overwrite.
    assert _text_marked(t, NAME_CANDIDATE) == "DearGarcia"
    body_at = t.serialized.offsets.segment("body").start
    assert ("NAME", body_at + 5, body_at + 12) in decode_bio_to_spans(
        [c if c < LEET_CANDIDATE else 0 for c in t.candidates], t.offsets
    )
    assert LEET_CANDIDATE in t.candidates  # the table stores both marks
    unnamed = [c if c != NAME_CANDIDATE else 0 for c in t.candidates]
    assert (
        candidate_tags(t.serialized, t.offsets, names=False) == unnamed
    )  # what a model without it is served
    assert candidate_tags(t.serialized, t.offsets, leetspeak=False, names=False) == [
        0 if c in (LEET_CANDIDATE, NAME_CANDIDATE) else c for c in t.candidates
    ]
