"""Lake layout, atomic Parquet writes (modes, orphaned temp files), the lake lock, directory reads."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hrm_core.data.lake import (
    Lake,
    lake_lock,
    read_parquet_dir,
    remove_orphan_temp_files,
    write_parquet_atomic,
)
from hrm_core.data.records import ARROW_SCHEMA


def test_default_root_comes_from_env_then_cwd(tmp_path, monkeypatch):
    monkeypatch.setenv("HRM_DLP_LAKE", str(tmp_path / "elsewhere"))
    assert Lake().root == tmp_path / "elsewhere"
    monkeypatch.delenv("HRM_DLP_LAKE")
    monkeypatch.chdir(tmp_path)
    assert Lake().root == tmp_path / "data_lake"
    assert Lake("rel").root == tmp_path / "rel"  # resolved to absolute at construction


def test_ensure_creates_the_layout(tmp_path):
    lake = Lake(tmp_path / "lake")
    assert not lake.root.exists()  # constructing touches nothing
    lake.ensure()
    for d in (
        "landing",
        "quarantine",
        "models",
        "reports",
        "parquet/synthetic",
        "parquet/landed",
        "parquet/examples",
    ):
        assert (lake.root / d).is_dir(), d
    assert lake.warehouse == lake.root / "warehouse.duckdb"
    lake.ensure()  # idempotent


def test_write_then_read_directory(tmp_path):
    t1 = pa.table({"a": [1, 2]})
    t2 = pa.table({"a": [3], "b": ["x"]})  # a newer partition with an extra column
    write_parquet_atomic(t1, tmp_path / "d" / "p1.parquet")
    write_parquet_atomic(t2, tmp_path / "d" / "p2.parquet")
    (tmp_path / "d" / ".p3.parquet.abc.tmp").write_bytes(b"half")  # in-flight temp file: not read
    got = read_parquet_dir(tmp_path / "d")
    assert got.column("a").to_pylist() == [1, 2, 3]
    assert got.column("b").to_pylist() == [None, None, "x"]


def test_read_missing_or_empty_dir_gives_typed_empty_table(tmp_path):
    assert read_parquet_dir(tmp_path / "nope").schema == ARROW_SCHEMA
    (tmp_path / "empty").mkdir()
    t = read_parquet_dir(tmp_path / "empty")
    assert t.num_rows == 0 and t.schema == ARROW_SCHEMA


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "t.parquet"
    write_parquet_atomic(pa.table({"a": [1]}), target)

    def crash(table, where, **kw):
        where.write(b"PAR1 partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", crash)
    with pytest.raises(OSError, match="disk full"):
        write_parquet_atomic(pa.table({"a": [2, 3]}), target)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]
    assert pq.read_table(target).column("a").to_pylist() == [1]


# --- file modes and orphaned temp files -------------------------------------------------------------

# A writer process that creates its temp file the way `write_parquet_atomic` does, says so, then either
# dies without cleaning up (a crash) or stays alive (a slow writer still filling it).
WRITER = """
import os, sys, time
from pathlib import Path
from hrm_core.data.lake import _create_temp_file
fd, tmp = _create_temp_file(Path(sys.argv[1]) / "part.parquet")
os.write(fd, b"PAR1 half a file")
print(tmp.name, flush=True)
if sys.argv[2] == "crash":
    os._exit(9)
time.sleep(60)
"""


def _start_writer(directory, mode: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(directory), mode], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def test_parquet_is_written_with_the_umask_mode_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_parquet_atomic(pa.table({"a": [1]}), tmp_path / "t.parquet")
        os.umask(0o027)
        group_only = write_parquet_atomic(pa.table({"a": [1]}), tmp_path / "g.parquet")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(group_only.stat().st_mode) == 0o640


def test_next_write_removes_a_crashed_writers_temp_file_but_not_a_live_ones(tmp_path):
    d = tmp_path / "table"
    d.mkdir()
    crashed, crashed_tmp = _start_writer(d, "crash")
    assert crashed.wait(timeout=60) == 9
    live, live_tmp = _start_writer(d, "live")
    try:
        assert sorted(p.name for p in d.iterdir()) == sorted([crashed_tmp, live_tmp])
        write_parquet_atomic(pa.table({"a": [1]}), d / "next.parquet")
        # The dead writer's file is gone; the live writer's is kept however old it looks.
        assert sorted(p.name for p in d.iterdir()) == sorted(["next.parquet", live_tmp])
        assert remove_orphan_temp_files(d, max_age_s=0.0, now=time.time() + 86400) == []
    finally:
        live.kill()
        live.wait(timeout=60)
    assert remove_orphan_temp_files(d) == [d / live_tmp]  # once its writer is gone
    assert read_parquet_dir(d).column("a").to_pylist() == [1]


def test_temp_files_whose_writer_cannot_be_checked_go_after_the_age_bound(tmp_path):
    old_style = tmp_path / ".p.parquet.k2j4h1.tmp"  # mkstemp name: no writer recorded
    other_host = tmp_path / ".p.parquet.123@elsewhere.0a1b2c3d.tmp"  # a writer on another machine
    for p in (old_style, other_host):
        p.write_bytes(b"x")
    now = time.time()
    assert remove_orphan_temp_files(tmp_path, max_age_s=3600, now=now + 60) == []
    removed = remove_orphan_temp_files(tmp_path, max_age_s=3600, now=now + 7200)
    assert sorted(removed) == sorted([old_style, other_host])
    assert list(tmp_path.iterdir()) == []


def test_lake_lock_excludes_another_process_until_released(tmp_path):
    lake = Lake(tmp_path / "lake")
    code = (
        "import sys, time\n"
        "from hrm_core.data.lake import Lake, lake_lock\n"
        "print('ready', flush=True)\n"  # imports can take seconds on a busy machine: time from here
        "t0 = time.monotonic()\n"
        "with lake_lock(Lake(sys.argv[1]), 'ingest'):\n"
        "    print(round(time.monotonic() - t0, 3))\n"
    )
    with lake_lock(lake, "ingest"):
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(lake.root)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(1.5)
        assert proc.poll() is None  # still waiting for the lock
    out, _ = proc.communicate(timeout=60)
    assert float(out) >= 1.0  # it entered only after we left
