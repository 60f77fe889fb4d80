"""Synthetic DLP examples: templated messages with exact spans and rule-derived labels.

Public API: `generate_examples`, `write_jsonl`, `summarize`, `derive_labels`, `SynthConfig`.
See docs/synthetic_data.md for the scenarios, the hard negatives and the label rules.
"""

from hrm_core.synth.config import SynthConfig
from hrm_core.synth.generator import generate_examples, write_jsonl
from hrm_core.synth.labels import derive_labels
from hrm_core.synth.stats import summarize

__all__ = ["SynthConfig", "derive_labels", "generate_examples", "summarize", "write_jsonl"]
