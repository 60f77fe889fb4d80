"""Build the carrier table (one Parquet file per source under ``<lake>/parquet/carriers/``) and its view.

Every row is one document after surrogate replacement: ``doc_id, source, version, licence, kind,
path, text, bytes, annotated_types, spans``. Real contact data never reaches a row: `surrogate_documents`
runs `Surrogator.replace` on each document first and stores only its output.

The ``carriers`` DuckDB view follows `hrm_core.data.warehouse`: a view over the absolute Parquet glob
(or a typed empty SELECT when no file exists), created on a connection the caller passes in, so it
works on the warehouse file or on an in-memory database (`query_carriers` never writes a file).
"""

from __future__ import annotations

import multiprocessing
import platform
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from itertools import islice
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hrm_core.data.corpus.fetch import is_cached
from hrm_core.data.corpus.parse import RawDocument, read_source, read_stdlib
from hrm_core.data.corpus.sources import (
    SOURCES,
    STDLIB_LICENCE,
    STDLIB_SOURCE,
    CarrierSource,
    corpora_dir,
)
from hrm_core.data.corpus.surrogate import RUNNING_TEXT_NAMES, PhoneFinder, SurrogateDocument, Surrogator
from hrm_core.data.lake import Lake, parquet_files, write_parquet_atomic

CARRIER_TABLE = "carriers"
SPAN_STRUCT = pa.struct([("type", pa.string()), ("start", pa.int32()), ("end", pa.int32())])
CARRIER_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("version", pa.string(), nullable=False),
        pa.field("licence", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),  # UTF-8 size of `text`
        pa.field("annotated_types", pa.list_(pa.string()), nullable=False),
        pa.field("spans", pa.list_(SPAN_STRUCT), nullable=False),  # surrogates, labelled
    ]
)


def carriers_dir(lake: Lake) -> Path:
    return lake.root / "parquet" / CARRIER_TABLE


# Documents per task handed to a worker: small enough that the two workers share the mail source (6,046
# documents, most of the surrogate pass) evenly, large enough that the transfer is noise.
_CHUNK = 64


def surrogate_documents(
    docs: Iterable[RawDocument], surrogator: Surrogator, limit: int | None = None
) -> list[tuple[RawDocument, SurrogateDocument]]:
    """Each document (the first ``limit``) with its surrogate-replaced version, in order."""
    return [(doc, surrogator.replace(doc.doc_id, doc.kind, doc.text)) for doc in islice(docs, limit)]


def documents_to_table(
    pairs: Iterable[tuple[RawDocument, SurrogateDocument]], version: str, licence: str
) -> pa.Table:
    """Surrogate-replaced documents (`surrogate_documents`) laid out as `CARRIER_SCHEMA` rows."""
    rows: dict[str, list] = {f.name: [] for f in CARRIER_SCHEMA}
    for doc, clean in pairs:
        rows["doc_id"].append(doc.doc_id)
        rows["source"].append(doc.source)
        rows["version"].append(version)
        rows["licence"].append(licence)
        rows["kind"].append(doc.kind)
        rows["path"].append(doc.path)
        rows["text"].append(clean.text)
        rows["bytes"].append(len(clean.text.encode("utf-8")))
        rows["annotated_types"].append(clean.annotated_types)
        rows["spans"].append([{"type": t, "start": s, "end": e} for t, s, e in clean.spans])
    return pa.Table.from_pydict(rows, schema=CARRIER_SCHEMA)


def _chunked(docs: Iterable[RawDocument], size: int) -> Iterator[list[RawDocument]]:
    it = iter(docs)
    while chunk := list(islice(it, size)):
        yield chunk


_worker_surrogator: Surrogator | None = None


def _start_worker(seed: int, running_text_names: bool, find_phones: PhoneFinder | None) -> None:
    global _worker_surrogator
    _worker_surrogator = Surrogator(seed, running_text_names=running_text_names, find_phones=find_phones)


def _surrogate_chunk(docs: list[RawDocument]) -> list[tuple[RawDocument, SurrogateDocument]]:
    assert _worker_surrogator is not None, "_start_worker runs first in every worker"
    # what was replaced by what stays in the worker: only the new text and its spans travel back
    return [
        (doc, replace(clean, surrogates={})) for doc, clean in surrogate_documents(docs, _worker_surrogator)
    ]


def _surrogate_in_workers(
    jobs: list[tuple[str, str, str, Iterable[RawDocument]]],
    limit: int | None,
    workers: int,
    init: tuple[int, bool, PhoneFinder | None],
) -> Iterator[tuple[str, str, str, list[tuple[RawDocument, SurrogateDocument]]]]:
    """`surrogate_documents` of every job's documents in ``workers`` processes: the documents are handed
    out in chunks while this process goes on reading, and come back per job in their order. Each document's
    surrogates are drawn from the seed and its id alone, so the rows are those of one process."""
    # spawn, not fork: the caller may be a threaded Dagster process
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_start_worker, initargs=init) as pool:
        pending = []
        for name, version, licence, docs in jobs:
            futures = [
                pool.submit(_surrogate_chunk, chunk) for chunk in _chunked(islice(docs, limit), _CHUNK)
            ]
            pending.append((name, version, licence, futures))
        for name, version, licence, futures in pending:
            yield name, version, licence, [pair for f in futures for pair in f.result()]


def _version(source: CarrierSource) -> str:
    return source.spec.rpartition("@")[2] if source.registry == "npm" else source.spec.partition("=")[2]


