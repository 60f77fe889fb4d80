"""Data-quality thresholds for the asset checks, set per deployment."""

from __future__ import annotations

import dagster as dg


class DataQualityPolicy(dg.ConfigurableResource):
    """Bounds the `examples` checks enforce. Prevalence is over rows where the head is labeled."""

    min_label_prevalence: float = 0.05
    max_label_prevalence: float = 0.95
    max_duplicate_rate: float = 0.20  # share of incoming rows dropped as exact duplicates
    min_rows_per_split: int = 1
    min_real_carrier_share: float = 0.6  # train examples built on a real carrier text (issue 10)
