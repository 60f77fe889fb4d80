"""`hrm-dlp` command line. Every command takes `--lake DIR` and prints JSON when its output is data.

Exit status, the same for every command, so a script or CI job can tell a finding from a mistake
from a crash:

    0    done (for ``scan``: every message scanned, none at the ``--fail-on`` level)
    1    ``scan --fail-on warn``: the worst decision was a warning
    2    ``scan --fail-on block|warn``: the worst decision was a block
    3    the command could not do its work with what it was given: a usage mistake (unknown command
         or flag, missing argument), an input file that is missing, a directory, unreadable or in the
         wrong format, a ``--lake`` that is not a lake, SQL that DuckDB rejects, no or a damaged
         model bundle, the filesystem refusing a write; for ``scan``, also some lines that were not
         valid messages (each got an error record in its place and the rest were scanned)
    4    internal error (a bug, or a failure the command did not expect)
    130  interrupted (Ctrl-C)
    141  stdout was closed by its reader (``| head``), as if killed by SIGPIPE; nothing more is written

Statuses 3 and 4 come with one line on stderr, ``hrm-dlp <command>: <what went wrong>``, and no
traceback; set ``HRM_DLP_DEBUG=1`` to get the traceback too. Output already written stays valid
JSON lines.

Heavy modules (torch, onnxruntime, duckdb) are imported inside the command that needs them, so
`hrm-dlp --help` and the light commands start fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

Handler = Callable[[argparse.Namespace], int]

EXIT_USAGE = 3  # the user's input or environment: one line saying what to fix
EXIT_INTERNAL = 4  # not the user's doing: one line, the traceback with HRM_DLP_DEBUG=1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a pipeline member killed by it
DEBUG_ENV = "HRM_DLP_DEBUG"


class UsageError(Exception):
    """A mistake in what the user gave a command; `main` prints the message as one line, exit 3."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line and exit 3 (argparse's own 2 is --fail-on block's)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=None, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def _lake(args: argparse.Namespace):
    from hrm_core.data.lake import Lake, default_lake_root

    return Lake(Path(args.lake) if args.lake else default_lake_root()).ensure()


def _input_file(path: Path) -> Path:
    """`path` when it is a readable file, else a `UsageError` saying what it is instead."""
    if not path.exists():
        raise UsageError(f"no such file: {path}")
    if not path.is_file():
        raise UsageError(f"not a file: {path}")
    if not os.access(path, os.R_OK):
        raise UsageError(f"cannot read {path}: permission denied")
    return path


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
    from hrm_core.data.warehouse import WarehouseBusyError, refresh_views

    lake = _lake(args)
    _print_json(ingest_file(lake, _input_file(args.path)).as_dict())
    # The ingest is done; the views are a convenience for the duckdb CLI (queries do not need them).
    try:
        refresh_views(lake, lock_wait_s=10.0)
    except WarehouseBusyError as err:
        sys.stderr.write(f"hrm-dlp ingest: views not refreshed ({err}); `hrm-dlp query` is not affected\n")
    return 0


# --- query ----------------------------------------------------------------------------------------
def _add_query(p: argparse.ArgumentParser) -> None:
    p.add_argument("sql", help="SQL over the warehouse views (examples, spans, quarantine, ...)")


def _query(args: argparse.Namespace) -> int:
    import duckdb

    from hrm_core.data.lake import Lake, default_lake_root
    from hrm_core.data.warehouse import query

    lake = Lake(Path(args.lake) if args.lake else default_lake_root())  # read-only: never created here
    if not lake.root.is_dir() or not (lake.parquet.is_dir() or lake.warehouse.is_file()):
        raise UsageError(f"no lake at {lake.root} (pass --lake DIR or set HRM_DLP_LAKE)")
    try:
        df = query(lake, args.sql)  # read-only; never waits for, nor fails on, a lock
    except duckdb.Error as err:
        first = next((line for line in str(err).splitlines() if line.strip()), type(err).__name__)
        raise UsageError(first.strip()) from err  # DuckDB adds a caret drawing on later lines
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


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, just that command gets its arguments (the others' may import heavy
    modules, e.g. ``generate``'s agentic flags import the anthropic SDK, ~1 s)."""
    parser = _Parser(prog="hrm-dlp", description="HRM-DLP data and model factory")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_args, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--lake", default=None, help="lake root (default: $HRM_DLP_LAKE or ./data_lake)")
        if only is None or only == name:
            add_args(p)
        p.set_defaults(handler=handler)
    return parser


def _one_line(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror and err.filename:
        return f"{err.filename}: {err.strerror}"
    return " ".join(str(err).split()) or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    """Run one `hrm-dlp` command; returns the exit status in the module docstring."""
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), "")  # options only follow the command
    args = build_parser(only=command).parse_args(argv)  # a usage mistake exits 3 here
    prog = f"hrm-dlp {args.command}"
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`| head`): nothing to report to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return EXIT_BROKEN_PIPE
    except Exception as err:
        if os.environ.get(DEBUG_ENV) == "1":
            traceback.print_exc()
        if isinstance(err, UsageError | OSError):  # paths, permissions, disk: the user can fix it
            sys.stderr.write(f"{prog}: {_one_line(err)}\n")
            return EXIT_USAGE
        sys.stderr.write(
            f"{prog}: internal error: {type(err).__name__}: {_one_line(err)} "
            f"(set {DEBUG_ENV}=1 for the traceback)\n"
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
