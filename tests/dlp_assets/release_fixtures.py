"""Stand-ins for the release tests: a hand-made examples table on which the regex baseline is perfect,
tiny dev sets in the public formats, and cheap assets under the keys of the heavy upstream ones."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from dlp_assets.release import evaluation_report
from hrm_core.data.contract import validate_example
from hrm_core.data.records import examples_to_table
from hrm_core.release.champion import gate_decision

LABELS = {"exposure": 0, "context": 1, "obfuscation": 0}
PAN = "4111 1111 1111 1111"


def _example(i: int, split: str, card: bool) -> dict:
    body = f"Card {PAN} is on file for order {i}." if card else f"Lunch is at noon on day {i}, see you there."
    spans = [{"type": "PAN", "start": 5, "end": 5 + len(PAN)}] if card else []
    return {"id": f"{split}-{i}", "channel": "email", "user": {"role": "FINANCE"}, "body": body,
            "recipients": ["ops@corp.example"], "spans": spans,
            "labels": {"sensitivity": int(card), **LABELS}, "meta": {"org_domains": ["corp.example"]}}  # fmt: skip


def write_examples(path: Path) -> Path:
    """Six val and six test messages: half carry a Luhn-valid card, which the regex baseline never misses."""
    rows = [(split, i, i % 2 == 0) for split in ("val", "test") for i in range(6)]
    table = examples_to_table([validate_example(_example(i, s, card)) for s, i, card in rows])
    table = table.append_column("split", pa.array([s for s, _, _ in rows]))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def write_dev_sets(root: Path) -> Path:
    """Three tiny dev sets in the public formats (presidio, noseyparker, contractnli)."""
    (root / "presidio_research").mkdir(parents=True)
    text = "Email jane@corp.example about it"
    presidio = [{"full_text": text, "spans": [{"entity_type": "EMAIL_ADDRESS", "entity_value": "jane@corp.example",
                                               "start_position": 6, "end_position": 23}]},
                {"full_text": "Nothing to see here", "spans": []}]  # fmt: skip
    (root / "presidio_research" / "synth_dataset_v2.json").write_text(json.dumps(presidio))
    (root / "noseyparker").mkdir()
    lines = [{"text": f"token = 'ghp_{'a1B2' * 9}'", "label": 1}, {"text": "token = os.environ['T']", "label": 0},
             {"text": f"key: AKIA{'ABCDEFGH' * 2}", "label": 1}, {"text": "print('hello')", "label": 0}]  # fmt: skip
    (root / "noseyparker" / "noseyparker_examples.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    (root / "contractnli").mkdir()
    docs = [{"id": i, "file_name": f"nda{i}.txt", "text": "The Receiving Party shall keep all Confidential "
             "Information secret. " * 20, "spans": []} for i in range(2)]  # fmt: skip
    (root / "contractnli" / "dev.json").write_text(json.dumps({"documents": docs, "labels": {}}))
    return root


def bundle_version(bundle: Path) -> str:
    """The bundle's own model_version (derived from its content by write_bundle)."""
    return json.loads((bundle / "config.json").read_text())["model_version"]


def stand_ins(bundle: Path, examples_path: Path) -> list[dg.AssetsDefinition]:
    """Cheap assets under the keys of the heavy upstream ones, handing over a bundle and an examples table."""

    @dg.asset(name="onnx_model")
    def onnx_model() -> dg.MaterializeResult:
        record = {"bundle": str(bundle), "model_version": bundle_version(bundle)}
        return dg.MaterializeResult(value=record, metadata=record)

    @dg.asset(name="examples")
    def examples() -> dict:
        return {"path": str(examples_path)}

    return [onnx_model, examples]


def yes_evaluation(bundle: Path) -> dg.AssetsDefinition:
    """evaluation_report standing in with a decision that says yes about `bundle` (no champion yet)."""
    side = {"doc": {"sensitivity": {"fp_at_95_recall": 0.1}}, "spans": {"exact": {"micro": {"f1": 0.9}}}}
    worse = {"doc": {"sensitivity": {"fp_at_95_recall": 0.5}}, "spans": {"exact": {"micro": {"f1": 0.5}}}}
    decision = gate_decision({"model": side, "baseline_regex": worse}).for_bundle(bundle, None)

    @dg.asset(name="evaluation_report", automation_condition=evaluation_report.automation_conditions_by_key[
        evaluation_report.key])  # fmt: skip
    def stand_in() -> dict:
        return {
            "bundle": str(bundle),
            "model_version": decision.model_version,
            "decision": decision.as_dict(),
        }

    return stand_in
