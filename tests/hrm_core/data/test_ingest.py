"""Landing-zone ingestion: every broken kind quarantined with its reason, counts reconcile, re-runs add nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hrm_core.data.contract import MAX_BODY_CHARS
from hrm_core.data.ingest import ingest_file
from hrm_core.data.lake import Lake, parquet_files, read_parquet_dir
from hrm_core.data.records import examples_to_table, table_to_examples
from hrm_core.data.warehouse import query

BODY = "Reach Ana at ana@corp.example or 555-0100."


def _obj(i: int = 0, **kw) -> dict:
    obj = {
        "id": f"r{i}",
        "thread_id": f"t{i // 3}",
        "channel": "email",
        "user": {"role": "HR", "dept": "PEOPLE", "seniority": "MID"},
        "recipients": ["bob@corp.example"],
        "subject": f"note {i}",
        "body": f"{BODY} #{i}",
        "labels": {"sensitivity": 1, "exposure": 0, "context": 1, "obfuscation": 0},
        "spans": [{"type": "NAME", "start": 6, "end": 9}, {"type": "EMAIL", "start": 13, "end": 28}],
        "meta": {"org_domains": ["corp.example"], "source": "someone"},
    }
    obj.update(kw)
    return obj


def _line(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def _spans(*triples) -> list[dict]:
    return [{"type": t, "start": s, "end": e} for t, s, e in triples]


BROKEN: dict[str, bytes] = {
    "invalid_utf8": b'{"id": "r9", "body": "caf\xe9"}',
    "invalid_json": b'{"id": "r9",, "body": "x"}',
    "not_an_object": b'["r9", "email"]',
    "missing_field": _line({k: v for k, v in _obj(9).items() if k != "body"}),
    "unknown_field": _line(_obj(9, colour="red")),
    "wrong_type": _line(_obj(9, body=12345)),
    "body_too_large": _line(_obj(9, body="x" * 5_000_000, spans=[])),
    "empty_id": _line(_obj(9, id="")),
    "bad_label": _line(_obj(9, labels={"sensitivity": 2})),
    "unknown_channel": _line(_obj(9, channel="fax")),
    "unknown_role": _line(_obj(9, user={"role": "PIRATE"})),
    "unknown_span_type": _line(_obj(9, spans=_spans(("IBAN", 0, 5)))),
    "span_empty": _line(_obj(9, spans=_spans(("NAME", 6, 6)))),
    "span_out_of_bounds": _line(_obj(9, spans=_spans(("NAME", 6, 999)))),
    "span_overlap": _line(_obj(9, spans=_spans(("NAME", 6, 12), ("EMAIL", 10, 28)))),
    "span_unsorted": _line(_obj(9, spans=_spans(("EMAIL", 13, 28), ("NAME", 6, 9)))),
}


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(tmp_path / "lake").ensure()


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_each_broken_kind_is_quarantined_with_its_reason(lake, tmp_path, kind):
    path = tmp_path / f"{kind}.jsonl"
    path.write_bytes(b"\n".join([_line(_obj(0)), BROKEN[kind], _line(_obj(1))]) + b"\n")
    result = ingest_file(lake, path)
    assert (result.rows, result.accepted, result.quarantined, result.duplicates) == (3, 2, 1, 0)
    assert result.reasons == {kind: 1}
    q = read_parquet_dir(lake.quarantine).to_pylist()
    assert [(r["file"], r["line"], r["reason"]) for r in q] == [(path.name, 2, kind)]
    assert q[0]["message"] and len(q[0]["raw_excerpt"]) <= 200


def test_truncated_last_line_is_quarantined_and_the_rest_ingested(lake, tmp_path):
    path = tmp_path / "cut.jsonl"
    full = _line(_obj(2))
    path.write_bytes(_line(_obj(0)) + b"\n" + _line(_obj(1)) + b"\n" + full[: len(full) // 2])
    result = ingest_file(lake, path)
    assert result.as_dict()["reasons"] == {"truncated_line": 1}
    assert (result.rows, result.accepted, result.quarantined) == (3, 2, 1)
    assert query(lake, "SELECT line, reason FROM quarantine").values.tolist() == [[3, "truncated_line"]]


def test_mixed_file_reconciles_and_reingest_adds_nothing(lake, tmp_path):
    valid = [_line(_obj(i)) for i in range(20)]
    lines = [*valid, valid[3], valid[4], b"", b"   ", *BROKEN.values(), valid[0]]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")  # Windows line endings too

    first = ingest_file(lake, path)
    assert first.as_dict() | {"reasons": None} == {
        "rows": 20 + 3 + len(BROKEN), "accepted": 20, "quarantined": len(BROKEN), "duplicates": 3,
        "file": "mixed.jsonl", "blank_lines": 2, "reasons": None,
    }  # fmt: skip
    assert first.accepted + first.quarantined + first.duplicates == first.rows
    assert set(first.reasons) == set(BROKEN)

    landed = table_to_examples(read_parquet_dir(lake.table_dir("landed")))
    assert sorted(ex.id for ex in landed) == sorted(f"r{i}" for i in range(20))
    assert {ex.meta.source for ex in landed} == {"landed:mixed.jsonl"}
    assert landed[0].meta.org_domains == ["corp.example"]

    again = ingest_file(lake, path)
    assert (again.rows, again.accepted, again.quarantined, again.duplicates) == (
        first.rows,
        0,
        len(BROKEN),
        23,
    )
    counts = query(lake, "SELECT (SELECT count(*) FROM landed_examples), (SELECT count(*) FROM quarantine)")
    assert counts.values.tolist() == [[20, len(BROKEN)]]  # nothing appended by the re-run


def test_duplicates_across_files_are_counted_not_added(lake, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(b"\n".join(_line(_obj(i)) for i in range(5)))
    # Same content under new ids and another source is still a duplicate (hash ignores id and meta).
    b.write_bytes(b"\n".join(_line(_obj(i, id=f"new{i}", meta={})) for i in range(3, 8)))
    assert ingest_file(lake, a).accepted == 5
    rb = ingest_file(lake, b)
    assert (rb.rows, rb.accepted, rb.duplicates) == (5, 3, 2)
    assert len(parquet_files(lake.table_dir("landed"))) == 2


def test_parquet_files_nested_and_flat_layouts(lake, tmp_path):
    nested = tmp_path / "nested.parquet"
    rows = [_obj(0), _obj(1, channel="fax"), _obj(2, thread_id=None)]
    pq.write_table(pa.Table.from_pylist(rows), nested)
    rn = ingest_file(lake, nested)
    assert (rn.rows, rn.accepted, rn.quarantined) == (3, 2, 1)
    assert read_parquet_dir(lake.quarantine).column("line").to_pylist() == [2]

    flat = tmp_path / "flat.parquet"
    pq.write_table(examples_to_table(table_to_examples(read_parquet_dir(lake.table_dir("landed")))), flat)
    rf = ingest_file(lake, flat)
    assert (rf.rows, rf.accepted, rf.duplicates) == (2, 0, 2)

    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    rb = ingest_file(lake, broken)
    assert (rb.rows, rb.quarantined, dict(rb.reasons)) == (1, 1, {"unreadable_file": 1})


def test_five_megabyte_body_does_not_crash(lake, tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_bytes(
        BROKEN["body_too_large"] + b"\n" + _line(_obj(0, body="y" * MAX_BODY_CHARS, spans=[])) + b"\n"
    )
    result = ingest_file(lake, path)
    assert (result.rows, result.accepted, result.quarantined) == (2, 1, 1)
    assert result.reasons == {"body_too_large": 1}
    excerpt = query(lake, "SELECT length(raw_excerpt) AS n FROM quarantine")["n"].tolist()
    assert excerpt == [200]


@pytest.mark.parametrize("crash_on_call", [1, 2])
def test_crash_mid_write_leaves_no_partial_partition(lake, tmp_path, monkeypatch, crash_on_call):
    path = tmp_path / "crash.jsonl"
    path.write_bytes(b"\n".join([_line(_obj(0)), _line(_obj(1)), BROKEN["bad_label"]]))
    real_write, calls = pq.write_table, []

    def flaky(table, where, **kw):
        calls.append(1)
        if len(calls) == crash_on_call:  # 1: the landed partition, 2: the quarantine partition
            where.write(b"PAR1 half a file")
            raise OSError("killed mid-write")
        return real_write(table, where, **kw)

    monkeypatch.setattr(pq, "write_table", flaky)
    with pytest.raises(OSError, match="killed"):
        ingest_file(lake, path)
    monkeypatch.undo()
    every_file = [p.name for p in lake.root.rglob("*") if p.is_file()]
    assert not [n for n in every_file if n.endswith(".tmp")]
    assert len(parquet_files(lake.table_dir("landed"))) == crash_on_call - 1
    assert parquet_files(lake.quarantine) == []

    rerun = ingest_file(lake, path)  # the re-run repairs: nothing lost, nothing doubled
    assert rerun.accepted + rerun.duplicates == 2 and rerun.quarantined == 1
    assert read_parquet_dir(lake.table_dir("landed")).num_rows == 2
    assert read_parquet_dir(lake.quarantine).num_rows == 1


# Two ingest processes released at the same instant, as two concurrent sensor runs would be.
INGEST = """
import json, os, sys, time
from hrm_core.data.ingest import ingest_file
from hrm_core.data.lake import Lake
lake, path, go = Lake(sys.argv[1]), sys.argv[2], sys.argv[3]
while not os.path.exists(go):
    time.sleep(0.005)
