"""Real carrier text: registry packages fetched by the install step, parsed, and made private by surrogates.

``sources`` (pins, checksums, licences) -> ``fetch`` (install step) -> ``parse`` (documents) ->
``surrogate`` (real contact data replaced) -> ``store`` (Parquet under ``<lake>/parquet/carriers`` and
the ``carriers`` DuckDB view). See docs/synthetic_data.md, "Carriers".
"""

from hrm_core.data.corpus.sources import SOURCES, CarrierSource, corpora_dir
from hrm_core.data.corpus.store import (
    CARRIER_SCHEMA,
    SOURCE_SUMMARY_SQL,
    build_carrier_corpus,
    carriers_dir,
    create_carriers_view,
    query_carriers,
    read_carrier_documents,
)
from hrm_core.data.corpus.surrogate import EMAIL_PATTERN, Surrogator

__all__ = [
    "CARRIER_SCHEMA",
    "EMAIL_PATTERN",
    "SOURCES",
    "SOURCE_SUMMARY_SQL",
    "CarrierSource",
    "Surrogator",
    "build_carrier_corpus",
    "carriers_dir",
    "corpora_dir",
    "create_carriers_view",
    "query_carriers",
    "read_carrier_documents",
]
