"""Probe the warehouse and the landing zone under concurrency and crashes; writes one JSON report.

    python benchmarks/probe_lake_concurrency.py --out lake_probe.json            # this checkout
    python benchmarks/probe_lake_concurrency.py --code /tmp/before --out b.json  # another checkout

Every step runs the code under ``--code`` in real processes (``PYTHONPATH=<code>``), so an older
checkout (flat ``hrm_core/warehouse.py`` layout) can be measured with this script too:
  queries    a lake from ``generate --n N`` + ``ingest``, views materialized, copied elsewhere (its
             views now stale); 4 ``hrm-dlp query`` processes at once on the copy, ``--rounds`` times;
  reader     a process holds ``warehouse.duckdb`` open read-only for ``--hold`` s while another
             runs ``refresh_views`` (what the ``examples`` asset does), ``--rounds`` times; then once
             with a reader that stays (an analyst's open session) unless ``--skip-long-reader``;
  ingest     two ``hrm-dlp ingest`` processes of identical content (two file names) at once;
             landed rows vs distinct content hashes;
  crash      an ingest killed between writing its temp file and renaming it, then a normal ingest:
             temp files left, and the modes of the landed Parquet files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


class Code:
    """How to reach the CLI and modules of one checkout (current or the old flat layout)."""

    def __init__(self, root: Path, work: Path):
        self.root, self.work = root, work
        new = (root / "hrm_core" / "data" / "warehouse.py").exists()
        self.cli = ["-m", "hrm_core.cli.main"] if new else ["-m", "hrm_core.cli"]
        self.warehouse = "hrm_core.data.warehouse" if new else "hrm_core.warehouse"
        self.ingest = "hrm_core.data.ingest" if new else "hrm_core.ingest"
        self.lake = "hrm_core.data.lake" if new else "hrm_core.lake"
        self.env = {**os.environ, "PYTHONPATH": str(root)}
        self.env.pop("HRM_DLP_DEBUG", None)

    def popen(self, argv: list[str], **kw: Any) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, *argv], cwd=self.work, env=self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw,
        )  # fmt: skip

    def run(self, argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *argv], cwd=self.work, env=self.env, text=True, capture_output=True,
            timeout=timeout, check=False,
        )  # fmt: skip

    def hrm_dlp(self, *argv: str) -> list[str]:
        return [*self.cli, *argv]


def _stderr_summary(stderr: str) -> dict[str, Any]:
    lines = stderr.strip().splitlines()
    return {
        "stderr_lines": len(lines),
        "traceback": "Traceback" in stderr,
        "last_line": lines[-1][:200] if lines else "",
    }


def make_lake(code: Code, n: int) -> Path:
    lake = code.work / "lake"
    data = code.work / "gen.jsonl"
    for argv in (
        code.hrm_dlp("generate", "--n", str(n), "--out", str(data), "--lake", str(lake)),
        code.hrm_dlp("ingest", str(data), "--lake", str(lake)),
        ["-c", f"from {code.lake} import Lake; from {code.warehouse} import refresh_views; "
               f"refresh_views(Lake({str(lake)!r}))"],
    ):  # fmt: skip
        proc = code.run(argv)
        if proc.returncode != 0:
            raise SystemExit(f"setup failed: {' '.join(argv)}: {proc.stderr[-2000:]}")
    return lake


def probe_queries(code: Code, lake: Path, rounds: int) -> dict[str, Any]:
    sql = "SELECT count(*) AS n FROM landed_examples"
    runs = []
    for r in range(rounds):
        copy = code.work / f"copy{r}"
        shutil.copytree(lake, copy)
        t0 = time.perf_counter()
        procs = [code.popen(code.hrm_dlp("query", "--lake", str(copy), sql)) for _ in range(4)]
        for p in procs:
            out, err = p.communicate(timeout=300)
            runs.append({"round": r, "rc": p.returncode, "stdout": out.strip()[:80], **_stderr_summary(err)})
        runs[-1]["round_seconds"] = round(time.perf_counter() - t0, 2)
        shutil.rmtree(copy)
    ok = sum(x["rc"] == 0 for x in runs)
    return {"queries": len(runs), "ok": ok, "failed": len(runs) - ok, "runs": runs}


HOLDER = "import sys, time, duckdb\nc = duckdb.connect(sys.argv[1], read_only=True)\nprint('holding', flush=True)\ntime.sleep(float(sys.argv[2]))\n"


def _refresh(code: Code, lake: Path) -> dict[str, Any]:
    argv = ["-c", f"from {code.lake} import Lake; from {code.warehouse} import refresh_views; "
                  f"refresh_views(Lake({str(lake)!r}))"]  # fmt: skip
    t0 = time.perf_counter()
    proc = code.run(argv)
    return {
        "rc": proc.returncode,
        "seconds": round(time.perf_counter() - t0, 2),
        **_stderr_summary(proc.stderr),
    }


def probe_reader(code: Code, lake: Path, rounds: int, hold: float, long_reader: bool) -> dict[str, Any]:
    runs = []
    for _ in range(rounds):
        holder = code.popen(["-c", HOLDER, str(lake / "warehouse.duckdb"), str(hold)])
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        runs.append(_refresh(code, lake))
        holder.wait(timeout=300)
    out: dict[str, Any] = {
        "hold_seconds": hold,
        "refreshes": len(runs),
        "ok": sum(r["rc"] == 0 for r in runs),
    }
    out["runs"] = runs
    if long_reader:
        holder = code.popen(["-c", HOLDER, str(lake / "warehouse.duckdb"), "600"])
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        try:
            out["reader_that_stays"] = _refresh(code, lake)
        finally:
            holder.kill()
            holder.wait(timeout=60)
    return out


def probe_ingest(code: Code, n: int) -> dict[str, Any]:
    lake = code.work / "ingest_lake"
    a, b = code.work / "same-a.jsonl", code.work / "same-b.jsonl"
    code.run(code.hrm_dlp("generate", "--n", str(n), "--seed", "7", "--out", str(a), "--lake", str(lake)))
    shutil.copyfile(a, b)
    procs = [code.popen(code.hrm_dlp("ingest", str(f), "--lake", str(lake))) for f in (a, b)]
    calls = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        calls.append(
            {"rc": p.returncode, **(json.loads(out) if p.returncode == 0 else {}), **_stderr_summary(err)}
        )
    count = code.run([
        "-c",
        "import json, sys, pyarrow.parquet as pq, pathlib\n"
        "h = [x for f in sorted(pathlib.Path(sys.argv[1]).glob('*.parquet')) "
        "for x in pq.read_table(f, columns=['content_hash']).column('content_hash').to_pylist()]\n"
        "print(json.dumps({'landed_rows': len(h), 'distinct_hashes': len(set(h))}))",
        str(lake / "parquet" / "landed"),
    ])  # fmt: skip
    reconciles = all(
        c.get("accepted", 0) + c.get("quarantined", 0) + c.get("duplicates", 0) == c.get("rows", -1)
        for c in calls
    )
    keep = ("rc", "rows", "accepted", "quarantined", "duplicates", "stderr_lines", "traceback")
    return {
        **json.loads(count.stdout),
        "calls": [{k: c.get(k) for k in keep} for c in calls],
        "each_call_reconciles": reconciles,
    }


CRASH = """
import os, sys
from {ingest} import ingest_file
from {lake} import Lake
os.replace = lambda *a, **k: os._exit(137)  # killed after the temp file is written, before the rename
ingest_file(Lake(sys.argv[1]), sys.argv[2])
"""


def probe_crash(code: Code, n: int) -> dict[str, Any]:
    lake = code.work / "crash_lake"
    first, second = code.work / "first.jsonl", code.work / "second.jsonl"
    code.run(code.hrm_dlp("generate", "--n", str(n), "--seed", "1", "--out", str(first), "--lake", str(lake)))
    code.run(
        code.hrm_dlp("generate", "--n", str(n), "--seed", "2", "--out", str(second), "--lake", str(lake))
    )
    crashed = code.run(["-c", CRASH.format(ingest=code.ingest, lake=code.lake), str(lake), str(first)])

    def temps() -> list[str]:
        return sorted(p.name for d in ("parquet/landed", "quarantine") for p in (lake / d).glob(".*.tmp"))

    after_crash = temps()
    code.run(code.hrm_dlp("ingest", str(second), "--lake", str(lake)))
    modes = sorted({oct(p.stat().st_mode & 0o777) for p in (lake / "parquet" / "landed").glob("*.parquet")})
    return {
        "crash_rc": crashed.returncode,
        "temp_files_after_crash": len(after_crash),
        "temp_files_after_next_ingest": len(temps()),
        "landed_parquet_modes": modes,
        "umask": oct(_umask()),
    }


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--code", type=Path, default=REPO, help="checkout whose hrm_core runs (default: this one)"
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n", type=int, default=2000, help="examples generated for the lakes")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hold", type=float, default=3.0, help="seconds a reader holds the file")
    ap.add_argument("--skip-long-reader", action="store_true", help="skip the reader that never closes")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lake_probe_") as tmp:
        code = Code(args.code.resolve(), Path(tmp))
        t0 = time.perf_counter()
        lake = make_lake(code, args.n)
        report = {
            "code": str(code.root),
            "n": args.n,
            "queries_on_copied_lake": probe_queries(code, lake, args.rounds),
            "refresh_while_reader_open": probe_reader(
                code, lake, args.rounds, args.hold, not args.skip_long_reader
            ),
            "concurrent_ingest_same_content": probe_ingest(code, args.n),
            "crash_then_ingest": probe_crash(code, max(200, args.n // 10)),
        }
        report["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    brief = {
        k: {kk: vv for kk, vv in v.items() if kk not in ("runs", "calls")}
        for k, v in report.items()
        if isinstance(v, dict)
    }
    print(json.dumps(brief, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
