"""The audit table: one row per generated message, accepted or rejected, with the reason and judge scores.

Written as Parquet under ``<lake>/parquet/agentic_audit/`` so DuckDB can answer "which agent's
messages get rejected, and why" (`REJECTED_SHARE_SQL`). Rows hold ids, categories and numbers only,
never message content.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa

AUDIT_TABLE = "agentic_audit"
AUDIT_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string()),
        pa.field("example_id", pa.string()),
        pa.field("task", pa.int64()),
        pa.field("turn", pa.int32()),
        pa.field("thread_id", pa.string()),
        pa.field("agent", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("difficulty", pa.string()),
        pa.field("planned_labels", pa.string()),
        pa.field("status", pa.string()),  # accepted | rejected
        pa.field("reason", pa.string()),  # null when accepted; else one of extract.REJECTION_REASONS
        pa.field("detail", pa.string()),
        pa.field("spans", pa.int32()),
        pa.field("repaired_values", pa.int32()),
        pa.field("realism", pa.int32()),  # judge score 1-5, null without a judge pass
        pa.field("label_agreement", pa.float64()),
    ]
)

# Rejected share by agent and reason; `{path}` is the audit table's glob.
REJECTED_SHARE_SQL = """
SELECT agent, coalesce(reason, 'accepted') AS outcome, count(*) AS messages,
       round(count(*) / sum(count(*)) OVER (PARTITION BY agent), 3) AS share_of_agent
FROM read_parquet('{path}')
GROUP BY agent, outcome ORDER BY agent, messages DESC
"""


def audit_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Audit rows -> an Arrow table with `AUDIT_SCHEMA` (missing keys become null)."""
    return pa.Table.from_pylist(
        [{k: r.get(k) for k in AUDIT_SCHEMA.names} for r in rows], schema=AUDIT_SCHEMA
    )


def write_audit(rows: list[dict[str, Any]], parquet_root: str | os.PathLike[str], run_id: str) -> Path:
    """Write one run's audit rows to ``<parquet_root>/agentic_audit/<run_id>.parquet`` atomically."""
    from hrm_core.data.lake import write_parquet_atomic

    return write_parquet_atomic(audit_to_table(rows), Path(parquet_root) / AUDIT_TABLE / f"{run_id}.parquet")
