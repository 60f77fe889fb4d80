"""``hrm-dlp generate --agentic``: plan (and with ``--dry-run`` only print) or run an agentic generation.

`hrm_core/cli/main.py` calls `add_arguments(parser)` on its ``generate`` parser and `run(args)` when
``--agentic`` is given. The dry run needs no API key: it prints the mix, the number of requests and
the estimated tokens and cost as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hrm_core.agentic.client import MISSING_KEY_MESSAGE, MessageClient, anthropic_client, api_key_from_env
from hrm_core.agentic.plan import estimate, plan_mix, read_current_counts

DEFAULT_MODEL = "claude-sonnet-4-6"


def _add(parser: argparse.ArgumentParser, flag: str, **kw: Any) -> None:
    # The host `generate` command may already define a flag (e.g. --target): share it, do not clash.
    if flag not in parser._option_string_actions:
        parser.add_argument(flag, **kw)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the agentic options to a ``generate`` parser."""
    _add(parser, "--agentic", action="store_true", help="generate with Claude agents instead of templates")
    _add(parser, "--dry-run", action="store_true", help="print the plan and cost estimate; send nothing")
    _add(parser, "--target", type=int, default=1000, help="examples to generate")
    _add(parser, "--model", default=DEFAULT_MODEL, help="Claude model id")
    _add(parser, "--max-tokens", type=int, default=1024)
    _add(parser, "--concurrency", type=int, default=8)
    _add(parser, "--mode", choices=("auto", "batch", "concurrent"), default="auto")
    _add(parser, "--spend-limit", type=float, default=None, help="stop when estimated spend reaches USD")
    _add(parser, "--judge", action="store_true", help="score each example with a second Claude call")
    _add(parser, "--run-id", default=None, help="run name; the same name resumes a stopped run")
    _add(parser, "--ignore-lake-counts", action="store_true", help="plan as if the lake were empty")


def run(args: argparse.Namespace) -> int:
    """Execute the agentic generate command; returns the process exit code."""
    from hrm_core.data.lake import Lake

    lake = Lake(args.lake) if getattr(args, "lake", None) else Lake()
    current = {} if args.ignore_lake_counts else read_current_counts(str(lake.root))
    plan = plan_mix(args.target, current)
    batch = args.mode == "batch" or (args.mode == "auto" and plan.requests(args.judge) >= 100)
    if args.dry_run:
        out = {
            "model": args.model,
            "mode": "batch" if batch else "concurrent",
            "existing_rows_considered": sum(current.values()),
            "estimate": estimate(plan, args.model, judge=args.judge, batch=batch),
            "mix": plan.mix(),
        }
        print(json.dumps(out, indent=2))
        return 0
    try:
        key = api_key_from_env()
    except RuntimeError:
        print(MISSING_KEY_MESSAGE, file=sys.stderr)
        return 3  # the environment lacks what the command needs (hrm_core.cli.main's exit statuses)
    from hrm_core.agentic.publish import lake_cache_dir, lake_run_dir, publish_run
    from hrm_core.agentic.run import RunConfig, run_agentic

    run_id = args.run_id or f"cli-{args.target}-{args.model}"
    client = MessageClient(
        anthropic_client(key), lake_cache_dir(lake), args.model, concurrency=args.concurrency,
        mode=args.mode, spend_limit_usd=args.spend_limit,
    )  # fmt: skip
    config = RunConfig(target=args.target, run_id=run_id, max_tokens=args.max_tokens, judge=args.judge)
    result = run_agentic(plan, client, lake_run_dir(lake, run_id), config, progress=True)
    print(json.dumps(publish_run(result, lake, run_id), indent=2))
    if result.stopped == "target":
        return 0
    # Not 1 or 2: those are scan's --fail-on findings. What was accepted is published and resumable.
    print(
        f"hrm-dlp generate: stopped before the target ({result.stopped}); re-run to resume", file=sys.stderr
    )
    return 3


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (``python -m hrm_core.cli.agentic``) until the main CLI wires it in."""
    parser = argparse.ArgumentParser(prog="hrm-dlp generate")
    parser.add_argument("--lake", default=None)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
