"""Data: the example contract, records, DSL serialization, ingestion, the lake, the DuckDB warehouse, splits and outside eval-set readers."""
