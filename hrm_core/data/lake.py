"""The lake: one root directory holding Parquet (the source of truth), the DuckDB file and artifacts.

    <root>/landing/          labeled JSONL / Parquet files dropped by users
    <root>/quarantine/       rejected rows, one Parquet partition per ingested file content
    <root>/parquet/<table>/  synthetic/, agentic/, landed/, examples/, ... one or more *.parquet each
    <root>/warehouse.duckdb  views over the Parquet; disposable, rebuilt by `warehouse.refresh_views`
    <root>/models/  <root>/reports/

The root is `$HRM_DLP_LAKE` or `./data_lake`. Every Parquet write goes through `write_parquet_atomic`, so a
reader (or a crash) never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from hrm_core.data.records import ARROW_SCHEMA

LAKE_ENV = "HRM_DLP_LAKE"
DEFAULT_LAKE = "data_lake"
PARQUET_TABLES: tuple[str, ...] = ("synthetic", "agentic", "landed", "examples")


def default_lake_root() -> Path:
    """`$HRM_DLP_LAKE` when set, else ``./data_lake`` (relative to the working directory)."""
    return Path(os.environ.get(LAKE_ENV) or DEFAULT_LAKE)


@dataclass(frozen=True)
class Lake:
    """Paths of one lake; creating it touches nothing on disk until `ensure()`."""

    root: Path = field(default_factory=default_lake_root)

    def __post_init__(self) -> None:
        # Absolute, so views and paths stay right when a caller later changes directory.
        object.__setattr__(self, "root", Path(self.root).resolve())

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def parquet(self) -> Path:
        return self.root / "parquet"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def table_dir(self, name: str) -> Path:
        """Directory of one Parquet table, e.g. ``table_dir("landed")``."""
        return self.parquet / name

    def ensure(self) -> Lake:
        """Create every directory of the layout (idempotent); returns self for chaining."""
        for d in (self.landing, self.quarantine, self.models, self.reports):
            d.mkdir(parents=True, exist_ok=True)
        for name in PARQUET_TABLES:
            self.table_dir(name).mkdir(parents=True, exist_ok=True)
        return self


def _fsync_dir(path: Path) -> None:
    # The rename itself must reach the disk, or a power cut can resurrect the old directory entry.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_parquet_atomic(table: pa.Table, path: str | os.PathLike[str]) -> Path:
    """Write `table` to `path` so it appears whole or not at all: temp file in the same dir, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hidden ".tmp" name: read_parquet globs (*.parquet) never pick up an in-flight file.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            pq.write_table(table, fh, compression="zstd")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def parquet_files(path: str | os.PathLike[str]) -> list[Path]:
    """The visible ``*.parquet`` files of a table directory, sorted by name (temp files excluded)."""
    d = Path(path)
    if not d.is_dir():
        return []
    return sorted(p for p in d.glob("*.parquet") if not p.name.startswith("."))


def read_parquet_dir(path: str | os.PathLike[str], schema: pa.Schema = ARROW_SCHEMA) -> pa.Table:
    """All Parquet files of a directory as one table; an empty table with `schema` when there are none."""
    files = parquet_files(path)
    if not files:
        return schema.empty_table()
    tables = [pq.read_table(f) for f in files]
    # promote_options="permissive": older partitions may lack a column a newer writer added.
    return pa.concat_tables(tables, promote_options="permissive")
