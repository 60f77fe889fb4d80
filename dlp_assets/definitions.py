"""The hrm-dlp code location: every asset, check, job, schedule, sensor and resource."""

from __future__ import annotations

import dagster as dg

from dlp_assets import checks, data, features, model
from resources.device import ComputeDevice
from resources.lake import LakeResource
from resources.quality import DataQualityPolicy

ALL_ASSETS = [
    data.synthetic_examples,
    data.landed_examples,
    data.examples,
    features.tokenizer,
    features.tokenized_examples,
    model.trained_model,
]
ALL_CHECKS = [
    checks.examples_offsets_valid,
    checks.examples_label_prevalence,
    checks.examples_duplicate_rate,
    checks.examples_split_leakage,
]

# The demo job builds everything that needs no API key (agentic_examples needs ANTHROPIC_API_KEY).
demo_job = dg.define_asset_job(
    "demo",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets("agentic_examples"),
    description="Build the whole graph on the embedded defaults, without the Claude-written data.",
)


def build_resources() -> dict[str, object]:
    return {"lake": LakeResource(), "device": ComputeDevice(), "quality": DataQualityPolicy()}


defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=[demo_job],
    resources=build_resources(),
)
