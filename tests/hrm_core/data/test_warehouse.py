"""DuckDB views over a real lake in tmp_path: empty lake, span text, quality views, the documented queries,
and concurrent readers and writers in real processes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from hrm_core.data.contract import Example
from hrm_core.data.ingest import ingest_file
from hrm_core.data.lake import Lake, write_parquet_atomic
from hrm_core.data.records import examples_to_table
from hrm_core.data.splits import build_examples_table
from hrm_core.data.warehouse import WarehouseBusyError, connect, query, refresh_views

DOCS = Path(__file__).resolve().parents[3] / "docs" / "duckdb_queries.md"
VIEWS = (
    "examples", "synthetic_examples", "agentic_examples", "landed_examples", "carrier_examples", "spans",
    "quarantine", "label_balance", "span_type_counts", "quarantine_reasons", "duplicates_by_source",
    "split_summary", "real_carrier_share", "source_share", "channel_share", "span_type_share",
)  # fmt: skip
UNICODE_BODY = "Hi \u200bJosé 😀 \u202eAna\u202c, key AKIA1234"


def _example(
    i: int, source: str, body: str | None = None, spans=None, sensitivity: int | None = 1
) -> Example:
    body = body if body is not None else f"Mail ana{i}@corp.example now"
    if spans is None:
        spans = [{"type": "EMAIL", "start": 5, "end": 5 + len(f"ana{i}@corp.example")}]
    return Example.model_validate(
        {
            "id": f"{source}-{i}",
            "thread_id": f"t{i // 2}",
            "channel": "email",
            "user": {"role": "ENG"},
            "body": body,
            "labels": {"sensitivity": sensitivity, "exposure": i % 2},
            "spans": spans,
            "meta": {"source": source},
        }
    )


@pytest.fixture
def populated(tmp_path) -> Lake:
    """40 synthetic rows (2 exact duplicates), one unicode row, a landed file with 2 bad rows."""
    lake = Lake(tmp_path / "lake").ensure()
    start = UNICODE_BODY.index("José")
    synthetic = [_example(i, "synthetic", sensitivity=int(i % 4 == 0)) for i in range(40)]
    synthetic += [_example(0, "synthetic").model_copy(update={"id": "copy-0"}), synthetic[1]]
    synthetic.append(
        _example(
            99, "synthetic", body=UNICODE_BODY, spans=[{"type": "NAME", "start": start, "end": start + 4}]
        )
    )
    write_parquet_atomic(examples_to_table(synthetic), lake.table_dir("synthetic") / "part-0.parquet")
    landing = tmp_path / "drop.jsonl"
    good = _example(500, "x").model_dump(mode="json")
    landing.write_text("\n".join([json.dumps(good), json.dumps({**good, "channel": "fax"}), "[1]"]) + "\n")
    ingest_file(lake, landing)
    tables = [
        examples_to_table(synthetic),
        examples_to_table([Example.model_validate({**good, "meta": {"source": "landed:drop.jsonl"}})]),
    ]
    table, _ = build_examples_table(tables)
    write_parquet_atomic(table, lake.table_dir("examples") / "examples.parquet")
    return lake


def test_every_view_is_queryable_on_an_empty_lake(tmp_path):
    lake = Lake(tmp_path / "fresh")  # not even created yet
    for view in VIEWS:
        assert query(lake, f"SELECT count(*) AS n FROM {view}")["n"].tolist() == [0], view
    cols = query(lake, "SELECT * FROM examples").columns.tolist()
    assert cols[:3] == ["id", "thread_id", "channel"] and cols[-1] == "split"


def test_spans_view_cuts_text_by_python_character_offsets(populated):
    df = query(
        populated, "SELECT id, type, start, \"end\", text, length FROM spans WHERE id = 'synthetic-99'"
    )
    start = UNICODE_BODY.index("José")  # 4: the zero-width space counts as one character
    assert df.to_dict("records") == [
        {"id": "synthetic-99", "type": "NAME", "start": start, "end": start + 4, "text": "José", "length": 4}
    ]
    everything = query(
        populated, 'SELECT e.body, s.start, s."end", s.text FROM spans s JOIN examples e USING (id)'
    )
    assert len(everything) == 42  # 41 unique synthetic + 1 landed, one span each (unicode row included)
    for body, start, end, text in everything.itertuples(index=False):
        assert body[start:end] == text


def test_quality_views_count_correctly(populated):
    dups = query(
        populated, "SELECT source, rows, duplicates_within FROM duplicates_by_source ORDER BY source"
    )
    assert dups.values.tolist() == [["landed:drop.jsonl", 1, 0], ["synthetic", 43, 2]]
    reasons = query(populated, "SELECT reason, rows FROM quarantine_reasons ORDER BY reason")
    assert reasons.values.tolist() == [["not_an_object", 1], ["unknown_channel", 1]]
    summary = query(populated, "SELECT sum(examples) AS n, sum(threads) AS t FROM split_summary")
    assert summary.values.tolist() == [[42, 22]]  # ids t0..t19, t49 (#99) and t250 (landed)
    bal = query(
        populated, "SELECT sum(n) AS n, sum(positives) AS pos FROM label_balance WHERE head = 'sensitivity'"
    )
    assert bal.values.tolist() == [[42, 10 + 1 + 1]]  # i % 4 == 0 for i < 40, plus #99 and the landed row
    ctx = query(populated, "SELECT sum(n) AS n FROM label_balance WHERE head = 'context'")["n"].tolist()
    assert ctx == [0]  # unlabeled everywhere: n counts labeled rows only
    types = query(populated, "SELECT type, spans, examples, share FROM span_type_counts ORDER BY type")
    assert types.values.tolist() == [["EMAIL", 41, 41, 41 / 42], ["NAME", 1, 1, 1 / 42]]


def _documented_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOCS.read_text(), flags=re.S)


def test_the_seven_documented_queries_run_and_make_sense(populated):
    sql = _documented_queries()
    assert len(sql) == 7
    balance, span_counts, reasons, dups, per_split, carrier, sources = (query(populated, s) for s in sql)
    assert set(balance["head"]) == {"sensitivity", "exposure"} and (balance["prevalence"].between(0, 1)).all()
    assert span_counts["type"].tolist() == ["EMAIL", "NAME"] and span_counts["spans"].tolist() == [41, 1]
    assert reasons["reason"].tolist() == ["not_an_object", "unknown_channel"]
    assert reasons[["rows", "first_line"]].values.tolist() == [[1, 3], [1, 2]]
    assert dups.values.tolist()[0] == ["synthetic", 43, 2]
    assert per_split["examples"].sum() == 42 and set(per_split["split"]) <= {"train", "val", "test"}
    assert carrier["examples"].sum() == 42 and carrier["carrier_examples"].sum() == 0
    assert carrier["real_carrier_share"].tolist() == [0.0] * len(carrier)
    assert sources.groupby("source")["examples"].sum().to_dict() == {"landed:drop.jsonl": 1, "synthetic": 41}
    assert sources["licence"].isna().all()  # only carrier examples record a licence


def test_views_follow_the_lake_when_it_moves(populated, tmp_path):
    refresh_views(populated)
    moved = Lake(tmp_path / "moved")
    shutil.move(populated.root, moved.root)
    assert query(moved, "SELECT count(*) AS n FROM examples")["n"].tolist() == [42]
    # New files appearing in a previously empty table are picked up without an explicit refresh.
    assert query(moved, "SELECT count(*) AS n FROM agentic_examples")["n"].tolist() == [0]
    write_parquet_atomic(
        examples_to_table([_example(7, "agentic")]), moved.table_dir("agentic") / "a.parquet"
    )
    assert query(moved, "SELECT count(*) AS n FROM agentic_examples")["n"].tolist() == [1]


def test_no_connection_is_held_between_calls(populated):
    query(populated, "SELECT count(*) FROM examples")
    # Another process can take the single write lock right after a query returns.
    code = f"import duckdb; c = duckdb.connect({str(populated.warehouse)!r}); c.execute('CREATE TABLE probe(x INT)'); c.close()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    with connect(populated, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM probe").fetchone() == (0,)
    with pytest.raises(duckdb.Error):
        con.execute("SELECT 1")  # closed on exit


# --- concurrency: real processes on a real DuckDB file ---------------------------------------------

# Holds the warehouse file open (read-only, as an analyst's `duckdb -readonly` would; or read-write) and
# says so, then waits to be killed or for its hold time to pass.
HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print("holding", flush=True)
time.sleep(float(sys.argv[3]))
con.close()
"""