def build_carrier_corpus(
    lake: Lake,
    seed: int = 0,
    max_docs_per_source: int | None = None,
    stdlib_files: int = 400,
    sources: tuple[CarrierSource, ...] = SOURCES,
    cache: Path | None = None,
    running_text_names: bool = RUNNING_TEXT_NAMES,
    find_phones: PhoneFinder | None = None,
    workers: int = 1,
) -> dict[str, dict]:
    """Parse every cached source (and a stdlib sample) into ``<lake>/parquet/carriers/<source>.parquet``.

    ``running_text_names``: also replace people named in running text (`surrogate.running_text_names`).
    ``find_phones``: more phone numbers to replace than the US matcher parses (`surrogate.Surrogator`);
    a module-level function, so that worker processes can import it.
    ``workers``: processes for the surrogate pass (most of the time); the rows are the same for any count.

    A source whose artifact is not cached (or fails its checksum) is skipped and its stale Parquet, if
    any, removed, so the view only shows what this build read. Returns per-source
    ``{"status", "documents", "bytes", "licence", "path"}``.
    """
    cache = cache or corpora_dir(lake)
    out_dir = carriers_dir(lake)
    report: dict[str, dict] = {}
    jobs: list[tuple[str, str, str, Iterable[RawDocument]]] = []
    for src in sources:
        target = out_dir / f"{src.name}.parquet"
        if not is_cached(src, cache):
            target.unlink(missing_ok=True)
            report[src.name] = {"status": "skipped: not fetched (run `make install`)", "documents": 0,
                                "bytes": 0, "licence": src.licence}  # fmt: skip
            continue
        jobs.append((src.name, _version(src), src.licence, read_source(src, cache / src.filename)))
    if stdlib_files > 0:
        jobs.append((STDLIB_SOURCE, platform.python_version(), STDLIB_LICENCE, read_stdlib(stdlib_files)))
    if workers > 1:
        done = _surrogate_in_workers(
            jobs, max_docs_per_source, workers, (seed, running_text_names, find_phones)
        )
    else:
        surrogator = Surrogator(seed, running_text_names=running_text_names, find_phones=find_phones)
        done = (
            (name, version, licence, surrogate_documents(docs, surrogator, max_docs_per_source))
            for name, version, licence, docs in jobs
        )
    for name, version, licence, pairs in done:
        table = documents_to_table(pairs, version, licence)
        path = write_parquet_atomic(table, out_dir / f"{name}.parquet")
        report[name] = {"status": "built", "documents": table.num_rows,
                        "bytes": int(pa.compute.sum(table["bytes"]).as_py() or 0),
                        "licence": licence, "path": str(path)}  # fmt: skip
    return report


# What a carrier example needs of a document (everything but the stored path and size).
PLANTING_COLUMNS: tuple[str, ...] = ("doc_id", "source", "version", "licence", "kind", "text",
                                     "annotated_types", "spans")  # fmt: skip


def read_carrier_documents(paths: Iterable[str | Path]) -> list[dict]:
    """The documents of the given carrier Parquet files, as dicts of `PLANTING_COLUMNS`, in file order."""
    return [row for p in paths for row in pq.read_table(p, columns=list(PLANTING_COLUMNS)).to_pylist()]


def carriers_view_sql(lake: Lake) -> str:
    """``CREATE OR REPLACE VIEW carriers AS ...`` over the lake's carrier Parquet (empty typed view when none)."""
    path = carriers_dir(lake)
    if parquet_files(path):
        glob = str(path / "*.parquet").replace("'", "''")
        return (
            f"CREATE OR REPLACE VIEW carriers AS SELECT * FROM read_parquet('{glob}', union_by_name = true)"
        )
    cols = ", ".join(f'CAST(NULL AS {_sql_type(f.type)}) AS "{f.name}"' for f in CARRIER_SCHEMA)
    return f"CREATE OR REPLACE VIEW carriers AS SELECT {cols} WHERE false"


def _sql_type(t: pa.DataType) -> str:
    if t == pa.int64():
        return "BIGINT"
    if pa.types.is_list(t):
        return (
            "VARCHAR[]"
            if t.value_type == pa.string()
            else 'STRUCT("type" VARCHAR, start INTEGER, "end" INTEGER)[]'
        )
    return "VARCHAR"


def create_carriers_view(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    """Create the ``carriers`` view on an open connection (the warehouse file or an in-memory one)."""
    con.execute(carriers_view_sql(lake))


def query_carriers(lake: Lake, sql: str) -> pd.DataFrame:
    """Run `sql` against the ``carriers`` view built in memory: never writes, never waits for a lock."""
    con = duckdb.connect(":memory:")
    try:
        create_carriers_view(con, lake)
        return con.execute(sql).df()
    finally:
        con.close()


SOURCE_SUMMARY_SQL = """
SELECT source, any_value(version) AS version, any_value(licence) AS licence, kind,
       count(*) AS documents, CAST(sum(bytes) AS BIGINT) AS bytes,
       CAST(sum(len(list_filter(spans, lambda s: s.type = 'EMAIL'))) AS BIGINT) AS email_surrogates,
       CAST(sum(len(list_filter(spans, lambda s: s.type = 'PHONE'))) AS BIGINT) AS phone_surrogates,
       CAST(sum(len(list_filter(spans, lambda s: s.type = 'NAME'))) AS BIGINT) AS name_surrogates
FROM carriers GROUP BY source, kind ORDER BY source, kind"""
