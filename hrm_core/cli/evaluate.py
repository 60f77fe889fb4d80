"""`hrm-dlp evaluate`: the evaluation report of a model bundle on a labeled dataset, next to the baseline.

``hrm-dlp evaluate --data PATH --format native|presidio|contractnli|noseyparker [--model DIR] [--out FILE]``
loads the dataset through its format adapter, scans it with the bundle's `Scanner` (int8 ONNX by
default), uses the bundle's validation thresholds (``calibration.json``), writes ``evaluation.json``,
``evaluation.md`` and the PNG plots (default folder ``<lake>/reports/<dataset-stem>/``) and prints the
headline numbers as one JSON line. Exit status (as for every ``hrm-dlp`` command, see
`hrm_core.cli.main`): 0 written; 3 with one line on stderr when the data file is missing, a directory,
unreadable, not in the format or holds no valid example, or the model bundle is missing or damaged;
4 internal error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_BAD_INPUT = 3  # hrm_core.cli.main.EXIT_USAGE; 2 is `scan --fail-on`'s "block"
EXIT_NO_MODEL = 3


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``hrm-dlp evaluate`` (``--lake`` is added by the main parser)."""
    from hrm_core.data.eval_formats import EVAL_FORMATS

    p.add_argument(
        "--model", type=Path, default=None, help="model bundle dir (default: <lake>/models/champion)"
    )
    p.add_argument(
        "--backend", choices=("int8", "fp32", "torch"), default="int8", help="model runtime (default: int8)"
    )
    p.add_argument("--data", type=Path, required=True, help="labeled dataset file")
    p.add_argument(
        "--format", choices=EVAL_FORMATS, default="native", help="dataset format (default: native)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="report JSON (default: <lake>/reports/<data-stem>/evaluation.json)",
    )
    p.add_argument("--name", default=None, help="dataset name in the report (default: the file name)")
    p.add_argument("--stability-n", type=int, default=200, help="examples in the stability check (0: skip)")
    p.add_argument("--seed", type=int, default=0, help="seed of the stability sample")


def _lake_root(args: argparse.Namespace) -> Path:
    from hrm_core.data.lake import default_lake_root

    return Path(args.lake) if getattr(args, "lake", None) else default_lake_root()


def _data_problem(path: Path) -> str | None:
    if not path.exists():
        return f"no such file: {path}"
    if not path.is_file():
        return f"not a file: {path}"
    try:
        with open(path, "rb"):
            return None
    except OSError as err:
        return f"cannot read {path}: {err.strerror or err}"


def run_evaluate(args: argparse.Namespace) -> int:
    """``hrm-dlp evaluate``: write the report files, print the headline JSON; the exit status above."""
    problem = _data_problem(args.data)  # before the heavy imports: a typo answers at once
    if problem:
        sys.stderr.write(f"hrm-dlp evaluate: {problem}\n")
        return EXIT_BAD_INPUT
    model_dir = args.model or _lake_root(args) / "models" / "champion"
    if not (model_dir / "config.json").is_file():
        sys.stderr.write(
            f"hrm-dlp evaluate: no model bundle at {model_dir} (train one, or pass --model DIR)\n"
        )
        return EXIT_NO_MODEL

    from hrm_core.data.eval_formats import load_eval_dataset_with_report
    from hrm_core.release.calibration import TemperatureCalibrator
    from hrm_core.release.evaluation import evaluate, headline
    from hrm_core.release.report_render import write_report
    from hrm_core.serve.scanner import Scanner

    try:
        examples, load = load_eval_dataset_with_report(args.data, args.format)
    except (OSError, ValueError, KeyError) as err:  # a file that is not in the format at all
        detail = " ".join(str(err).split())
        sys.stderr.write(f"hrm-dlp evaluate: cannot read {args.data} as {args.format}: {detail}\n")
        return EXIT_BAD_INPUT
    if not examples:
        sys.stderr.write(f"hrm-dlp evaluate: no valid examples in {args.data} ({load.rows} rows read)\n")
        return EXIT_BAD_INPUT

    try:
        scanner = Scanner.from_bundle(model_dir, backend=args.backend)
    except (OSError, ValueError) as err:  # a damaged bundle: a file missing, truncated or not parseable
        detail = " ".join(str(err).split()) or type(err).__name__
        sys.stderr.write(f"hrm-dlp evaluate: cannot load the model bundle at {model_dir}: {detail}\n")
        return EXIT_NO_MODEL
    calibration = model_dir / "calibration.json"
    thresholds = TemperatureCalibrator.load(calibration).thresholds() if calibration.is_file() else None
    report = evaluate(
        scanner,
        examples,
        dataset_name=args.name or args.data.name,
        thresholds=thresholds,
        stability_n=args.stability_n,
        seed=args.seed,
    )
    # Rows the adapter refused are not silently forgotten: counted (never their content) in the report.
    report["dataset"].update(
        {"path": str(args.data), "format": args.format, "rows": load.rows, "rejected": len(load.rejected)}
    )
    out = args.out or _lake_root(args) / "reports" / args.data.stem / "evaluation.json"
    written = write_report(report, out)
    sys.stdout.write(
        json.dumps({**headline(report), "files": {k: str(v) for k, v in written.items()}}, default=str) + "\n"
    )
    sys.stdout.flush()
    return 0