print(json.dumps(ingest_file(lake, path).as_dict()))
"""


def test_concurrent_ingests_of_the_same_content_never_double_a_row(lake, tmp_path):
    rows = [_line(_obj(i)) for i in range(400)] + [BROKEN["bad_label"], _line(_obj(0))]
    files = [tmp_path / "drop-a.jsonl", tmp_path / "drop-b.jsonl"]  # same bytes, two names
    for f in files:
        f.write_bytes(b"\n".join(rows) + b"\n")
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", INGEST, str(lake.root), str(f), str(go)], stdout=subprocess.PIPE
        )
        for f in files
    ]
    time.sleep(1.0)  # both interpreters up and waiting
    go.touch()
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    for r in results:  # each call still reconciles on its own
        assert r["rows"] == 402 and r["quarantined"] == 1
        assert r["accepted"] + r["quarantined"] + r["duplicates"] == r["rows"]
    assert sorted(r["accepted"] for r in results) == [0, 400]
    landed = read_parquet_dir(lake.table_dir("landed")).column("content_hash").to_pylist()
    assert len(landed) == len(set(landed)) == 400


def test_reingest_after_earlier_copies_vanished_keeps_the_partition_rows(lake, tmp_path):
    other = tmp_path / "other.jsonl"
    other.write_bytes(_line(_obj(1)) + b"\n")
    ingest_file(lake, other)
    both = tmp_path / "both.jsonl"
    both.write_bytes(_line(_obj(0)) + b"\n" + _line(_obj(1)) + b"\n")
    assert ingest_file(lake, both).accepted == 1  # r1 is other.jsonl's
    (p,) = [p for p in parquet_files(lake.table_dir("landed")) if p.name.startswith("other")]
    p.unlink()  # the other file's partition is dropped by hand
    assert ingest_file(lake, both).accepted == 1  # r1 again, into the same partition as r0
    ids = sorted(read_parquet_dir(lake.table_dir("landed")).column("id").to_pylist())
    assert ids == ["r0", "r1"]
