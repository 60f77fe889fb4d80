"""Quality views of `examples`: each split's share of examples per source, channel, span type, and the
share built on a real carrier.

One home for the SQL. `warehouse.refresh_views` creates `SHARE_VIEWS` as DuckDB views over the lake's
`examples`; `example_shares(table)` runs the very same SELECTs over one run's table in an in-memory
DuckDB, which is what the `examples` asset's metadata and the `examples_real_carrier_share` check
report. The UI, the check and an analyst's query therefore agree to the last digit.

Every share is over the examples of one split (a row per split and value; a value absent from a split
has no row there). A *real-carrier* example is one whose `source` starts with ``carrier:``: its body is
an excerpt of a real document of the carrier corpus with values planted into it (hrm_core.synth.carriers).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pandas as pd
import pyarrow as pa

CARRIER_SOURCE_PREFIX = "carrier:"

SHARE_VIEWS: dict[str, str] = {
    "real_carrier_share": f"""
        SELECT split, count(*) AS examples,
               count(*) FILTER (WHERE starts_with(source, '{CARRIER_SOURCE_PREFIX}')) AS carrier_examples,
               count(*) FILTER (WHERE starts_with(source, '{CARRIER_SOURCE_PREFIX}')) / count(*) AS share
        FROM examples GROUP BY split""",
    "source_share": """
        SELECT split, source, count(*) AS examples,
               count(*) / sum(count(*)) OVER (PARTITION BY split) AS share
        FROM examples GROUP BY split, source""",
    "channel_share": """
        SELECT split, channel, count(*) AS examples,
               count(*) / sum(count(*)) OVER (PARTITION BY split) AS share
        FROM examples GROUP BY split, channel""",
    # `examples` counts rows holding at least one span of the type; `spans` counts the spans themselves.
    "span_type_share": """
        WITH totals AS (SELECT split, count(*) AS n FROM examples GROUP BY split),
             numbered AS (SELECT split, row_number() OVER () AS rid,
                                 list_transform(spans, lambda s: s.type) AS types FROM examples),
             typed AS (SELECT split, rid, unnest(types) AS type FROM numbered)
        SELECT split, type, count(*) AS spans, count(DISTINCT rid) AS examples,
               count(DISTINCT rid) / any_value(totals.n) AS share
        FROM typed JOIN totals USING (split) GROUP BY split, type""",
}
# The column each view breaks a split down by (real_carrier_share has one row per split).
SHARE_KEYS: dict[str, str | None] = {
    "real_carrier_share": None,
    "source_share": "source",
    "channel_share": "channel",
    "span_type_share": "type",
}
_COLUMNS = ["split", "source", "channel", "spans"]


def example_shares(table: pa.Table, views: Sequence[str] = tuple(SHARE_VIEWS)) -> dict[str, pd.DataFrame]:
    """The `views` of `SHARE_VIEWS` computed over `table` (an `examples` table with its `split` column).

    Each frame is ordered by split, then by its key; nothing is written anywhere.
    """
    con = duckdb.connect(":memory:")
    try:
        con.register("examples", table.select(_COLUMNS))
        out = {}
        for name in views:
            key = SHARE_KEYS[name]
            order = f"split, {key}" if key else "split"
            out[name] = con.execute(f"SELECT * FROM ({SHARE_VIEWS[name]}) ORDER BY {order}").df()
        return out
    finally:
        con.close()


def carrier_source_counts(table: pa.Table, split: str = "train") -> dict[str, int]:
    """Examples of ``split`` per carrier source, named as the corpus names it (``carrier:sotu`` -> ``sotu``),
    read off the `source_share` view; sources without an example in the split are absent."""
    df = example_shares(table, ("source_share",))["source_share"]
    rows = df[(df["split"] == split) & df["source"].str.startswith(CARRIER_SOURCE_PREFIX)]
    return {
        str(r["source"]).removeprefix(CARRIER_SOURCE_PREFIX): int(r["examples"])
        for r in rows.to_dict("records")
    }


def real_carrier_shares(table: pa.Table) -> dict[str, dict[str, float | int]]:
    """Per split: ``{"examples", "carrier_examples", "share"}`` (splits without rows are absent)."""
    df = example_shares(table, ("real_carrier_share",))["real_carrier_share"]
    return {
        str(r["split"]): {
            "examples": int(r["examples"]),
            "carrier_examples": int(r["carrier_examples"]),
            "share": float(r["share"]),
        }
        for r in df.to_dict("records")
    }
