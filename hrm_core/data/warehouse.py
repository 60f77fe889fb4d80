"""The DuckDB warehouse: views over the lake's Parquet, never a copy of it.

`warehouse.duckdb` holds only view definitions, so it is disposable: `refresh_views` rebuilds them.
The views name the Parquet by *absolute* glob (``read_parquet('/abs/lake/parquet/examples/*.parquet')``),
because DuckDB resolves a relative path against the process's working directory, not the database
file. Moving the lake therefore needs one `refresh_views`; `query` does it by itself, since it
compares the lake root and the set of non-empty tables against what the views were built for.

A glob over no files is an error in DuckDB, so a table without files gets an empty view with the
same typed columns, and queries on a fresh lake return zero rows rather than failing.

DuckDB allows one writing process per database file and a held connection blocks the others, so
every function here opens a connection, does its work and closes it; nothing connects at import.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from hrm_core.data.contract import DOC_HEADS
from hrm_core.data.lake import Lake, parquet_files
from hrm_core.data.records import ARROW_SCHEMA, QUARANTINE_SCHEMA

# Bump when a view definition changes, so existing warehouse files get rebuilt by `query`.
VIEWS_VERSION = 1
EXAMPLES_SCHEMA = ARROW_SCHEMA.append(pa.field("split", pa.string()))
# Raw example tables and the views they back; `examples` (split, de-duplicated) is built from them.
RAW_TABLES: dict[str, str] = {
    "synthetic": "synthetic_examples",
    "agentic": "agentic_examples",
    "landed": "landed_examples",
}


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
    stmts.append("CREATE OR REPLACE TABLE lake_view_state AS SELECT ? AS signature")
    return stmts


def refresh_views(lake: Lake) -> None:
    """(Re)create every view over the lake's current Parquet; cheap, idempotent, needs the write lock."""
    stmts = _view_statements(lake)
    with connect(lake) as con:
        for sql in stmts[:-1]:
            con.execute(sql)
        con.execute(stmts[-1], [_signature(lake)])


def _views_current(lake: Lake) -> bool:
    if not lake.warehouse.exists():
        return False
    try:
        with connect(lake, read_only=True) as con:
            row = con.execute("SELECT signature FROM lake_view_state").fetchone()
    except duckdb.CatalogException:
        return False
    return row is not None and row[0] == _signature(lake)


def query(lake: Lake, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
    """Run one SQL query against the warehouse (read-only connection) and return a DataFrame.

    The views are refreshed first when the lake moved or a table gained or lost all its files.
    """
    if not _views_current(lake):
        refresh_views(lake)
    with connect(lake, read_only=True) as con:
        return con.execute(sql, params).df()
