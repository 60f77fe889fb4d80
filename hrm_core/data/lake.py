"""The lake: one root directory holding Parquet (the source of truth), the DuckDB file and artifacts.

    <root>/landing/          labeled JSONL / Parquet files dropped by users
    <root>/quarantine/       rejected rows, one Parquet partition per ingested file content
    <root>/parquet/<table>/  synthetic/, agentic/, landed/, examples/, ... one or more *.parquet each
    <root>/warehouse.duckdb  views over the Parquet; disposable, rebuilt by `warehouse.refresh_views`
    <root>/models/  <root>/reports/

The root is `$HRM_DLP_LAKE` or `./data_lake`. Every Parquet write goes through `write_parquet_atomic`, so a
reader (or a crash) never sees half a file. Its temp file is named after the writer (``.<name>.<pid>@<host>.
<random>.tmp``) so that the next write into the same directory can tell an orphan, left by a writer that
crashed, from a file a live writer is still filling: see `remove_orphan_temp_files`. Files get the
normal mode for new files (0666 less the umask, e.g. 0644), as `open()` would give them.

`lake_lock` is the lake's inter-process lock (``fcntl.flock`` on a file in the root): ingestion holds it
around its check-and-commit so that concurrent ingests cannot both accept the same content.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from hrm_core.data.records import ARROW_SCHEMA

log = logging.getLogger(__name__)

LAKE_ENV = "HRM_DLP_LAKE"
DEFAULT_LAKE = "data_lake"
PARQUET_TABLES: tuple[str, ...] = ("synthetic", "agentic", "landed", "examples")
# A temp file whose writer cannot be checked (another host, an old-style name) is an orphan once it has
# not been written to for this long; pyarrow writes row group by row group, so a live writer's file
# keeps a fresh mtime.
ORPHAN_TEMP_AGE_S = 3600.0
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
_TEMP_NAME = re.compile(r"^\..+\.(?P<pid>\d+)@(?P<host>[A-Za-z0-9-]+)\.[0-9a-f]+\.tmp$")


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


def _create_temp_file(path: Path) -> tuple[int, Path]:
    """Create a hidden temp file beside `path`, named after this writer, with the umask's mode."""
    while True:
        tmp = path.parent / f".{path.name}.{os.getpid()}@{_HOST}.{secrets.token_hex(4)}.tmp"
        try:
            # 0o666 filtered by the umask, like open(); mkstemp would force 0600.
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp
        except FileExistsError:  # 32 random bits collided: draw again
            continue


def _writer_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _is_orphan(name: re.Match[str] | None, age_s: float, max_age_s: float) -> bool:
    if name is not None and name["host"] == _HOST:
        return not _writer_alive(int(name["pid"]))
    return age_s > max_age_s  # the writer cannot be checked from here


def remove_orphan_temp_files(
    directory: str | os.PathLike[str], max_age_s: float = ORPHAN_TEMP_AGE_S, now: float | None = None
) -> list[Path]:
    """Delete the temp files that crashed writers left in `directory`; returns what was removed.

    A temp file named by a writer on this host is removed when that process is gone, and never
    while it runs. One whose writer cannot be checked (another host sharing the lake, or a name
    from before writers were named) is removed once unmodified for `max_age_s`.
    """
    d = Path(directory)
    if not d.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for tmp in d.glob(".*.tmp"):
        m = _TEMP_NAME.match(tmp.name)
        try:
            age = now - tmp.stat().st_mtime
        except FileNotFoundError:  # renamed or removed meanwhile
            continue
        if _is_orphan(m, age, max_age_s):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    if removed:
        log.info("removed %d orphan temp file(s) in %s", len(removed), d)
    return removed


def write_parquet_atomic(table: pa.Table, path: str | os.PathLike[str]) -> Path:
    """Write `table` to `path` so it appears whole or not at all: temp file in the same dir, fsync, rename.

    Orphaned temp files of dead writers in that directory are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphan_temp_files(path.parent)
    # Hidden ".tmp" name: read_parquet globs (*.parquet) never pick up an in-flight file.
    fd, tmp = _create_temp_file(path)
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


@contextmanager
def lake_lock(lake: Lake, name: str) -> Iterator[None]:
    """Hold the lake's exclusive inter-process lock `name` for the block (waits for the holder).

    ``fcntl.flock`` on ``<root>/.<name>.lock``: the kernel drops it when the holder exits, so a
    crashed holder never leaves the lake locked.
    """
    lake.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(lake.root / f".{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


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
