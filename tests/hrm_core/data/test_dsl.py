import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrm_core.data.contract import validate_example
from hrm_core.data.dsl import SECTIONS, serialize_example, shuffled_section_order

# Arbitrary unicode plus the characters that break naive offset code: zero-width, RTL marks and
# isolates, combining marks, astral-plane emoji, CRLF and lone CR.
TRICKY = "\u200b\u200c\u200d\u2060\ufeff\u200f\u202e\u2067\u0301\U0001f600\r\n\r\u05d0\u0627"
bodies = st.text(alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(TRICKY)), max_size=300)


def _example(
    body, spans, subject="", attachments=(), recipients=("a@x.example",), user=None, channel="email"
):
    return validate_example(
        {
            "id": "p",
            "channel": channel,
            "user": user or {"role": "ENG"},
            "recipients": list(recipients),
            "subject": subject,
            "body": body,
            "attachments": [{"name": n} for n in attachments],
            "links": ["https://share.example/x"],
            "spans": spans,
            "meta": {"org_domains": ["corp.example"]},
        }
    )


@st.composite
def example_with_spans(draw):
    body = draw(bodies)
    cuts = sorted(set(draw(st.lists(st.integers(0, len(body)), max_size=8))))
    spans = [
        {"type": "SECRET", "start": a, "end": b} for a, b in zip(cuts[::2], cuts[1::2], strict=False) if b > a
    ]
    subject = draw(st.text(max_size=40))
    names = draw(st.lists(st.text(min_size=1, max_size=20), max_size=3))
    return _example(body, spans, subject=subject, attachments=names)


@settings(max_examples=300, deadline=None)
@given(example_with_spans(), st.integers(0, 2**32))
def test_every_span_maps_to_the_same_characters_and_back(ex, seed):
    for order in (None, shuffled_section_order(random.Random(seed))):
        ser = serialize_example(ex, section_order=order)
        for s in ex.spans:
            a, b = ser.body_span_to_text(s.start, s.end)
            assert ser.text[a:b] == ex.body[s.start : s.end]
            assert ser.offsets.from_text(a, b) == ("body", 0, s.start, s.end)
        sub = ser.offsets.segment("subject")
        assert ser.text[sub.start : sub.end] == ex.subject
        for i, att in enumerate(ex.attachments):
            seg = ser.offsets.segment("attachment", i)
            assert ser.text[seg.start : seg.end] == att.name
        assert ser.shuffled == (order is not None)


def test_golden_serialization():
    ex = _example("Hi,\nsee card 4111 1111 1111 1111.", [{"type": "PAN", "start": 13, "end": 32}],
                  subject="Q3 invoice", attachments=["inv.pdf"])  # fmt: skip
    ser = serialize_example(ex)
    assert ser.text == (
        "<CHANNEL> email\n<USER> role=ENG dept=- seniority=MID\n<ORG> corp.example\n<TO> a@x.example [external]\n"
        "<SUBJECT> Q3 invoice\n<BODY>\nHi,\nsee card 4111 1111 1111 1111.\n</BODY>\n"
        "<ATTACH> inv.pdf application/octet-stream 0KB\n<LINK> https://share.example/x [external]\n"
    )
    # Version 2 adds the sender's workflow allowances to the <USER> line; nothing else moves but offsets.
    v2 = serialize_example(ex, version=2)
    assert v2.text == ser.text.replace(
        "seniority=MID\n", "seniority=MID may=DBURI>internal SECRET>internal\n"
    )
    assert v2.text[slice(*v2.body_span_to_text(13, 32))] == "4111 1111 1111 1111"
    with pytest.raises(ValueError, match="DSL version"):
        serialize_example(ex, version=3)
    a, b = ser.body_span_to_text(13, 32)
    assert ser.text[a:b] == "4111 1111 1111 1111"
    # A span that straddles two fields is not inside one field.
    assert ser.offsets.from_text(0, len(ser.text)) is None


def test_shuffled_order_is_a_different_permutation():
    rng = random.Random(0)
    for _ in range(20):
        order = shuffled_section_order(rng)
        assert order != SECTIONS and sorted(order) == sorted(SECTIONS)


def test_destination_classes_follow_org_domains():
    ex = _example("hi", [], recipients=("bob@corp.example", "me@gmail.com", "x@partner.example", "#eng"))
    text = serialize_example(ex).text
    assert (
        "<TO> bob@corp.example [internal] ; me@gmail.com [webmail] ; x@partner.example [external] ; #eng [internal]"
        in text
    )


def test_known_providers_outside_the_generator_pool_are_classified_too():
    from hrm_core.data.destinations import destination_class
    from hrm_core.rules.regex_baseline import RegexBaseline

    assert destination_class("live.com", ["corp.example"]) == "webmail"
    assert destination_class("transfer.sh", ["corp.example"], is_link=True) == "public"
    ex = _example("hi", [], recipients=("me@live.com",))
    assert "me@live.com [webmail]" in serialize_example(ex).text
    assert RegexBaseline.exposure_score(ex) > RegexBaseline.exposure_score(
        _example("hi", [], recipients=("b@corp.example",))
    )


@pytest.mark.parametrize(
    ("role", "channel", "may"),
    [
        ("HR", "email", "PII>internal,payroll SSN>internal,payroll"),
        ("SALES", "chat", "NDA>internal,counsel,partner PII>internal"),
        ("ENG", "pr", "-"),  # credentials are never legitimate in a pull request
        ("SECURITY", "upload", "PII>internal"),
        ("OTHER", "email", "-"),
    ],
)
def test_the_user_line_shows_the_senders_workflow_allowances(role, channel, may):
    ex = _example("hi", [], user={"role": role}, channel=channel)
    assert f"<USER> role={role} dept=- seniority=MID may={may}\n" in serialize_example(ex, version=2).text
