"""Share views on a small known `examples` table: the same exact numbers in memory and in the warehouse."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from hrm_core.data.contract import Example
from hrm_core.data.lake import Lake, write_parquet_atomic
from hrm_core.data.records import examples_to_table
from hrm_core.data.shares import SHARE_VIEWS, carrier_source_counts, example_shares, real_carrier_shares
from hrm_core.data.warehouse import query, refresh_views

BODY = "ana@x.test, (555) 555-0100, bo@y.test"
EMAIL = {"type": "EMAIL", "start": 0, "end": 10}
PHONE = {"type": "PHONE", "start": 12, "end": 26}
SECOND_EMAIL = {"type": "EMAIL", "start": 28, "end": 37}
# (split, source, channel, spans): train 5 rows (3 on a carrier), val 2 (1), test 1 (0).
ROWS = [
    ("train", "carrier:sotu", "email", [EMAIL, PHONE]),
    ("train", "carrier:sotu", "chat", []),
    ("train", "carrier:spam-assassin", "email", [EMAIL]),
    ("train", "synthetic", "email", []),
    ("train", "synthetic", "chat", [PHONE]),
    ("val", "carrier:spdx-license-list", "upload", [EMAIL]),
    ("val", "synthetic", "email", []),
    ("test", "synthetic", "pr", [PHONE]),
]


def known_table(rows: list[tuple] = ROWS) -> pa.Table:
    """`rows` (default `ROWS`) as an `examples` table (with its `split` column), one thread per row."""
    examples = [
        Example.model_validate({
            "id": f"k{i}", "channel": channel, "user": {"role": "ENG"}, "body": BODY, "spans": spans,
            "meta": {"source": source},
        })
        for i, (_, source, channel, spans) in enumerate(rows)
    ]  # fmt: skip
    return examples_to_table(examples).append_column("split", pa.array([r[0] for r in rows], pa.string()))


def records(df) -> list[list]:
    return [[round(v, 6) if isinstance(v, float) else v for v in row] for row in df.values.tolist()]


def test_real_carrier_share_per_split():
    assert real_carrier_shares(known_table()) == {
        "test": {"examples": 1, "carrier_examples": 0, "share": 0.0},
        "train": {"examples": 5, "carrier_examples": 3, "share": 0.6},
        "val": {"examples": 2, "carrier_examples": 1, "share": 0.5},
    }


def test_carrier_source_counts_name_the_corpus_sources_of_one_split():
    assert carrier_source_counts(known_table()) == {"sotu": 2, "spam-assassin": 1}  # synthetic is no carrier
    assert carrier_source_counts(known_table(), "val") == {"spdx-license-list": 1}
    assert carrier_source_counts(known_table(), "test") == {}


def test_source_channel_and_span_type_shares_are_exact():
    shares = example_shares(known_table())
    assert records(shares["source_share"]) == [
        ["test", "synthetic", 1, 1.0],
        ["train", "carrier:sotu", 2, 0.4], ["train", "carrier:spam-assassin", 1, 0.2], ["train", "synthetic", 2, 0.4],
        ["val", "carrier:spdx-license-list", 1, 0.5], ["val", "synthetic", 1, 0.5],
    ]  # fmt: skip
    assert records(shares["channel_share"]) == [
        ["test", "pr", 1, 1.0],
        ["train", "chat", 2, 0.4], ["train", "email", 3, 0.6],
        ["val", "email", 1, 0.5], ["val", "upload", 1, 0.5],
    ]  # fmt: skip
    # split, type, spans, examples holding the type, share of the split's examples
    assert records(shares["span_type_share"]) == [
        ["test", "PHONE", 1, 1, 1.0],
        ["train", "EMAIL", 2, 2, 0.4], ["train", "PHONE", 2, 2, 0.4],
        ["val", "EMAIL", 1, 1, 0.5],
    ]  # fmt: skip


def test_a_type_twice_in_one_example_counts_one_example_and_two_spans():
    table = known_table().slice(0, 1)
    spans = pa.array([[EMAIL, PHONE, SECOND_EMAIL]], table.schema.field("spans").type)
    table = table.set_column(table.schema.get_field_index("spans"), "spans", spans)
    df = example_shares(table, ("span_type_share",))["span_type_share"]
    assert records(df) == [["train", "EMAIL", 2, 1, 1.0], ["train", "PHONE", 1, 1, 1.0]]


def test_the_warehouse_views_give_the_same_numbers(tmp_path: Path):
    lake = Lake(tmp_path / "lake").ensure()
    table = known_table()
    write_parquet_atomic(table, lake.table_dir("examples") / "examples.parquet")
    refresh_views(lake)
    in_memory = example_shares(table)
    for view in SHARE_VIEWS:
        key = {"source_share": "source", "channel_share": "channel", "span_type_share": "type"}.get(view)
        order = f"split, {key}" if key else "split"
        assert records(query(lake, f"SELECT * FROM {view} ORDER BY {order}")) == records(in_memory[view]), (
            view
        )


def test_share_views_are_empty_on_a_fresh_lake(tmp_path: Path):
    for view in SHARE_VIEWS:
        assert query(Lake(tmp_path / "fresh"), f"SELECT count(*) AS n FROM {view}")["n"].tolist() == [0]
