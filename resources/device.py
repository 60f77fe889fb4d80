"""Compute device for training and inference, resolved inside the asset (never at import time)."""

from __future__ import annotations

from typing import Literal

import dagster as dg


class ComputeDevice(dg.ConfigurableResource):
    """`auto` picks CUDA when torch sees a GPU, else CPU. Resolving imports torch lazily, so the
    multiprocess executor's spawned workers never initialise CUDA before they need it."""

    prefer: Literal["auto", "cpu", "cuda"] = "auto"
    torch_threads: int = 0  # 0: torch's default (one per core)

    def resolve(self) -> str:
        import torch

        if self.torch_threads > 0:
            torch.set_num_threads(self.torch_threads)
        if self.prefer == "cpu":
            return "cpu"
        if self.prefer == "cuda" and not torch.cuda.is_available():
            raise dg.Failure("ComputeDevice(prefer='cuda') but torch sees no CUDA device")
        return "cuda" if torch.cuda.is_available() else "cpu"
