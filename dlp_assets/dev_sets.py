"""The outside dev sets the champion gate weighs: which files, in which format, sampled how.

Public labeled sets nobody on the project wrote (``../shared/eval``, see its README). They are read in
place, never copied or trained on; each is evaluated on a fixed seeded sample of at most
`ReleasePolicy.dev_max_examples[name]` examples, so challenger and champion see the same messages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlp_assets.metadata import md_table
from hrm_core.data.contract import Example
from hrm_core.data.eval_formats import EvalFormat, load_eval_dataset
from hrm_core.release.champion import METRIC_NAMES


@dataclass(frozen=True)
class DevSet:
    name: str
    file: str  # relative to the eval folder
    format: EvalFormat


DEV_SETS = (
    DevSet("presidio_research", "presidio_research/synth_dataset_v2.json", "presidio"),
    DevSet("noseyparker", "noseyparker/noseyparker_examples.jsonl", "noseyparker"),
    DevSet("contractnli", "contractnli/dev.json", "contractnli"),
)


def present_dev_sets(eval_root: Path) -> list[DevSet]:
    """The dev sets whose file exists under `eval_root` (none when the folder is missing)."""
    return [d for d in DEV_SETS if (eval_root / d.file).is_file()]


def dev_sample(dev: DevSet, eval_root: Path, max_examples: int, seed: int = 0) -> list[Example]:
    """At most `max_examples` examples of `dev`, a seeded sample kept in file order."""
    examples = load_eval_dataset(eval_root / dev.file, dev.format)
    if len(examples) <= max_examples:
        return examples
    keep = sorted(random.Random(seed).sample(range(len(examples)), max_examples))
    return [examples[i] for i in keep]


def dev_sets_markdown(decision: dict[str, Any], reports: dict[str, str], note: str) -> str:
    """The gate's dev-set rows (challenger vs its reference on each metric) with links to each report."""
    if not decision.get("dev_sets"):
        return f"## Outside dev sets\n\n{note}\n"
    rows = [
        [name, dev["n"], METRIC_NAMES.get(k, k), m["challenger"], m["reference"], dev["against"],
         "yes" if m["ok"] else "no"]
        for name, dev in decision["dev_sets"].items()
        for k, m in dev["metrics"].items()
    ]  # fmt: skip
    table = md_table(["set", "n", "metric", "model", "reference", "against", "within tolerance"], rows)
    links = "\n".join(f"- {name}: `{path}`" for name, path in reports.items())
    return f"## Outside dev sets\n\n{note}\n\n{table}\n\nFull reports:\n\n{links}\n"
