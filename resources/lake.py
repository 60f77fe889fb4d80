"""Where the lake lives for this deployment (local folder by default)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from hrm_core.data.lake import Lake, default_lake_root


class LakeResource(dg.ConfigurableResource):
    """The lake root. Empty means `$HRM_DLP_LAKE` or `./data_lake`; nothing is opened or created here."""

    root: str = ""

    def lake(self) -> Lake:
        return Lake(Path(self.root) if self.root else default_lake_root()).ensure()

    def run_dir(self, run_id: str, name: str) -> Path:
        """``<lake>/runs/<run_id>/<name>/``: where one asset writes its files in one run, so two runs never
        write to the same path. Created on first use."""
        d = self.lake().root / "runs" / run_id / name
        d.mkdir(parents=True, exist_ok=True)
        return d
