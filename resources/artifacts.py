"""The IO manager that hands each asset the artifacts of its own run.

Large artifacts (Parquet tables, tokenizer, checkpoints, bundles) stay files in the lake. What travels
between assets is a *record*: a small JSON dict of those files' paths and a few facts, written by
`handle_output` to ``<lake>/runs/<run_id>/<asset>/output.json``.

`load_input` reads the upstream's record from the run that produced it for this run's plan: this run,
or on a re-execution the parent run whose output it reuses. So a landing-sensor run and the weekly
retrain running side by side never read each other's checkpoint, calibration or bundle.

When the upstream is not part of this run (a lone materialization from the UI, a checks-only job, an
automation run), it reads the record of the upstream's *latest materialization* and logs which run
that was: the explicit, visible form of "use what is there". An upstream never materialized (or whose
latest materialization left no record, e.g. one made before records existed) fails the step with what
to materialize, unless the input is declared optional with ``AssetIn(metadata={"optional": True})``,
which then receives None.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import dagster as dg

from resources.lake import LakeResource

RECORD = "output.json"


def asset_name(key: dg.AssetKey) -> str:
    return "__".join(key.path)


class ArtifactIOManager(dg.ConfigurableIOManager):
    """Records of paths, one per run and asset, under the lake's `runs/` folder."""

    lake: LakeResource

    def record_path(self, run_id: str, key: dg.AssetKey) -> Path:
        return self.lake.lake().root / "runs" / run_id / asset_name(key) / RECORD

    def handle_output(self, context: dg.OutputContext, obj: dict[str, Any] | None) -> None:
        if obj is None:
            return
        if not isinstance(obj, dict):
            raise TypeError(
                f"{context.asset_key.to_user_string()} must return a dict record, not {type(obj)}"
            )
        path = self.record_path(context.run_id, context.asset_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {**obj, "run_id": context.run_id, "asset": context.asset_key.to_user_string()}
        fd, tmp = tempfile.mkstemp(prefix=f".{RECORD}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1, default=str)
        os.replace(tmp, path)
        context.add_output_metadata({"record": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> dict[str, Any] | None:
        key = context.asset_key
        upstream = context.upstream_output
        source_run = upstream.run_id if upstream is not None else ""
        path = self.record_path(source_run, key) if source_run else None
        if path is not None and path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
        if source_run and context.instance.get_run_by_id(source_run) is not None:
            # The upstream ran in this run's plan but left no record: never read someone else's instead.
            raise dg.Failure(f"{key.to_user_string()} ran in run {source_run} but wrote no record at {path}")
        return self._latest(context, key)

    def _latest(self, context: dg.InputContext, key: dg.AssetKey) -> dict[str, Any] | None:
        name = key.to_user_string()
        event = context.instance.get_latest_materialization_event(key)
        if event is None:
            if context.definition_metadata.get("optional"):
                context.log.info(f"{name} was never materialized; this optional input is None")
                return None
            raise dg.Failure(
                f"{name} is not part of this run and was never materialized: materialize it first"
            )
        path = self.record_path(event.run_id, key)
        if not path.is_file():
            raise dg.Failure(
                f"{name} is not part of this run and its latest materialization (run {event.run_id}) left no "
                f"record at {path}: materialize {name} again"
            )
        context.log.warning(
            f"{name} is not part of this run: using its latest materialization, run {event.run_id} ({path})"
        )
        return json.loads(path.read_text(encoding="utf-8"))
