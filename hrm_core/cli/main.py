"""`hrm-dlp` command line. Every command takes `--lake DIR` and prints JSON when its output is data.

Heavy modules (torch, onnxruntime, duckdb) are imported inside the command that needs them, so
`hrm-dlp --help` and the light commands start fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=None, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def _lake(args: argparse.Namespace):
    from hrm_core.data.lake import Lake, default_lake_root

    return Lake(Path(args.lake) if args.lake else default_lake_root()).ensure()


# --- generate -------------------------------------------------------------------------------------
def _add_generate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=1000, help="number of examples (template generator)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", type=Path, help="JSONL file to write (default: <lake>/landing/synthetic-<seed>.jsonl)"
    )
    p.add_argument(
        "--agentic", action="store_true", help="generate with Claude agents instead (needs ANTHROPIC_API_KEY)"
    )
    try:
        from hrm_core.cli.agentic import add_arguments as add_agentic_arguments
    except ImportError:  # agentic extras not installed: the flag then explains itself at run time
        return
    add_agentic_arguments(p)


def _generate(args: argparse.Namespace) -> int:
    if args.agentic:
        from hrm_core.cli.agentic import run as run_agentic

        return run_agentic(args)
    import time

    from hrm_core.synth import generate_examples, summarize, write_jsonl

    out = args.out or (_lake(args).landing / f"synthetic-{args.seed}.jsonl")
    t0 = time.perf_counter()
    examples = generate_examples(args.n, seed=args.seed)
    write_jsonl(examples, out)
    seconds = time.perf_counter() - t0
    _print_json(
        {"out": str(out), "n": len(examples), "seconds": round(seconds, 3), "summary": summarize(examples)}
    )
    return 0


# --- ingest ---------------------------------------------------------------------------------------
def _add_ingest(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path, help="a JSONL or Parquet file of labeled examples")


def _ingest(args: argparse.Namespace) -> int:
    from hrm_core.data.ingest import ingest_file

    if not args.path.is_file():
        sys.stderr.write(f"hrm-dlp ingest: no such file: {args.path}\n")
        return 2
    _print_json(ingest_file(_lake(args), args.path).as_dict())
    return 0


# --- query ----------------------------------------------------------------------------------------
def _add_query(p: argparse.ArgumentParser) -> None:
    p.add_argument("sql", help="SQL over the warehouse views (examples, spans, quarantine, ...)")


def _query(args: argparse.Namespace) -> int:
    from hrm_core.data.warehouse import query

    df = query(_lake(args), args.sql)  # read-only; rebuilds the views itself when the lake changed
    _print_json(json.loads(df.to_json(orient="records")))
    return 0


# --- scan / serve / evaluate: argument sets live beside their implementation ----------------------
def _add_scan(p: argparse.ArgumentParser) -> None:
    from hrm_core.cli.scan import add_scan_arguments

    add_scan_arguments(p)


def _scan(args: argparse.Namespace) -> int:
    from hrm_core.cli.scan import run_scan

    return run_scan(args)


def _add_serve(p: argparse.ArgumentParser) -> None:
    from hrm_core.cli.scan import add_serve_arguments

    add_serve_arguments(p)


def _serve(args: argparse.Namespace) -> int:
    from hrm_core.cli.scan import run_serve

    return run_serve(args)


def _add_evaluate(p: argparse.ArgumentParser) -> None:
    from hrm_core.cli.evaluate import add_evaluate_arguments

    add_evaluate_arguments(p)


def _evaluate(args: argparse.Namespace) -> int:
    from hrm_core.cli.evaluate import run_evaluate

    return run_evaluate(args)


def _add_bench(p: argparse.ArgumentParser) -> None:
    from hrm_core.cli.bench import add_bench_arguments

    add_bench_arguments(p)


def _bench(args: argparse.Namespace) -> int:
    from hrm_core.cli.bench import run_bench

    return run_bench(args)


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {
    "generate": ("generate synthetic labeled examples as JSONL", _add_generate, _generate),
    "ingest": ("validate a landed file into the lake; prints the row reconciliation", _add_ingest, _ingest),
    "query": ("run SQL against the DuckDB warehouse views; prints rows as JSON", _add_query, _query),
    "scan": (
        "scan JSONL messages (or --text) with a model bundle; one JSON result per line",
        _add_scan,
        _scan,
    ),
    "serve": ("serve POST /scan, /scan/batch, GET /healthz, POST /warmup over HTTP", _add_serve, _serve),
    "evaluate": (
        "evaluate a model bundle and the regex baseline on a labeled dataset",
        _add_evaluate,
        _evaluate,
    ),
    "bench": (
        "measure scanner latency and throughput per backend beside the regex baseline; prints JSON",
        _add_bench,
        _bench,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hrm-dlp", description="HRM-DLP data and model factory")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_args, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--lake", default=None, help="lake root (default: $HRM_DLP_LAKE or ./data_lake)")
        add_args(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
