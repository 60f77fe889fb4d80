"""Data group: synthetic, landed and unified `examples`, stored as Parquet and exposed as DuckDB views.

`synthetic_examples`, `carrier_examples` (dlp_assets/carriers.py) and `examples` write their table into the
run's own folder, which is what the rest of the run reads (through their records), and publish a copy to
the fixed table folder the DuckDB views read, so analysts always query the latest. Landed and agentic rows
accumulate in their tables, one file per ingested file or agentic run, and `examples` unions what is there
when it runs.
"""

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from dlp_assets.artifacts import publish_copy, store_examples
from dlp_assets.metadata import examples_preview, label_table, shares_table, span_type_table
from hrm_core.data.ingest import ingest_file
from hrm_core.data.lake import read_parquet_dir, write_parquet_atomic
from hrm_core.data.records import ARROW_SCHEMA
from hrm_core.data.shares import example_shares, real_carrier_shares
from hrm_core.data.splits import build_examples_table
from hrm_core.data.warehouse import refresh_views
from hrm_core.synth import generate_examples, summarize
from resources.lake import LakeResource

OWNERS = ["team:ml-platform"]
LANDING_SUFFIXES = (".jsonl", ".json", ".parquet")


class SyntheticConfig(dg.Config):
    n: int = 1000  # beside CarrierExamplesConfig.n = 1,800 real-carrier examples (see there)
    seed: int = 0


@dg.asset(
    group_name="data",
    kinds={"python", "parquet"},
    owners=OWNERS,
    description="Template-generated labeled messages (all channels, span types, obfuscations, hard "
    "negatives, threads) from hrm_core.synth; labels follow docs/synthetic_data.md.",
)
def synthetic_examples(context: dg.AssetExecutionContext, config: SyntheticConfig,
                       lake: LakeResource) -> dg.MaterializeResult:  # fmt: skip
    examples = generate_examples(config.n, seed=config.seed)
    path = store_examples(
        examples,
        lake.run_dir(context.run.run_id, "synthetic_examples") / "synthetic.parquet",
        lake.lake().table_dir("synthetic") / "synthetic.parquet",
    )
    summary = summarize(examples)
    return dg.MaterializeResult(
        value={"path": str(path), "rows": len(examples)},
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "dagster/row_count": len(examples),
            "seed": config.seed,
            "labels": dg.MetadataValue.md(label_table(summary)),
            "span_types": dg.MetadataValue.md(span_type_table(summary)),
            "obfuscated_share": summary.get("obfuscation_share"),
            "hard_negative_share": summary.get("hard_negative_share"),
            "thread_share": summary.get("thread_share"),
        },
    )


class LandedConfig(dg.Config):
    # Empty: every file in <lake>/landing/. Ingestion is idempotent, so re-reading old files adds nothing.
    paths: list[str] = []  # noqa: RUF012 (pydantic copies defaults)


@dg.asset(
    group_name="data",
    kinds={"python", "parquet"},
    owners=OWNERS,
    description="Files dropped in data_lake/landing/, validated row by row: valid rows land, invalid rows "
    "are quarantined with file, line and reason, exact duplicates are counted.",
)
def landed_examples(context: dg.AssetExecutionContext, config: LandedConfig, lake: LakeResource):
    lk = lake.lake()
    files = (
        [lk.landing / p for p in config.paths]
        if config.paths
        else sorted(f for f in lk.landing.iterdir() if f.is_file() and f.suffix in LANDING_SUFFIXES)
    )
    results = [ingest_file(lk, f) for f in files]
    for r in results:
        context.log.info(f"ingested {r.file}: {r.as_dict()}")  # counts and reasons only, never content
    totals = {
        k: sum(getattr(r, k) for r in results) for k in ("rows", "accepted", "quarantined", "duplicates")
    }
    rows_md = "| file | rows | accepted | quarantined | duplicates |\n|---|---|---|---|---|\n" + "".join(
        f"| {r.file} | {r.rows} | {r.accepted} | {r.quarantined} | {r.duplicates} |\n" for r in results
    )
    return dg.MaterializeResult(
        metadata={
            "files": len(results),
            **totals,
            "per_file": dg.MetadataValue.md(rows_md),
            "dagster/row_count": read_parquet_dir(lk.table_dir("landed")).num_rows,
        }
    )


@dg.asset(
    group_name="data",
    kinds={"python", "parquet", "duckdb"},
    owners=OWNERS,
    ins={  # a lake may hold landed rows only
        "synthetic_examples": dg.AssetIn(metadata={"optional": True}),
        "carrier_examples": dg.AssetIn(metadata={"optional": True}),
    },
    deps=[landed_examples, dg.AssetKey("agentic_examples")],
    pool="duckdb",
    description="Union of synthetic, real-carrier, agentic and landed examples, de-duplicated by content hash "
    "and split train/val/test by thread (no thread crosses splits). Refreshes the DuckDB views; shows each "
    "split's share per source, channel, span type and real carrier.",
)
def examples(context: dg.AssetExecutionContext, synthetic_examples: dict | None, carrier_examples: dict | None,
             lake: LakeResource) -> dg.MaterializeResult:  # fmt: skip
    lk = lake.lake()
    table, stats = build_examples_table(
        [
            _run_table(synthetic_examples),
            _run_table(carrier_examples),
            *(read_parquet_dir(lk.table_dir(n)) for n in ("agentic", "landed")),
        ]
    )
    path = write_parquet_atomic(table, lake.run_dir(context.run.run_id, "examples") / "examples.parquet")
    publish_copy(path, lk.table_dir("examples") / "examples.parquet")
    refresh_views(lk)
    carrier = real_carrier_shares(table)
    return dg.MaterializeResult(
        value={
            "path": str(path),
            "rows": table.num_rows,
            "rows_in": stats.rows_in,
            "duplicates_dropped": stats.duplicates,
            "per_split": dict(stats.per_split),
        },
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "dagster/row_count": table.num_rows,
            "rows_in": stats.rows_in,
            "duplicates_dropped": stats.duplicates,
            "per_split": dg.MetadataValue.json(stats.per_split),
            "thread_leakage": stats.leakage,
            "real_carrier_share_train": carrier["train"]["share"] if "train" in carrier else None,
            "shares": dg.MetadataValue.md(shares_table(example_shares(table))),
            "preview": dg.MetadataValue.md(examples_preview(table)),
        },
    )


def _run_table(record: dict | None) -> pa.Table:
    """The table an upstream of this run wrote (its record's path); empty when that input is absent."""
    return pq.read_table(record["path"]) if record else ARROW_SCHEMA.empty_table()
