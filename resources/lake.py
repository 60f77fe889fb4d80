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
