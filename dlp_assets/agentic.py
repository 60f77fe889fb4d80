"""Claude-written examples: the manager plans what the lake lacks, agents write, the code checks.

Needs ANTHROPIC_API_KEY; without it the asset fails at once with instructions (the demo job leaves
it out). Re-materializing with the same config resumes the run and re-reads every answer from the
response cache, so it costs nothing twice.
"""

import dagster as dg

from dlp_assets.metadata import md_table
from hrm_core.agentic.audit import AUDIT_SCHEMA, AUDIT_TABLE
from hrm_core.agentic.plan import estimate, plan_mix, read_current_counts
from hrm_core.agentic.publish import lake_cache_dir, lake_run_dir, publish_run
from hrm_core.agentic.run import RunConfig, run_agentic
from hrm_core.data.lake import read_parquet_dir
from resources.anthropic import AnthropicResource
from resources.lake import LakeResource

OWNERS = ["team:ml-platform"]
MIN_ACCEPTANCE_RATE = 0.5


class AgenticConfig(dg.Config):
    target: int = 500
    run_id: str = ""  # empty: derived from target and model, so a re-run resumes the same run
    judge: bool = False
    min_realism: int = 3
    checkpoint_every: int = 50


@dg.asset(
    group_name="data",
    kinds={"anthropic", "parquet"},
    owners=OWNERS,
    description="Messages and threads written by Claude specialist and conversational agents, with spans "
    "located by code, labels checked against the content rules and duplicates removed (docs/agentic.md).",
)
def agentic_examples(
    context: dg.AssetExecutionContext, config: AgenticConfig, lake: LakeResource, anthropic: AnthropicResource
) -> dg.MaterializeResult:
    anthropic.require_key()  # fail before any planning work, with the how-to-set-it message
    lk = lake.lake()
    run_id = config.run_id or f"{config.target}-{anthropic.model}"
    plan = plan_mix(config.target, read_current_counts(str(lk.root)))
    context.log.info(f"agentic plan: {estimate(plan, anthropic.model, judge=config.judge)}")
    client = anthropic.message_client(str(lake_cache_dir(lk)))
    run_config = RunConfig(
        target=config.target, run_id=run_id, max_tokens=anthropic.max_tokens, judge=config.judge,
        judge_model=anthropic.judge_model or None, min_realism=config.min_realism,
        checkpoint_every=config.checkpoint_every,
    )  # fmt: skip
    result = run_agentic(plan, client, lake_run_dir(lk, run_id), run_config)
    summary = publish_run(result, lk, run_id)
    rejections = md_table(["reason", "messages"], [[k, v] for k, v in summary["rejections"].items()])
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(summary["examples_path"]),
            "audit_path": dg.MetadataValue.path(summary["audit_path"]),
            "dagster/row_count": summary["accepted"],
            "generated": summary["generated"],
            "acceptance_rate": summary["acceptance_rate"],
            "rejections": dg.MetadataValue.md(rejections),
            "threads": summary["threads"],
            "stopped": summary["stopped"],
            "retries": summary["retries"],
            "batch_fallbacks": summary["batch_fallbacks"],
            "input_tokens": summary["usage_input_tokens"],
            "output_tokens": summary["usage_output_tokens"],
            "cache_hits": summary["usage_cache_hits"],
            "estimated_cost_usd": summary["usage_cost_usd"],
            "model": anthropic.model,
        }
    )


@dg.asset_check(asset=agentic_examples, description="Enough generated messages survived the checks.")
def agentic_acceptance_rate(lake: LakeResource) -> dg.AssetCheckResult:
    lk = lake.lake()
    rows = read_parquet_dir(lk.parquet / AUDIT_TABLE, schema=AUDIT_SCHEMA).to_pylist()
    accepted = sum(r["status"] == "accepted" for r in rows)
    rate = accepted / len(rows) if rows else 0.0
    return dg.AssetCheckResult(
        passed=rate >= MIN_ACCEPTANCE_RATE,
        metadata={"acceptance_rate": round(rate, 4), "generated": len(rows), "min": MIN_ACCEPTANCE_RATE},
    )
