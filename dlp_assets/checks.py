"""Asset checks on `examples`: offsets valid, label prevalence in bounds, duplicate rate, split leakage,
real-carrier share, carrier sources present.

Each check reads the `examples` table of its own run (the record the asset wrote); in the checks-only
nightly job that is the latest materialization's table.
"""

from collections import Counter, defaultdict

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from dlp_assets import data
from hrm_core.data.contract import DOC_HEADS, ContractError
from hrm_core.data.corpus.sources import SOURCES
from hrm_core.data.records import row_to_example
from hrm_core.data.shares import carrier_source_counts, real_carrier_shares
from resources.quality import DataQualityPolicy


def _examples_table(record: dict) -> pa.Table:
    return pq.read_table(record["path"])


@dg.asset_check(asset=data.examples, blocking=True, description="Every row passes the data contract: spans in "
                "bounds, end > start, sorted, non-overlapping, known type.")  # fmt: skip
def examples_offsets_valid(examples: dict) -> dg.AssetCheckResult:
    rows = _examples_table(examples).drop_columns(["split"]).to_pylist()
    bad: Counter[str] = Counter()
    for row in rows:
        try:
            row_to_example(row)
        except (ContractError, ValueError) as err:
            bad[str(err).split(":", 1)[0]] += 1
    return dg.AssetCheckResult(
        passed=not bad, metadata={"rows": len(rows), "invalid_rows": sum(bad.values()), "by_field": dict(bad)}
    )


@dg.asset_check(asset=data.examples, description="Each doc label's prevalence (over labeled rows) is within the "
                "policy's bounds, so no head trains on a degenerate target.")  # fmt: skip
def examples_label_prevalence(examples: dict, quality: DataQualityPolicy) -> dg.AssetCheckResult:
    table = _examples_table(examples)
    prevalence: dict[str, float | None] = {}
    for head in DOC_HEADS:
        values = [v for v in table.column(head).to_pylist() if v is not None]
        prevalence[head] = round(sum(values) / len(values), 4) if values else None
    out = {
        h: p
        for h, p in prevalence.items()
        if p is not None and not quality.min_label_prevalence <= p <= quality.max_label_prevalence
    }
    return dg.AssetCheckResult(
        passed=not out,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"label prevalence outside [{quality.min_label_prevalence}, {quality.max_label_prevalence}]: "
            + ", ".join(f"{h} {p}" for h, p in out.items())
            if out
            else None
        ),
        metadata={
            "prevalence": dg.MetadataValue.json(prevalence),
            "bounds": [quality.min_label_prevalence, quality.max_label_prevalence],
            "out_of_bounds": dg.MetadataValue.json(out),
        },
    )


@dg.asset_check(asset=data.examples, description="No content hash appears twice in `examples`, and the share of "
                "incoming rows dropped as duplicates is under the policy's limit.")  # fmt: skip
def examples_duplicate_rate(examples: dict, quality: DataQualityPolicy) -> dg.AssetCheckResult:
    table = _examples_table(examples)
    hashes = table.column("content_hash").to_pylist()
    remaining = len(hashes) - len(set(hashes))
    rows_in, dropped = examples.get("rows_in", len(hashes)), examples.get("duplicates_dropped", 0)
    rate = dropped / rows_in if rows_in else 0.0
    return dg.AssetCheckResult(
        passed=remaining == 0 and rate <= quality.max_duplicate_rate,
        metadata={"duplicates_in_table": remaining, "incoming_duplicate_rate": round(rate, 4),
                  "max_duplicate_rate": quality.max_duplicate_rate},
    )  # fmt: skip


@dg.asset_check(asset=data.examples, blocking=True, description="No thread crosses splits (leakage = 0) and "
                "every split has rows.")  # fmt: skip
def examples_split_leakage(examples: dict, quality: DataQualityPolicy) -> dg.AssetCheckResult:
    table = _examples_table(examples)
    splits_of: dict[str, set[str]] = defaultdict(set)
    for tid, eid, split in zip(
        table.column("thread_id").to_pylist(), table.column("id").to_pylist(), table.column("split").to_pylist(),
        strict=True,
    ):  # fmt: skip
        splits_of[tid or eid].add(split)
    leakage = sum(1 for s in splits_of.values() if len(s) > 1)
    per_split = Counter(table.column("split").to_pylist())
    small = {
        s: per_split.get(s, 0)
        for s in ("train", "val", "test")
        if per_split.get(s, 0) < quality.min_rows_per_split
    }
    return dg.AssetCheckResult(
        passed=leakage == 0 and not small,
        metadata={"leaking_threads": leakage, "per_split": dg.MetadataValue.json(dict(per_split)),
                  "under_filled_splits": dg.MetadataValue.json(small)},
    )  # fmt: skip


@dg.asset_check(asset=data.examples, description="At least the policy's share of train examples is built on "
                "a real carrier text (source carrier:*), so the model does not learn the templates' world "
                "alone. Warns, never blocks: a lake without the corpora still trains.")  # fmt: skip
def examples_real_carrier_share(examples: dict, quality: DataQualityPolicy) -> dg.AssetCheckResult:
    per_split = real_carrier_shares(_examples_table(examples))
    train = per_split.get("train", {"examples": 0, "carrier_examples": 0, "share": 0.0})
    passed = train["examples"] > 0 and train["share"] >= quality.min_real_carrier_share
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if passed
        else f"{train['share']:.3f} of train examples on a real carrier, under {quality.min_real_carrier_share}",
        metadata={
            "train_share": round(float(train["share"]), 4),
            "min_real_carrier_share": quality.min_real_carrier_share,
            "train_examples": int(train["examples"]),
            "train_carrier_examples": int(train["carrier_examples"]),
            "per_split": dg.MetadataValue.json(per_split),
        },
    )


@dg.asset_check(asset=data.examples, description="The train split holds examples on every corpus source "
                "`make install` fetches (SpamAssassin mail, State of the Union, SPDX licences, SQLAlchemy docs), "
                "not on the Python stdlib sample alone: a lake built without the corpora trains and scores on "
                "another task, and the real-carrier share cannot tell (stdlib code counts as a carrier). "
                "Warns, never blocks.")  # fmt: skip
def examples_carrier_sources(examples: dict) -> dg.AssetCheckResult:
    per_source = carrier_source_counts(_examples_table(examples), "train")
    missing = [s.name for s in SOURCES if not per_source.get(s.name)]
    summary = (
        f"no train example on {', '.join(missing)} (run `make install`, then materialize carrier_corpus)"
        if missing
        else f"train examples on every corpus source ({len(SOURCES)})"
    )
    return dg.AssetCheckResult(
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        description=summary,
        metadata={
            "missing_sources": ", ".join(missing) or "none",
            "train_examples_per_source": dg.MetadataValue.json(dict(sorted(per_source.items()))),
        },
    )
