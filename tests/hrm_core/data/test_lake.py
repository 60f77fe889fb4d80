"""Lake layout, atomic Parquet writes and directory reads."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hrm_core.data.lake import Lake, read_parquet_dir, write_parquet_atomic
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