def _hold(lake: Lake, mode: str, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lake.warehouse), mode, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def test_concurrent_cli_queries_on_a_copied_lake_all_answer_and_write_nothing(populated, tmp_path):
    refresh_views(populated)
    copy = tmp_path / "copy"
    shutil.copytree(populated.root, copy)  # views now name the old root: stale for the copy
    before = (copy / "warehouse.duckdb").read_bytes()
    sql = "SELECT count(*) AS n FROM examples"
    cli = [sys.executable, "-m", "hrm_core.cli.main", "query", "--lake", str(copy), sql]
    procs = [
        subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in outs]
    assert [json.loads(out) for out, _ in outs] == [[{"n": 42}]] * 4
    assert all(err == "" for _, err in outs)
    assert (copy / "warehouse.duckdb").read_bytes() == before  # readers never rewrite the views


def test_query_answers_while_a_writer_holds_the_file(populated):
    refresh_views(populated)
    holder = _hold(populated, "rw", 60)
    try:
        t0 = time.monotonic()
        assert query(populated, "SELECT count(*) AS n FROM examples")["n"].tolist() == [42]
        assert time.monotonic() - t0 < 10  # answered from the Parquet, not after waiting
    finally:
        holder.kill()
        holder.wait(timeout=60)


def test_query_reads_current_views_from_the_file_and_never_creates_it(populated):
    assert query(populated, "SELECT count(*) AS n FROM landed_examples")["n"].tolist() == [1]
    assert not populated.warehouse.exists()
    refresh_views(populated)
    with connect(populated) as con:  # a view only the file has: proves the file answered
        con.execute("CREATE VIEW only_in_file AS SELECT 7 AS x")
    assert query(populated, "SELECT x FROM only_in_file")["x"].tolist() == [7]


