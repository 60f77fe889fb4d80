"""Large artifacts travel as files in the lake: each run writes its own (LakeResource.run_dir), assets
hand each other their paths as records (resources/artifacts.py), and a few get a shared "latest" copy."""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from pathlib import Path

import dagster as dg

from hrm_core.data.contract import Example
from hrm_core.data.lake import write_parquet_atomic
from hrm_core.data.records import examples_to_table


def store_examples(examples: list[Example], run_file: Path, published: Path) -> Path:
    """Write generated examples to this run's Parquet file and publish the shared copy the DuckDB views
    read; returns the run's file (what the asset's record carries)."""
    path = write_parquet_atomic(examples_to_table(examples), run_file)
    publish_copy(path, published)
    return path


def publish_copy(src: Path, dst: Path) -> Path:
    """Copy this run's `src` to the shared path `dst` atomically (temp file in the same folder, rename).

    For readers that want "the latest" by a fixed path (the DuckDB views, the CLI examples in the README);
    assets of a run never read these copies, they read their run's own file through its record.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    # Hidden ".tmp" name: read_parquet globs (*.parquet) never pick up an in-flight file.
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dst


def png_markdown(path: Path, alt: str) -> dg.MetadataValue:
    """A PNG embedded as a data URI, so the plot renders on the asset's details page."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{data})")
