"""Markdown tables for asset metadata. Previews show shapes and labels, never message content."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from hrm_core.data.contract import DOC_HEADS, SPAN_TYPES, Example
from hrm_core.data.shares import SHARE_KEYS
from hrm_core.data.splits import SPLITS


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


def carrier_provenance_table(examples: Sequence[Example]) -> str:
    """Examples per carrier source, licence and kind, with their share of all `examples`."""
    extras = [(ex.meta.source, ex.meta.model_extra or {}) for ex in examples]
    counts = Counter((source, extra.get("licence"), extra.get("carrier_kind")) for source, extra in extras)
    n = max(len(examples), 1)
    return md_table(
        ["source", "licence", "kind", "examples", "share"],
        [[*key, c, c / n] for key, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))],
    )


def shares_table(shares: dict[str, pd.DataFrame]) -> str:
    """One row per real-carrier / source / channel / span type, one share column per split (0 when absent)."""
    rows: list[list[Any]] = []
    for view, df in shares.items():
        key = SHARE_KEYS[view]
        by_value: dict[str, dict[str, float]] = {}
        for r in df.to_dict("records"):
            by_value.setdefault(str(r[key]) if key else "real carrier", {})[r["split"]] = float(r["share"])
        label = key or "carrier"
        rows += [
            [label, value, *(got.get(s, 0.0) for s in SPLITS)] for value, got in sorted(by_value.items())
        ]
    return md_table(["by", "value", *SPLITS], rows)
