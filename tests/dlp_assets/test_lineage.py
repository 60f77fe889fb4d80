"""Two retrains side by side never mix their artifacts.

Run A trains, and is held right after training until run B has run the whole release path; then A goes
on to calibrate, export and evaluate. Each bundle must hold its own run's tokenizer, calibration and
weights (A and B differ in data seed, vocabulary and width, so a mix shows as a hash or a shape), and
record its own run as the source of each part. Tiny everything: a few training steps of a 1-layer model.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from pathlib import Path

import dagster as dg
import torch

import dlp_assets.model
from dlp_assets.definitions import build_definitions
from hrm_core.tokens.tokenizer import DlpTokenizer

RUNS = {"A": {"seed": 1, "vocab": 600, "d_model": 32}, "B": {"seed": 2, "vocab": 700, "d_model": 48}}


def run_config(seed: int, vocab: int, d_model: int) -> dict:
    small = {"epochs": 1, "batch_size": 16, "n_heads": 2, "n_fast_layers": 1, "max_len": 128,
             "H_cycles": 1, "L_cycles": 1, "d_model": d_model, "seed": seed}  # fmt: skip
    return {"ops": {
        "synthetic_examples": {"config": {"n": 200, "seed": seed}},
        "carrier_corpus": {"config": {"stdlib_files": 20}},
        "carrier_examples": {"config": {"n": 100, "seed": seed}},
        "tokenizer": {"config": {"vocab_size": vocab}},
        "trained_model": {"config": small},
        "evaluation_report": {"config": {"stability_n": 0}},
    }}  # fmt: skip


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def md(result: dg.ExecuteInProcessResult, node: str, key: str) -> str:
    return str(result.asset_materializations_for_node(node)[-1].metadata[key].value)


def test_two_retrains_side_by_side_do_not_mix_artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("HRM_DLP_EVAL_DIR", str(tmp_path / "no-dev-sets"))
    defs = build_definitions(str(tmp_path / "lake"))
    job = defs.resolve_job_def("full_retrain")
    ids = {name: str(uuid.uuid4()) for name in RUNS}
    a_trained, b_done = threading.Event(), threading.Event()
    real_train = dlp_assets.model.train

    def train_then_hold_a(data, out_dir, *args, **kwargs):
        result = real_train(data, out_dir, *args, **kwargs)
        if ids["A"][:8] in str(out_dir):
            a_trained.set()
            assert b_done.wait(timeout=600), "run B never finished"
        return result

    monkeypatch.setattr(dlp_assets.model, "train", train_then_hold_a)
    results: dict[str, dg.ExecuteInProcessResult] = {}
    with dg.instance_for_test() as instance:

        def run(name: str) -> None:
            results[name] = job.execute_in_process(
                run_config=run_config(**RUNS[name]), instance=instance, run_id=ids[name], raise_on_error=False
            )

        thread_a = threading.Thread(target=run, args=("A",))
        thread_a.start()
        assert a_trained.wait(timeout=600), "run A never finished training"
        try:
            run("B")
        finally:
            b_done.set()
            thread_a.join(timeout=600)

    for name, spec in RUNS.items():
        result = results[name]
        steps = ("tokenizer", "trained_model", "calibration", "onnx_model", "evaluation_report")
        assert all(result.asset_materializations_for_node(s) for s in steps), f"run {name} did not finish"
        bundle = Path(md(result, "onnx_model", "bundle"))
        config = json.loads((bundle / "config.json").read_text())["model"]
        assert (config["vocab_size"], config["d_model"]) == (spec["vocab"], spec["d_model"]), name
        assert DlpTokenizer.load(bundle / "tokenizer.model").vocab_size == spec["vocab"], name
        assert sha(bundle / "tokenizer.model") == sha(md(result, "tokenizer", "tokenizer_path")), name
        assert sha(bundle / "calibration.json") == sha(md(result, "calibration", "calibration_path")), name
        weights = torch.load(bundle / "model.pt", map_location="cpu")["model"]
        checkpoint = torch.load(
            md(result, "trained_model", "checkpoint"), map_location="cpu", weights_only=False
        )
        embedding = "embed.weight"
        assert weights[embedding].shape == (spec["vocab"], spec["d_model"]), name
        assert any(torch.equal(weights[embedding], t) for t in _tensors(checkpoint)), name
        provenance = json.loads((bundle / "metrics.json").read_text())["provenance"]
        assert {part: p["run_id"] for part, p in provenance.items()} == dict.fromkeys(provenance, ids[name])
        report = json.loads(Path(md(result, "evaluation_report", "report")).read_text())
        per_split = result.asset_materializations_for_node("examples")[-1].metadata["per_split"].value
        assert report["dataset"]["n"] == per_split["test"] and report["model"]["version"] == bundle_version(
            bundle
        )
    assert md(results["A"], "onnx_model", "bundle") != md(results["B"], "onnx_model", "bundle")


def bundle_version(bundle: Path) -> str:
    return json.loads((bundle / "config.json").read_text())["model_version"]


def _tensors(obj) -> list[torch.Tensor]:
    """Every tensor in a (nested) checkpoint dict."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _tensors(v)]
    return []
