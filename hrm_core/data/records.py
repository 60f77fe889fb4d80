"""Examples as flat Arrow rows: the Parquet layout of the lake and the shape DuckDB queries see.

Nested fields the analyst filters on (user, labels, meta.source) become top-level columns; lists stay
typed lists (`spans` is ``list<struct<type, start, end>>``) so DuckDB can ``unnest`` them. Extra
`meta` keys a generator records (scenario, hard_negative, ...) travel as one JSON string column,
`meta_json`, so the schema stays fixed while producers add keys. The round trip
``row_to_example(example_to_row(ex)) == ex`` is exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from hrm_core.data.contract import DOC_HEADS, Example

_META_FIELDS = frozenset({"org_domains", "annotated_types", "source"})

ARROW_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("thread_id", pa.string()),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("user_role", pa.string(), nullable=False),
        pa.field("user_dept", pa.string()),
        pa.field("user_seniority", pa.string()),
        pa.field("recipients", pa.list_(pa.string())),
        pa.field("subject", pa.string()),
        pa.field("body", pa.large_string(), nullable=False),  # large_string: a 1M-char body times many rows
        pa.field(
            "attachments",
            pa.list_(pa.struct([("name", pa.string()), ("mime", pa.string()), ("size", pa.int64())])),
        ),
        pa.field("links", pa.list_(pa.string())),
        *(pa.field(h, pa.int8()) for h in DOC_HEADS),
        pa.field(
            "spans", pa.list_(pa.struct([("type", pa.string()), ("start", pa.int32()), ("end", pa.int32())]))
        ),
        pa.field("org_domains", pa.list_(pa.string())),
        pa.field("annotated_types", pa.list_(pa.string())),  # null = all ten types annotated
        pa.field("source", pa.string()),
        pa.field("meta_json", pa.string()),
        pa.field("content_hash", pa.string(), nullable=False),
    ]
)
COLUMNS: tuple[str, ...] = tuple(ARROW_SCHEMA.names)


def example_to_row(ex: Example, content_hash: str | None = None) -> dict[str, Any]:
    """Flatten one `Example` into a dict keyed by `ARROW_SCHEMA` columns (hash computed when not given)."""
    meta = ex.meta.model_dump(mode="json")
    extra = {k: v for k, v in meta.items() if k not in _META_FIELDS}
    return {
        "id": ex.id,
        "thread_id": ex.thread_id,
        "channel": ex.channel,
        "user_role": ex.user.role,
        "user_dept": ex.user.dept,
        "user_seniority": ex.user.seniority,
        "recipients": list(ex.recipients),
        "subject": ex.subject,
        "body": ex.body,
        "attachments": [a.model_dump() for a in ex.attachments],
        "links": list(ex.links),
        **{h: getattr(ex.labels, h) for h in DOC_HEADS},
        "spans": [s.model_dump() for s in ex.spans],
        "org_domains": list(ex.meta.org_domains),
        "annotated_types": None if ex.meta.annotated_types is None else list(ex.meta.annotated_types),
        "source": ex.meta.source,
        # sort_keys so that equal metadata is byte-equal in Parquet (and in DuckDB group-bys).
        "meta_json": json.dumps(extra, sort_keys=True, ensure_ascii=False) if extra else None,
        "content_hash": content_hash or ex.content_hash(),
    }


def row_to_object(row: dict[str, Any]) -> dict[str, Any]:
    """A flat row -> the nested contract dict (unvalidated; `validate_example` checks it).

    Raises KeyError when a required column (id, channel, user_role, body) is absent.
    """
    meta: dict[str, Any] = json.loads(row["meta_json"]) if row.get("meta_json") else {}
    meta.update(
        org_domains=list(row.get("org_domains") or []),
        annotated_types=row.get("annotated_types"),
        source=row.get("source") or "unknown",
    )
    return {
        "id": row["id"],
        "thread_id": row.get("thread_id"),
        "channel": row["channel"],
        "user": {
            "role": row["user_role"],
            "dept": row.get("user_dept") or "",
            "seniority": row.get("user_seniority") or "MID",
        },
        "recipients": list(row.get("recipients") or []),
        "subject": row.get("subject") or "",
        "body": row["body"],
        "attachments": list(row.get("attachments") or []),
        "links": list(row.get("links") or []),
        "labels": {h: row.get(h) for h in DOC_HEADS},
        "spans": list(row.get("spans") or []),
        "meta": meta,
    }


def row_to_example(row: dict[str, Any]) -> Example:
    """Rebuild the `Example` from a flat row (columns beyond `ARROW_SCHEMA`, e.g. `split`, are ignored)."""
    return Example.model_validate(row_to_object(row))


def rows_to_table(rows: Iterable[dict[str, Any]]) -> pa.Table:
    """Flat rows (from `example_to_row`) -> a table with exactly `ARROW_SCHEMA`."""
    return pa.Table.from_pylist(list(rows), schema=ARROW_SCHEMA)


def examples_to_table(examples: Iterable[Example]) -> pa.Table:
    """Examples -> an Arrow table with `ARROW_SCHEMA` (empty list gives an empty typed table)."""
    return rows_to_table(example_to_row(ex) for ex in examples)


def table_to_examples(table: pa.Table) -> list[Example]:
    """An Arrow table with (at least) the `ARROW_SCHEMA` columns -> examples, in row order."""
    return [row_to_example(r) for r in table.to_pylist()]


# One rejected landing row. `raw_excerpt` is the operator's own file content (at most 200 chars) so they
# can find and fix the row; it lives only in the lake and is never logged.
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("file", pa.string(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),  # 1-based line (JSONL) or row number (Parquet)
        pa.field("reason", pa.string(), nullable=False),  # category, e.g. "span_out_of_bounds"
        pa.field("message", pa.string(), nullable=False),  # every contract reason, "; "-joined
        pa.field("raw_excerpt", pa.string()),
        pa.field("file_hash", pa.string(), nullable=False),  # sha256 of the whole landed file
        pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
