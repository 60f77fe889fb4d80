"""Large artifacts travel as files in the lake; assets hand each other their paths through metadata."""

from __future__ import annotations

import base64
from pathlib import Path

import dagster as dg


def upstream_path(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext, key: dg.AssetKey,
                  entry: str) -> Path:  # fmt: skip
    """The file path recorded under `entry` in the latest materialization of `key`."""
    event = context.instance.get_latest_materialization_event(key)
    md = event.asset_materialization.metadata if event and event.asset_materialization else {}
    if entry not in md:
        raise dg.Failure(
            f"{key.to_user_string()} has no '{entry}' in its latest materialization; materialize it first"
        )
    path = Path(str(md[entry].value))
    if not path.exists():
        raise dg.Failure(
            f"{key.to_user_string()} points at {path}, which no longer exists; re-materialize it"
        )
    return path


def png_markdown(path: Path, alt: str) -> dg.MetadataValue:
    """A PNG embedded as a data URI, so the plot renders on the asset's details page."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{data})")
