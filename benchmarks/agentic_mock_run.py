"""Run the whole agentic pipeline over the in-process fake API and print the DuckDB rejection table.

    .venv/bin/python benchmarks/agentic_mock_run.py [--target 120]

Answers are a deterministic mix of good and bad ones (no tool call, malformed tool input, a value not
in the body, labels against the rules, canned duplicates, low judge scores); nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile

import duckdb

from hrm_core.agentic.audit import REJECTED_SHARE_SQL
from hrm_core.agentic.client import MessageClient
from hrm_core.agentic.fake_api import FakeClaude
from hrm_core.agentic.plan import plan_mix
from hrm_core.agentic.publish import lake_run_dir, publish_run
from hrm_core.agentic.run import RunConfig, run_agentic
from hrm_core.data.lake import Lake

# Share of answers (out of 100, by prompt hash) turned into each kind of bad answer.
FAULT_MIX = (("no_tool_use", 4), ("bad_tool_input", 3), ("value_not_found", 8), ("label_contradiction", 6),
             ("duplicate", 5), ("judge_low", 6))  # fmt: skip


def fault(seed: str, req: dict) -> str | None:
    bucket = hashlib.sha256(req["messages"][0]["content"].encode()).digest()[0] % 100
    judge = req["tools"][0]["name"] == "score_example"
    for kind, share in FAULT_MIX:
        if bucket < share:
            return kind if (kind == "judge_low") == judge else None
        bucket -= share
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=int, default=120)
    args = ap.parse_args()
    lake = Lake(tempfile.mkdtemp(prefix="agentic-mock-"))
    fake = FakeClaude(fault=fault, batch_polls_to_end=2)
    client = MessageClient(fake.client(), lake.root / "agentic" / "cache", "claude-sonnet-4-6", mode="auto",
                           batch_min=20, batch_poll_s=0, sleep=lambda s: None)  # fmt: skip
    result = run_agentic(plan_mix(args.target), client, lake_run_dir(lake, "mock"),
                         RunConfig(target=args.target, run_id="mock", judge=True, chunk_tasks=40))  # fmt: skip
    summary = publish_run(result, lake, "mock")
    print(json.dumps({k: v for k, v in summary.items() if not k.endswith("_path")}, indent=2))
    audit = f"{lake.parquet}/agentic_audit/*.parquet"
    print("\nRejections by reason:")
    duckdb.sql(f"""SELECT coalesce(reason, 'accepted') AS outcome, count(*) AS messages,
                   round(count(*) / sum(count(*)) OVER (), 3) AS share
                   FROM read_parquet('{audit}') GROUP BY outcome ORDER BY messages DESC""").show()
    print("Rejected share by agent and reason:")
    duckdb.sql(REJECTED_SHARE_SQL.format(path=audit)).show(max_rows=80)


if __name__ == "__main__":
    main()