def test_refresh_views_waits_for_an_open_reader_then_succeeds(populated):
    refresh_views(populated)
    reader = _hold(populated, "ro", 2.0)
    try:
        t0 = time.monotonic()
        refresh_views(populated, lock_wait_s=60)
        waited = time.monotonic() - t0
    finally:
        reader.wait(timeout=60)
    assert 0.5 < waited < 30  # it retried until the reader closed, then refreshed
    assert query(populated, "SELECT count(*) AS n FROM examples")["n"].tolist() == [42]


def test_refresh_views_gives_up_with_one_line_naming_the_holder(populated):
    refresh_views(populated)
    reader = _hold(populated, "ro", 60)
    sleeps: list[float] = []
    try:
        with pytest.raises(WarehouseBusyError) as info:
            refresh_views(populated, lock_wait_s=1.0, sleep=lambda s: (sleeps.append(s), time.sleep(s)))
    finally:
        reader.kill()
        reader.wait(timeout=60)
    message = str(info.value)
    assert "\n" not in message and f"PID {reader.pid}" in message and "warehouse.duckdb" in message
    assert len(sleeps) >= 2 and all(0 <= s <= 2.0 for s in sleeps)  # backed off, bounded


def test_refresh_views_waits_for_a_reader_in_this_process_too(populated):
    refresh_views(populated)
    reader = duckdb.connect(str(populated.warehouse), read_only=True)
    sleeps: list[float] = []

    def close_reader_then_sleep(s: float) -> None:
        sleeps.append(s)
        reader.close()  # the reader finishes while the writer backs off

    refresh_views(populated, lock_wait_s=30, sleep=close_reader_then_sleep)
    assert len(sleeps) == 1
