"""Jobs: the demo / full retrain, the landing-triggered retrain, and the checks-only data-quality run."""

import dagster as dg

from dlp_assets.data import examples, landed_examples

NEEDS_API_KEY = dg.AssetSelection.assets("agentic_examples")

# The whole graph on the embedded defaults, without the Claude-written data (needs ANTHROPIC_API_KEY).
demo_job = dg.define_asset_job(
    "demo",
    selection=dg.AssetSelection.all() - NEEDS_API_KEY,
    description="Build the whole graph on the embedded defaults: data, tokenizer, features, training, "
    "calibration, ONNX bundle, evaluation and the champion gate (agentic data left out).",
)

full_retrain_job = dg.define_asset_job(
    "full_retrain",
    selection=dg.AssetSelection.all() - NEEDS_API_KEY,
    description="Weekly: regenerate, retrain, recalibrate, export, evaluate and gate.",
)

ingest_and_retrain_job = dg.define_asset_job(
    "ingest_and_retrain",
    selection=dg.AssetSelection.assets(landed_examples).downstream(),
    description="One landed file: ingest it, rebuild examples and features, retrain, recalibrate, export, "
    "evaluate and run the champion gate.",
)

data_quality_job = dg.define_asset_job(
    "data_quality",
    selection=dg.AssetSelection.checks_for_assets(examples),
    description="Nightly: the data-quality checks on examples, without re-materializing anything.",
)

ALL_JOBS = [demo_job, full_retrain_job, ingest_and_retrain_job, data_quality_job]
