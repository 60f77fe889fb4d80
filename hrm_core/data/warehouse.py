"""The DuckDB warehouse: views over the lake's Parquet, never a copy of it.

`warehouse.duckdb` holds only view definitions, so it is disposable: `refresh_views` rebuilds them.
The views name the Parquet by *absolute* glob (``read_parquet('/abs/lake/parquet/examples/*.parquet')``),
because DuckDB resolves a relative path against the process's working directory, not the database
file. Moving the lake therefore needs one `refresh_views`; the file records what its views were built
for (the lake root and the set of non-empty tables) so a reader can tell when they are stale.

A glob over no files is an error in DuckDB, so a table without files gets an empty view with the
same typed columns, and queries on a fresh lake return zero rows rather than failing.

Concurrency. DuckDB lets one process write a database file, or any number read it, never both; a
held connection blocks the others. So:
- only `refresh_views` writes the file (the `examples` asset, in the Dagster `duckdb` pool, and
  `hrm-dlp ingest`). It retries a lock conflict (a reader holding the file) with exponential backoff
  and jitter for up to `lock_wait_s`, then raises `WarehouseBusyError` with one line naming the holder;
- `query` never writes. It opens the file read-only when its views are current; when they are
  missing or stale, or a writer holds the file this instant, it answers from an in-memory DuckDB
  holding the very same view definitions over the Parquet files. Both answer alike, because a view is
  only a query over the Parquet, which is the source of truth; so queries never wait and never fail
  for a lock, however many run at once.
Every function here opens a connection, does its work and closes it; nothing connects at import.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from hrm_core.data.contract import DOC_HEADS
from hrm_core.data.lake import Lake, parquet_files
from hrm_core.data.records import ARROW_SCHEMA, QUARANTINE_SCHEMA
from hrm_core.data.shares import SHARE_VIEWS

log = logging.getLogger(__name__)

# Bump when a view definition changes, so `query` stops trusting existing warehouse files' views.
VIEWS_VERSION = 2
LOCK_WAIT_S = 60.0  # how long `refresh_views` retries a lock held by another process
_BACKOFF_FIRST_S, _BACKOFF_MAX_S = 0.05, 2.0
EXAMPLES_SCHEMA = ARROW_SCHEMA.append(pa.field("split", pa.string()))
# Raw example tables and the views they back; `examples` (split, de-duplicated) is built from them.
RAW_TABLES: dict[str, str] = {
    "synthetic": "synthetic_examples",
    "agentic": "agentic_examples",
    "landed": "landed_examples",
    "carrier_examples": "carrier_examples",
}


class WarehouseBusyError(RuntimeError):
    """Another process held the warehouse file past the retry budget; the message is one line."""


@contextmanager
def connect(lake: Lake, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the lake's DuckDB file for one unit of work and always close it."""
    if not read_only:
        lake.root.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(lake.warehouse), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def _duckdb_type(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"{_duckdb_type(t.value_type)}[]"
    if pa.types.is_struct(t):
        inner = ", ".join(f'"{t.field(i).name}" {_duckdb_type(t.field(i).type)}' for i in range(t.num_fields))
        return f"STRUCT({inner})"
    names = {pa.int8(): "TINYINT", pa.int32(): "INTEGER", pa.int64(): "BIGINT", pa.float64(): "DOUBLE"}
    return names[t]


def _source_sql(lake: Lake, table_dir: str, schema: pa.Schema) -> str:
    """SELECT over a table's Parquet files, or a typed zero-row SELECT when it has none."""
    path = lake.root / table_dir
    if parquet_files(path):
        glob = str(path / "*.parquet").replace("'", "''")
        # union_by_name: a partition written before a column was added still reads (column is NULL).
        return f"SELECT * FROM read_parquet('{glob}', union_by_name = true)"
    cols = ", ".join(f'CAST(NULL AS {_duckdb_type(f.type)}) AS "{f.name}"' for f in schema)
    return f"SELECT {cols} WHERE false"


def _signature(lake: Lake) -> str:
    """What the views were built for: code version, lake root, and which tables have files."""
    dirs = [f"parquet/{t}" for t in (*RAW_TABLES, "examples")] + ["quarantine"]
    present = [d for d in dirs if parquet_files(lake.root / d)]
    return json.dumps({"v": VIEWS_VERSION, "root": str(lake.root), "present": present})


def _view_statements(lake: Lake) -> list[str]:
    stmts = [
        f"CREATE OR REPLACE VIEW {view} AS {_source_sql(lake, f'parquet/{table}', ARROW_SCHEMA)}"
        for table, view in RAW_TABLES.items()
    ]
    stmts.append(
        f"CREATE OR REPLACE VIEW examples AS {_source_sql(lake, 'parquet/examples', EXAMPLES_SCHEMA)}"
    )
    stmts.append(f"CREATE OR REPLACE VIEW quarantine AS {_source_sql(lake, 'quarantine', QUARANTINE_SCHEMA)}")
    # Span text is cut out of the body by character offset; DuckDB's substring counts code points,
    # exactly like Python's str indexing, so `text` equals body[start:end] for any unicode.
    stmts.append("""
        CREATE OR REPLACE VIEW spans AS
        SELECT id, split, s.type AS type, s.start AS start, s."end" AS "end",
               substring(body, s.start + 1, s."end" - s.start) AS text,
               s."end" - s.start AS length
        FROM (SELECT id, split, body, unnest(spans) AS s FROM examples)""")
    # Null labels are "not labeled by this source": count() and avg() skip them, so n is labeled rows only.
    balance = " UNION ALL ".join(
        f"SELECT split, '{h}' AS head, count({h}) AS n, CAST(coalesce(sum({h}), 0) AS BIGINT) AS positives, "
        f"avg({h}) AS prevalence FROM examples GROUP BY split"
        for h in DOC_HEADS
    )
    stmts.append(f"CREATE OR REPLACE VIEW label_balance AS {balance}")
    stmts.append("""
        CREATE OR REPLACE VIEW span_type_counts AS
        SELECT type, count(*) AS spans, count(DISTINCT id) AS examples,
               count(DISTINCT id) / (SELECT greatest(count(*), 1) FROM examples) AS share
        FROM spans GROUP BY type""")
    stmts.append("""
        CREATE OR REPLACE VIEW quarantine_reasons AS
        SELECT reason, count(*) AS rows, count(DISTINCT file) AS files
        FROM quarantine GROUP BY reason""")
    raw_union = " UNION ALL ".join(f"SELECT source, content_hash FROM {v}" for v in RAW_TABLES.values())
    # A row is a duplicate when an earlier-or-equal row with the same content exists anywhere in the
    # raw tables: within its own source, or in another one (`examples` keeps one of each).
    stmts.append(f"""
        CREATE OR REPLACE VIEW duplicates_by_source AS
        WITH raw AS ({raw_union}),
             hashes AS (SELECT content_hash, count(*) AS copies, count(DISTINCT source) AS sources
                        FROM raw GROUP BY content_hash)
        SELECT raw.source, count(*) AS rows,
               count(DISTINCT raw.content_hash) AS unique_rows,
               count(*) - count(DISTINCT raw.content_hash) AS duplicates_within,
               count(*) FILTER (WHERE hashes.sources > 1) AS shared_with_other_sources
        FROM raw JOIN hashes USING (content_hash)
        GROUP BY raw.source""")
    stmts.append("""
        CREATE OR REPLACE VIEW split_summary AS
        SELECT split, count(*) AS examples,
               count(DISTINCT coalesce(thread_id, id)) AS threads,
               CAST(sum(len(spans)) AS BIGINT) AS spans,
               count(DISTINCT source) AS sources
        FROM examples GROUP BY split""")
    # Shares per split by source, channel, span type and real carrier (hrm_core.data.shares).
    stmts += [f"CREATE OR REPLACE VIEW {view} AS {sql}" for view, sql in SHARE_VIEWS.items()]
    return stmts


def is_lock_conflict(err: BaseException) -> bool:
    """A DuckDB error that says another connection holds the file (or won a catalog write) right now."""
    if isinstance(err, duckdb.TransactionException):  # two writers in one process: write-write conflict
        return True
    if isinstance(err, duckdb.ConnectionException):  # a read-only connection open in this very process
        return "different configuration" in str(err)
    return isinstance(err, duckdb.IOException) and "Could not set lock" in str(err)


def _lock_holder(err: BaseException) -> str:
    m = re.search(r"Conflicting lock is held in (.+?) \(PID (\d+)\)", str(err))
    return f"PID {m.group(2)} ({m.group(1)})" if m else "another process"


def refresh_views(
    lake: Lake, lock_wait_s: float = LOCK_WAIT_S, sleep: Callable[[float], None] = time.sleep
) -> None:
    """(Re)create every view over the lake's current Parquet in one transaction; cheap and idempotent.

    Needs the write lock: while another process holds the file (a reader, e.g. an open ``duckdb``
    CLI), it retries with exponential backoff and full jitter for up to `lock_wait_s` seconds, then
    raises `WarehouseBusyError`.
    """
    deadline = time.monotonic() + lock_wait_s
    attempt = 0
    while True:
        try:
            stmts = _view_statements(lake)  # again on each try: files may have appeared meanwhile
            with connect(lake) as con:
                con.begin()  # readers of the file see the old views or the new ones, never a mix
                for sql in stmts:
                    con.execute(sql)
                con.execute(
                    "CREATE OR REPLACE TABLE lake_view_state AS SELECT ? AS signature", [_signature(lake)]
                )
                con.commit()
            return
        except duckdb.Error as err:
            if not is_lock_conflict(err):
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise WarehouseBusyError(
                    f"{lake.warehouse} is held by {_lock_holder(err)} and stayed locked for "
                    f"{lock_wait_s:.0f} s; close that connection (or open it read-only) and retry"
                ) from None
            attempt += 1
            delay = min(left, random.uniform(0, min(_BACKOFF_MAX_S, _BACKOFF_FIRST_S * 2**attempt)))
            log.info("warehouse locked by %s; retry %d in %.2f s", _lock_holder(err), attempt, delay)
            sleep(delay)


def _open_current_views(lake: Lake) -> duckdb.DuckDBPyConnection | None:
    """A read-only connection to the warehouse file when its views are current, else None."""
    if not lake.warehouse.is_file():
        return None
    try:
        con = duckdb.connect(str(lake.warehouse), read_only=True)
    except duckdb.Error:  # a writer holds it this instant, or the file is from another DuckDB version
        return None
    try:
        row = con.execute("SELECT signature FROM lake_view_state").fetchone()
    except duckdb.Error:  # no state table: never refreshed by this code
        row = None
    if row is not None and row[0] == _signature(lake):
        return con
    con.close()
    return None


def _in_memory_views(lake: Lake) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the warehouse's views over the lake's current Parquet (writes no file)."""
    con = duckdb.connect(":memory:")
    try:
        for sql in _view_statements(lake):
            con.execute(sql)
    except BaseException:
        con.close()
        raise
    return con


def query(lake: Lake, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
    """Run one SQL query over the warehouse views and return a DataFrame; never writes, never waits.

    Read-only on the warehouse file when its views are current; otherwise (missing, stale after the
    lake moved or a table gained or lost all its files, or locked by a writer right now) over the same
    views built in memory. Errors in `sql` itself raise `duckdb.Error`.
    """
    con = _open_current_views(lake) or _in_memory_views(lake)
    try:
        return con.execute(sql, params).df()
    finally:
        con.close()
