"""Schedules: a weekly full retrain and a nightly data-quality run (asset checks only)."""

from __future__ import annotations

import dagster as dg


def build_schedules(retrain_job, data_quality_job) -> list[dg.ScheduleDefinition]:  # type: ignore[no-untyped-def]
    weekly = dg.ScheduleDefinition(
        name="weekly_retrain",
        job=retrain_job,
        cron_schedule="0 3 * * 0",  # Sundays 03:00
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Full rebuild from examples: tokenizer, features, training, calibration, export, "
        "evaluation and the champion gate.",
    )
    nightly = dg.ScheduleDefinition(
        name="nightly_data_quality",
        job=data_quality_job,
        cron_schedule="30 1 * * *",  # every night 01:30
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Re-run the data-quality asset checks on examples (no materialization).",
    )
    return [weekly, nightly]
