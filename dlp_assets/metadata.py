"""Markdown tables for asset metadata. Previews show shapes and labels, never message content."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from hrm_core.data.contract import DOC_HEADS, SPAN_TYPES


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def label_table(summary: dict[str, Any]) -> str:
    prev = summary.get("label_prevalence", {})
    return md_table(["head", "prevalence"], [[h, prev.get(h, float("nan"))] for h in DOC_HEADS])


def span_type_table(summary: dict[str, Any]) -> str:
    counts = summary.get("span_counts", {})
    share = summary.get("span_example_share", {})
    return md_table(
        ["type", "spans", "share of examples"], [[t, counts.get(t, 0), share.get(t, 0.0)] for t in SPAN_TYPES]
    )


def examples_preview(table: pa.Table, n: int = 10) -> str:
    """First `n` rows as id / split / channel / role / labels / span types / body length."""
    rows = table.slice(0, n).to_pylist()
    return md_table(
        ["id", "split", "channel", "role", *DOC_HEADS, "span types", "body chars"],
        [
            [
                r["id"], r.get("split", ""), r["channel"], r["user_role"],
                *[r[h] for h in DOC_HEADS],
                ",".join(sorted({s["type"] for s in r["spans"] or []})) or "-",
                len(r["body"]),
            ]
            for r in rows
        ],
    )  # fmt: skip
