"""Probe `hrm-dlp` with the mistakes users make; writes one JSON report (exit status, stderr, traceback).

    python benchmarks/probe_cli_mistakes.py --out cli_probe.json
    python benchmarks/probe_cli_mistakes.py --code /tmp/before --model BUNDLE --out before.json

Each case runs the real entry point of the checkout under ``--code`` in a subprocess. ``--model``
passes a bundle to the ``scan`` cases (needed by checkouts without the rules-engine fallback, where
``scan`` without a bundle stops at "no model bundle" before it reads its input). The chmod 000 case is
skipped as root, who can read such a file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CARD_LINE = json.dumps({"id": "ok", "body": "card 4111 1111 1111 1111"}).encode()


def _cases(work: Path, model: list[str]) -> list[tuple[str, list[str]]]:
    binary = work / "photo.jsonl"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\n" + bytes(range(256)) * 8)
    mixed = work / "mixed.jsonl"
    mixed.write_bytes(CARD_LINE + b"\n" + b'{"id": "bad", "body": "caf\xe9"}\n' + CARD_LINE + b"\n")
    unreadable = work / "unreadable.jsonl"
    unreadable.write_bytes(CARD_LINE + b"\n")
    unreadable.chmod(0)
    a_file = work / "not_a_lake.txt"
    a_file.write_text("x")
    lake = work / "lake"
    cases = [
        ("scan: missing file", ["scan", *model, str(work / "missing.jsonl")]),
        ("scan: a directory", ["scan", *model, str(work)]),
        ("scan: binary file", ["scan", *model, str(binary)]),
        ("scan: non-UTF-8 line among valid lines", ["scan", *model, str(mixed)]),
        ("scan: unknown flag", ["scan", "--no-such-flag"]),
        ("ingest: missing file", ["ingest", str(work / "missing.jsonl"), "--lake", str(lake)]),
        ("ingest: a directory", ["ingest", str(work), "--lake", str(lake)]),
        ("query: --lake does not exist", ["query", "SELECT 1", "--lake", str(work / "nowhere")]),
        ("query: --lake is a file", ["query", "SELECT 1", "--lake", str(a_file)]),
        ("query: bad SQL", ["query", "SELEC 1", "--lake", str(lake)]),
        ("evaluate: --data missing file", ["evaluate", "--data", str(work / "missing.jsonl"), *model]),
        ("evaluate: no --data", ["evaluate"]),
    ]
    if os.geteuid() != 0:
        cases.insert(3, ("scan: unreadable file (chmod 000)", ["scan", *model, str(unreadable)]))
    return cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--code", type=Path, default=REPO, help="checkout whose hrm_core runs (default: this one)"
    )
    ap.add_argument("--model", type=Path, default=None, help="bundle for the scan cases")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    code = args.code.resolve()
    cli = (
        ["-m", "hrm_core.cli.main"]
        if (code / "hrm_core" / "cli" / "main.py").exists()
        else ["-m", "hrm_core.cli"]
    )
    env = {**os.environ, "PYTHONPATH": str(code)}
    env.pop("HRM_DLP_DEBUG", None)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cli_probe_") as tmp:
        work = Path(tmp)
        # A lake with data, for the bad-SQL case (and so `query` has something to refuse).
        seed = work / "seed.jsonl"
        seed.write_bytes(CARD_LINE + b"\n")
        subprocess.run([sys.executable, *cli, "ingest", str(seed), "--lake", str(work / "lake")],
                       env=env, capture_output=True, timeout=300, check=False)  # fmt: skip
        model = ["--model", str(args.model)] if args.model else []
        for name, argv in _cases(work, model):
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, *cli, *argv], cwd=work, env={**env, "HRM_DLP_LAKE": str(work / "default_lake")},
                capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            lines = [x for x in proc.stderr.strip().splitlines() if any(c.isalpha() for c in x)]
            records = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
            results.append({
                "case": name,
                "exit": proc.returncode,
                "stderr_lines": len(lines),
                "traceback": "Traceback" in proc.stderr,
                "message": (lines[-1] if lines else "")[:160],
                "results": sum("error" not in r for r in records),
                "error_records": sum("error" in r for r in records),
                "seconds": round(time.perf_counter() - t0, 2),
            })  # fmt: skip
            print(json.dumps(results[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"code": str(code), "model": str(args.model), "cases": results}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
