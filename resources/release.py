"""The champion gate's policy for this deployment: tolerances and the outside dev sets it weighs."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

EVAL_DIR_ENV = "HRM_DLP_EVAL_DIR"
# ../shared/eval beside the repository: where the project's public dev sets are mounted.
DEFAULT_EVAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "eval"


class ReleasePolicy(dg.ConfigurableResource):
    """How much worse than the reference a challenger may be and still be promoted, and on what.

    `eval_dir`: the folder of outside dev sets (presidio_research/, noseyparker/, contractnli/). Empty
    means `$HRM_DLP_EVAL_DIR`, else ``../shared/eval`` beside the repository; a folder that is missing or
    holds none of the sets means the gate weighs the test split alone, and the report says so.
    `dev_max_examples`: a fixed seeded sample per set (runtime is bounded by the long contractnli NDAs,
    about 1.3 s each through the cpu-small int8 scanner on 2 cores).
    """

    fp_tolerance: float = 0.005  # absolute, on test-split sensitivity FP@95R (lower is better)
    f1_tolerance: float = 0.005  # absolute, on test-split span micro-F1, exact match (higher is better)
    dev_tolerance: float = 0.05  # absolute, on each dev-set metric: samples are small, 1/n per example
    eval_dir: str = ""
    dev_max_examples: dict[str, int] = {"presidio_research": 500, "noseyparker": 300, "contractnli": 20}  # noqa: RUF012

    def eval_root(self) -> Path:
        return Path(self.eval_dir or os.environ.get(EVAL_DIR_ENV) or DEFAULT_EVAL_DIR)
