"""hrm-dlp engine: no Dagster import anywhere in this package."""
