import pytest

from hrm_core.data.contract import (
    BIO_TAGS,
    MAX_BODY_CHARS,
    SPAN_TYPES,
    TAG_TO_ID,
    ContractError,
    validate_example,
)


def _row(**over):
    row = {
        "id": "ex-1",
        "channel": "email",
        "user": {"role": "FINANCE", "dept": "AP", "seniority": "MID"},
        "recipients": ["ap@vendor.example"],
        "subject": "invoice",
        "body": "Card 4111 1111 1111 1111 for Jane Doe",
        "spans": [{"type": "PAN", "start": 5, "end": 24}, {"type": "NAME", "start": 29, "end": 37}],
        "labels": {"sensitivity": 1, "exposure": 1, "context": 1, "obfuscation": 0},
        "meta": {"org_domains": ["corp.example"], "source": "synthetic", "scenario": "invoice"},
    }
    row.update(over)
    return row


def reasons(row):
    with pytest.raises(ContractError) as e:
        validate_example(row)
    return e.value.reasons


def test_tag_set_is_o_plus_bio_for_ten_types():
    assert len(SPAN_TYPES) == 10 and len(BIO_TAGS) == 21
    assert BIO_TAGS[0] == "O" and TAG_TO_ID["B-PAN"] == 5 and TAG_TO_ID["I-ADDR"] == 20


def test_valid_example_keeps_extra_meta_and_defaults():
    ex = validate_example(_row())
    assert ex.meta.scenario == "invoice"  # extra meta keys survive
    assert ex.scored_types() == SPAN_TYPES
    assert ex.body[ex.spans[0].start : ex.spans[0].end] == "4111 1111 1111 1111"


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({"channel": "fax"}, "channel: Input should be"),
        ({"user": {"role": "CEO"}}, "user.role: Input should be"),
        ({"body": 42}, "body: Input should be a valid string"),
        (
            {"spans": [{"type": "PAN", "start": 5, "end": 99}]},
            "spans[0].end: span ends at 99, past the end of body",
        ),
        (
            {"spans": [{"type": "PAN", "start": 9, "end": 9}]},
            "spans[0]: end (9) must be greater than start (9)",
        ),
        ({"spans": [{"type": "IBAN", "start": 0, "end": 4}]}, "spans[0].type: Input should be"),
        (
            {"spans": [{"type": "PAN", "start": 5, "end": 24}, {"type": "NAME", "start": 20, "end": 30}]},
            "spans[1]: starts at 20, before the previous span ends (24)",
        ),
        ({"labels": {"sensitivity": 2}}, "labels.sensitivity: Input should be less than or equal to 1"),
        ({"labels": {"sensitivity": True}}, "labels.sensitivity: label must be 0, 1 or null"),
        ({"id": ""}, "id: String should have at least 1 character"),
        ({"unexpected": 1}, "unexpected: Extra inputs are not permitted"),
    ],
)
def test_each_broken_field_is_named(over, expected):
    assert any(r.startswith(expected) for r in reasons(_row(**over))), reasons(_row(**over))


def test_missing_field_and_non_object():
    row = _row()
    del row["body"]
    assert "body: Field required" in reasons(row)
    assert reasons([1, 2]) == ["row must be a JSON object, got list"]


def test_body_size_limit():
    big = "x" * (MAX_BODY_CHARS + 1)
    assert any(r.startswith("body: String should have at most") for r in reasons(_row(body=big, spans=[])))


def test_null_labels_allowed_and_content_hash_ignores_id_and_meta():
    a = validate_example(_row(labels={"sensitivity": None}))
    assert a.labels.as_list() == [None, None, None, None]
    b = validate_example(_row(id="other", labels={"sensitivity": None}, meta={"source": "landed:x.jsonl"}))
    assert a.content_hash() == b.content_hash()
    c = validate_example(_row(id="other", body="Card 4111 1111 1111 1111 for Jane Dof"))
    assert c.content_hash() != a.content_hash()
