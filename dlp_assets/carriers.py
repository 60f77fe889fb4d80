"""Real carrier text and the training examples built on it.

`carrier_corpus`: `make install` fetches the pinned artifacts into ``<lake>/corpora``; this asset parses
what is there (and a sample of the Python standard library) into ``<lake>/parquet/carriers/<source>.parquet``
and reports per-source documents, bytes and licences. A source that was not fetched is skipped and named
in the metadata; the asset never fails for a missing source.

`carrier_examples`: excerpts of the documents of its run's `carrier_corpus` with generated values planted
at exact offsets (hrm_core.synth.carriers), written like `synthetic_examples` (run folder, plus a copy for
the ``carrier_examples`` view) and unioned into `examples`. With no usable carrier document (the corpora
were not fetched, ``HRM_DLP_SKIP_CORPORA=1``) it writes an empty table and says why in its metadata.
"""

import dagster as dg

from dlp_assets.artifacts import store_examples
from dlp_assets.metadata import carrier_provenance_table, label_table, span_type_table
from hrm_core.data.contract import Example
from hrm_core.data.corpus import (
    SOURCE_SUMMARY_SQL,
    build_carrier_corpus,
    query_carriers,
    read_carrier_documents,
)
from hrm_core.data.corpus.surrogate import RUNNING_TEXT_NAMES
from hrm_core.release.onnx_session import usable_cpu_count
from hrm_core.rules.regex_baseline import phone_spans
from hrm_core.synth import summarize
from hrm_core.synth.carriers import MIN_CHARS, NAME_CLAUSE_RATE, generate_carrier_examples, usable_documents
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
    # Also replace people named in running text by surrogates (`hrm_core.data.corpus.surrogate.RUNNING_TEXT_NAMES`:
    # on; off keeps them as written, the corpus of before; docs/synthetic_data.md, "Surrogates").
    running_text_names: bool = RUNNING_TEXT_NAMES
    # Processes for the surrogate pass (0: one per usable core); the rows are the same for any count. On the
    # 2-core demo machine 2 take the asset from about 60 s to about 30 s (`benchmarks/carrier_build.py`).
    workers: int = 0


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
        running_text_names=config.running_text_names,
        find_phones=phone_spans,  # numbers in their own country's layout too: the candidates' PHONE rules
        workers=config.workers or usable_cpu_count(),
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


class CarrierExamplesConfig(dg.Config):
    # With SyntheticConfig.n = 1,000 (the demo's defaults) 64% of the train split sits on a real carrier,
    # and the serialized text the tokenizer and trainer read (2.72M characters) stays that of the 5,000
    # synthetic-only examples before (2.76M), so training time holds; rows fall from 4,997 to 2,799.
    # Measured by benchmarks/carrier_stats.py ("demo_mix").
    n: int = 1800
    seed: int = 0
    # The share of running-text examples (mail, prose, legal, docs) that get one extra clause about people
    # (`hrm_core.synth.carriers.NAME_CLAUSE_RATE`); 0 plants none and leaves every other draw as it was.
    name_clause_rate: float = NAME_CLAUSE_RATE


def built_carrier_paths(carrier_corpus: dict | None) -> list[str]:
    """The Parquet files `carrier_corpus` built in its run (none when it never ran)."""
    report = (carrier_corpus or {}).get("report", {})
    return [v["path"] for _, v in sorted(report.items()) if v["status"] == "built" and v["documents"]]


def carrier_note(carrier_corpus: dict | None, documents: int, rows: int) -> str:
    """One line on what the examples were built from and which sources were missing, or why there are none."""
    if carrier_corpus is None:
        return "no carrier examples: carrier_corpus was never materialized (run `make install`, then materialize it)"
    skipped = sorted(k for k, v in carrier_corpus.get("report", {}).items() if v["status"] != "built")
    missing = (
        f" (skipped sources: {', '.join(skipped)}; run `make install`, then materialize carrier_corpus)"
        if skipped
        else ""
    )
    if documents == 0:
        return f"no carrier examples: the carrier corpus holds no document of at least {MIN_CHARS} characters{missing}"
    return f"{rows} examples planted into excerpts of {documents} carrier documents{missing}"


@dg.asset(
    group_name="data",
    kinds={"python", "parquet"},
    owners=OWNERS,
    ins={"carrier_corpus": dg.AssetIn(metadata={"optional": True})},  # a lake may have no corpus at all
    description="Labeled messages whose body is an excerpt of a real carrier document with generated values "
    "planted at exact offsets; source, licence and kind in meta; labels follow docs/synthetic_data.md.",
)
def carrier_examples(context: dg.AssetExecutionContext, config: CarrierExamplesConfig,
                     carrier_corpus: dict | None, lake: LakeResource) -> dg.MaterializeResult:  # fmt: skip
    docs = usable_documents(read_carrier_documents(built_carrier_paths(carrier_corpus)))
    examples: list[Example] = []
    if docs:
        examples, _ = generate_carrier_examples(docs, config.n, config.seed, config.name_clause_rate)
    path = store_examples(
        examples,
        lake.run_dir(context.run.run_id, "carrier_examples") / "carrier_examples.parquet",
        lake.lake().table_dir("carrier_examples") / "carrier_examples.parquet",
    )
    summary = summarize(examples)
    body_chars = sum(len(ex.body) for ex in examples)
    return dg.MaterializeResult(
        value={"path": str(path), "rows": len(examples)},
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "dagster/row_count": len(examples),
            "seed": config.seed,
            "carrier_documents": len(docs),
            "note": carrier_note(carrier_corpus, len(docs), len(examples)),
            "provenance": dg.MetadataValue.md(carrier_provenance_table(examples)),
            "body_chars": body_chars,
            "mean_body_chars": round(body_chars / len(examples), 1) if examples else 0.0,
            "labels": dg.MetadataValue.md(label_table(summary)),
            "span_types": dg.MetadataValue.md(span_type_table(summary)),
        },
    )
