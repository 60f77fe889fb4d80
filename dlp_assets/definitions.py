"""The hrm-dlp code location: every asset, check, job, schedule, sensor and resource."""

import dagster as dg

from dlp_assets import agentic, carriers, checks, data, features, model, release
from dlp_assets.jobs import ALL_JOBS, data_quality_job, full_retrain_job, ingest_and_retrain_job
from resources.anthropic import AnthropicResource
from resources.artifacts import ArtifactIOManager
from resources.device import ComputeDevice
from resources.lake import LakeResource
from resources.quality import DataQualityPolicy
from resources.release import ReleasePolicy
from sensors.landing import build_landing_sensor
from sensors.schedules import build_schedules

ALL_ASSETS = [
    data.synthetic_examples,
    data.landed_examples,
    data.examples,
    carriers.carrier_corpus,
    carriers.carrier_examples,
    agentic.agentic_examples,
    features.tokenizer,
    features.tokenized_examples,
    model.trained_model,
    release.calibration,
    release.onnx_model,
    release.evaluation_report,
    release.champion_model,
]
ALL_CHECKS = [
    checks.examples_offsets_valid,
    checks.examples_label_prevalence,
    checks.examples_duplicate_rate,
    checks.examples_split_leakage,
    checks.examples_real_carrier_share,
    checks.examples_carrier_sources,
    agentic.agentic_acceptance_rate,
    release.challenger_beats_champion,
]

# Declarative automation refreshes the release path when a new model lands outside a job that already
# covers it (e.g. a trained_model materialized by hand in the UI), once upstream blocking checks passed.
# Declared RUNNING explicitly.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "release_automation",
    target=dg.AssetSelection.assets(
        release.calibration, release.onnx_model, release.evaluation_report, release.champion_model
    ),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
)


def build_resources(lake_root: str = "") -> dict[str, object]:
    lake = LakeResource(root=lake_root)
    return {
        "lake": lake,
        "io_manager": ArtifactIOManager(lake=lake),  # each asset reads the artifacts of its own run
        "device": ComputeDevice(),
        "quality": DataQualityPolicy(),
        "release": ReleasePolicy(),
        "anthropic": AnthropicResource(),
    }


def build_definitions(lake_root: str = "") -> dg.Definitions:
    """The code location over `lake_root` (empty: `$HRM_DLP_LAKE` or ./data_lake); tests pass a tmp lake."""
    return dg.Definitions(
        assets=ALL_ASSETS,
        asset_checks=ALL_CHECKS,
        jobs=ALL_JOBS,
        schedules=build_schedules(full_retrain_job, data_quality_job),
        sensors=[build_landing_sensor(ingest_and_retrain_job, lake_root=lake_root), automation_sensor],
        resources=build_resources(lake_root),
    )


defs = build_definitions()
