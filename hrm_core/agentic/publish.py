"""Put a finished run into the lake: examples as the `agentic` Parquet table, audit rows beside them.

Returns the numbers an operator wants to see (asset metadata, CLI output): counts, acceptance rate,
rejections by reason, tokens and estimated cost. No message content, no API key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hrm_core.agentic.audit import write_audit
from hrm_core.agentic.run import RunResult
from hrm_core.data.lake import Lake, write_parquet_atomic
from hrm_core.data.records import examples_to_table


def publish_run(result: RunResult, lake: Lake, run_id: str) -> dict[str, Any]:
    """Write ``parquet/agentic/<run_id>.parquet`` and ``parquet/agentic_audit/<run_id>.parquet``; return a summary."""
    examples_path = write_parquet_atomic(
        examples_to_table(result.examples), lake.table_dir("agentic") / f"{run_id}.parquet"
    )
    audit_path = write_audit(result.audit, lake.parquet, run_id)
    return run_summary(result) | {"examples_path": str(examples_path), "audit_path": str(audit_path)}


def run_summary(result: RunResult) -> dict[str, Any]:
    """Counts, acceptance rate, rejections, tokens and cost of a run."""
    threads = {e.thread_id for e in result.examples if e.thread_id}
    return {
        "accepted": len(result.examples),
        "generated": result.generated,
        "acceptance_rate": round(result.acceptance_rate, 4),
        "rejections": dict(sorted(result.rejections.items())),
        "threads": len(threads),
        "stopped": result.stopped,
        "retries": result.retries,
        "batch_fallbacks": result.batch_fallbacks,
        **{f"usage_{k}": v for k, v in result.usage.items()},
    }


def lake_run_dir(lake: Lake, run_id: str) -> Path:
    """Where a run keeps its checkpoint (JSONL + state) inside the lake: ``<lake>/agentic/runs/<run_id>``."""
    return lake.root / "agentic" / "runs" / run_id


def lake_cache_dir(lake: Lake) -> Path:
    """The default response cache, shared by every run on the lake."""
    return lake.root / "agentic" / "cache"
