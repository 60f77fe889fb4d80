"""Example <-> flat Arrow row round trip, through memory and through Parquet."""

from __future__ import annotations

import pyarrow.parquet as pq

from hrm_core.data.contract import Example
from hrm_core.data.lake import write_parquet_atomic
from hrm_core.data.records import (
    ARROW_SCHEMA,
    example_to_row,
    examples_to_table,
    row_to_example,
    table_to_examples,
)

# Zero-width joiner, RTL override, combining accent, astral emoji, NUL, CRLF, and a ZWJ family.
NASTY = "Pay \u200b4111\u200d1111 \u202eevil\u202c e\u0301 😀 \x00 line\r\nend 👩‍👩‍👧 עברית"


def _example(**kw) -> Example:
    base = {
        "id": "ex-1",
        "thread_id": "t-1",
        "channel": "email",
        "user": {"role": "LEGAL", "dept": "CORP", "seniority": "SENIOR"},
        "recipients": ["counsel@lawfirm.example", "bob@corp.example"],
        "subject": "Matter 2024-LIT-0042",
        "body": "Card 4111 1111 1111 1111 for Bob",
        "attachments": [{"name": "nda.pdf", "mime": "application/pdf", "size": 120_000}],
        "links": ["https://share.example/abc"],
        "labels": {"sensitivity": 1, "exposure": 0, "context": None, "obfuscation": 0},
        "spans": [{"type": "PAN", "start": 5, "end": 24}, {"type": "NAME", "start": 29, "end": 32}],
        "meta": {
            "org_domains": ["corp.example"],
            "source": "synthetic",
            "scenario": "legal",
            "hard_negative": False,
        },
    }
    base.update(kw)
    return Example.model_validate(base)


def test_row_columns_are_flat_and_typed():
    row = example_to_row(_example())
    assert list(row) == ARROW_SCHEMA.names
    assert row["user_role"] == "LEGAL" and row["sensitivity"] == 1 and row["context"] is None
    assert row["annotated_types"] is None  # absent = all ten types, kept distinct from []
    assert row["meta_json"] == '{"hard_negative": false, "scenario": "legal"}'
    assert row["content_hash"] == _example().content_hash()


def test_round_trip_is_exact_in_memory_and_through_parquet(tmp_path):
    start = NASTY.index("4111")
    examples = [
        _example(),
        _example(
            id="ex-2", thread_id=None, recipients=[], attachments=[], links=[], labels={}, spans=[], meta={}
        ),
        _example(
            id="ex-3",
            subject=NASTY,
            body=NASTY,
            spans=[{"type": "PAN", "start": start, "end": start + 9}],
            meta={"annotated_types": [], "source": "landed:x.jsonl", "nested": {"k": [1, "ü"]}},
        ),
        _example(id="ex-4", channel="upload", meta={"annotated_types": ["PAN", "SSN"]}),
    ]
    for ex in examples:
        assert row_to_example(example_to_row(ex)) == ex
    table = examples_to_table(examples)
    assert table.schema == ARROW_SCHEMA and table.num_rows == 4
    path = write_parquet_atomic(table, tmp_path / "x.parquet")
    back = table_to_examples(pq.read_table(path))
    assert back == examples
    assert (
        back[2].body == NASTY and back[2].meta.annotated_types == [] and back[0].meta.annotated_types is None
    )
    assert [b.content_hash() for b in back] == [e.content_hash() for e in examples]


def test_empty_list_gives_empty_typed_table():
    table = examples_to_table([])
    assert table.num_rows == 0 and table.schema == ARROW_SCHEMA
    assert table_to_examples(table) == []


def test_extra_columns_such_as_split_are_ignored():
    row = example_to_row(_example()) | {"split": "val"}
    assert row_to_example(row) == _example()
