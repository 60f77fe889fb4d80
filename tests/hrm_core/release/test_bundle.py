import json
import re

import numpy as np
import pytest

import hrm_core.release.bundle as bundle_mod
from hrm_core.model.hrm import ModelConfig
from hrm_core.release.bundle import (
    BUNDLE_FILES,
    MANIFEST,
    BundleError,
    content_version,
    file_sha256,
    read_bundle,
    seal_bundle,
    verify_bundle,
    write_bundle,
)
from hrm_core.release.calibration import TemperatureCalibrator

CFG = ModelConfig.preset("cpu-small", vocab_size=200, d_model=32, n_heads=2)
METRICS = {
    "training_data": {"n_train": 800, "n_val": 100},
    "validation": {"split": "val", "checkpoint": "best.pt", "epoch": 2, "step": 300, "weights": "EMA"},
    "doc": {"sensitivity": {"auprc": 0.91, "fp_at_95_recall": 0.12, "accuracy": 0.8}},
    "spans_token": {"micro": {"precision": 0.7, "recall": 0.6, "f1": 0.646}, "per_type": {"PAN": {"precision": 1.0, "recall": 0.9, "f1": 0.947}}},
    "evaluation": {"dataset": {"name": "synthetic-test", "n": 40}, "model": {"spans": {"exact": {"micro": {"precision": 0.5, "recall": 0.5, "f1": 0.5}}}}},
    "parity": {"n_examples": 200, "max_abs_logit_diff": 3e-7, "tol": 1e-4},
    "int8": {"heads": {"sensitivity": {"delta": -0.0012}}},
    "never_reached": float("inf"),
}  # fmt: skip


@pytest.fixture
def sources(tmp_path):
    """Stand-in artefacts: the bundle copies bytes, so real ONNX graphs are not needed here."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "model.onnx").write_bytes(b"fp32-graph")
    (src / "model.int8.onnx").write_bytes(b"int8-graph")
    (src / "tokenizer.model").write_bytes(b"spm")
    rng = np.random.default_rng(0)
    z = rng.normal(size=(400, 4)) * 2
    y = (rng.random((400, 4)) < 1 / (1 + np.exp(-z / 2))).astype(float)
    cal = TemperatureCalibrator().fit(z, y)
    return dict(
        onnx_fp32=src / "model.onnx",
        onnx_int8=src / "model.int8.onnx",
        tokenizer_model=src / "tokenizer.model",
        calibration=cal,
        model_config=CFG,
        policy_yaml_text=None,
        metrics=METRICS,
    )


def test_round_trip(tmp_path, sources):
    out = write_bundle(tmp_path / "models" / "challenger", **sources)
    assert sorted(p.name for p in out.iterdir()) == sorted([*BUNDLE_FILES, MANIFEST])
    b = read_bundle(out)
    assert b.model_config == CFG
    np.testing.assert_array_equal(b.calibration.temperatures, sources["calibration"].temperatures)
    assert (
        b.policy.decide({"sensitivity": 0.1, "exposure": 0.1, "context": 0.5, "obfuscation": 0}, [])[0]
        == "ALLOW"
    )
    assert b.metrics["never_reached"] is None  # inf is written as null, valid JSON
    assert b.onnx_int8.read_bytes() == b"int8-graph"
    assert b.config["onnx"]["opset"] == 17 and b.config["onnx"]["outputs"][0] == "doc_logits"
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["challenger"]  # no temp dir left


def test_model_version_is_a_content_hash(tmp_path, sources):
    out = write_bundle(tmp_path / "a", **sources)
    v1 = read_bundle(out).model_version
    hashes = {p.name: file_sha256(p) for p in out.iterdir()}
    config = json.loads((out / "config.json").read_text())
    assert len(v1) == 12 and v1 == content_version(hashes, config) == config["model_version"]
    assert json.loads((out / MANIFEST).read_text())["model_version"] == v1
    assert read_bundle(write_bundle(tmp_path / "b", **sources)).model_version == v1
    # What describes the model does not version it; what decides a scan does.
    assert read_bundle(write_bundle(tmp_path / "m", **{**sources, "metrics": {"run": 2}})).model_version == v1
    other_cfg = {**sources, "model_config": CFG.with_(H_cycles=3)}
    assert read_bundle(write_bundle(tmp_path / "c", **other_cfg)).model_version != v1
    other_policy = {**sources, "policy_yaml_text": (out / "policy.yaml").read_text() + "\n# reviewed\n"}
    assert read_bundle(write_bundle(tmp_path / "p", **other_policy)).model_version != v1
    sources["onnx_fp32"].write_bytes(b"retrained")
    assert read_bundle(write_bundle(tmp_path / "d", **sources)).model_version != v1


def _one_byte_changed(text: str) -> str:
    """config.json with ``"max_len": 512`` made 612: one byte, and a scanner reading it windows differently."""
    assert '"max_len": 512' in text
    return text.replace('"max_len": 512', '"max_len": 612')


@pytest.mark.parametrize(
    ("damage", "named", "reason"),
    [
        (lambda d: (d / "config.json").write_text(_one_byte_changed((d / "config.json").read_text())),
         "config.json", "differs from manifest.json"),
        (lambda d: (d / "model.int8.onnx").write_bytes((d / "model.int8.onnx").read_bytes()[:-3]),
         "model.int8.onnx", "truncated"),
        (lambda d: (d / "tokenizer.model").unlink(), "tokenizer.model", "missing"),
        (lambda d: (d / "calibration.json").write_text("{not json"), "calibration.json", "truncated or replaced"),
        (lambda d: (d / MANIFEST).write_text('{"format": '), MANIFEST, "not valid JSON"),
    ],
    ids=["config-one-byte", "truncated-onnx", "missing-tokenizer", "broken-json", "broken-manifest"],
)  # fmt: skip
def test_a_damaged_bundle_is_one_line_naming_the_file(tmp_path, sources, damage, named, reason):
    out = write_bundle(tmp_path / "b", **sources)
    damage(out)
    with pytest.raises(BundleError) as err:
        read_bundle(out)
    message = str(err.value)
    assert "\n" not in message and str(out / named) in message and reason in message


def test_a_consistent_edit_of_config_and_manifest_still_fails_on_the_version(tmp_path, sources):
    out = write_bundle(tmp_path / "b", **sources)
    (out / "config.json").write_text(_one_byte_changed((out / "config.json").read_text()))
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"]["config.json"] = {
        "bytes": (out / "config.json").stat().st_size,
        "sha256": file_sha256(out / "config.json"),
    }
    (out / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"config.json: model_version '\w{12}' is not the content's"):
        verify_bundle(out)


def test_a_bundle_without_manifest_is_refused_until_sealed(tmp_path, sources):
    out = write_bundle(tmp_path / "b", **sources)
    version = read_bundle(out).model_version
    (out / MANIFEST).unlink()  # what a bundle written before manifests looks like
    with pytest.raises(BundleError, match=r"no manifest\.json: the bundle was written before .*seal_bundle"):
        read_bundle(out)
    assert seal_bundle(out) == version  # nothing else changed: the same content, the same version
    assert read_bundle(out).model_version == version and f"`{version}`" in (out / "model_card.md").read_text()


def test_model_card_carries_the_real_numbers(tmp_path, sources):
    card = (write_bundle(tmp_path / "m", **sources) / "model_card.md").read_text()
    version = read_bundle(tmp_path / "m").model_version
    assert f"version `{version}`" in card
    assert (
        "### Document heads (validation split `val`, checkpoint `best.pt` (epoch 2, step 300), EMA weights)"
        in card
    )
    assert "| sensitivity | 0.910 | 0.120 | 0.800 |" in card
    assert "| PAN | 1.000 | 0.900 | 0.947 |" in card and "| exact | micro | 0.500 | 0.500 | 0.500 |" in card
    t = sources["calibration"].per_head["exposure"].temperature
    assert f"| exposure | {t:.3f} |" in card
    assert "max |logit diff| 0.0000003" in card and "sensitivity -0.0012" in card
    for section in ("## Intended use", "## Training data", "## Limitations"):
        assert section in card
    empty = (write_bundle(tmp_path / "e", **{**sources, "metrics": {}}) / "model_card.md").read_text()
    assert "split and checkpoint not recorded" in empty and "No parity figures recorded" in empty
    assert "Not measured." not in empty


def test_existing_bundle_is_replaced(tmp_path, sources):
    out = write_bundle(tmp_path / "champion", **sources)
    inode = (out / "metrics.json").stat().st_ino
    new = write_bundle(out, **{**sources, "metrics": {"doc": {}, "run": 2}})
    assert read_bundle(new).metrics["run"] == 2 and (new / "metrics.json").stat().st_ino != inode
    assert [p.name for p in tmp_path.iterdir() if p.name != "src"] == ["champion"]


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_crash_mid_write_leaves_the_old_bundle_intact(tmp_path, sources, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(bundle_mod, "_rename_exchange", lambda a, b: False)
    out = write_bundle(tmp_path / "champion", **sources)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(bundle_mod, "render_model_card", crash)  # after most files are written
    sources["onnx_fp32"].write_bytes(b"new-weights")
    with pytest.raises(OSError, match="disk full"):
        write_bundle(out, **sources)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name != "src"] == ["champion"]
    monkeypatch.undo()
    if not exchange:  # the fallback path also replaces a bundle completely
        monkeypatch.setattr(bundle_mod, "_rename_exchange", lambda a, b: False)
    assert read_bundle(write_bundle(out, **sources)).onnx_fp32.read_bytes() == b"new-weights"


def test_bad_policy_never_ships(tmp_path, sources):
    with pytest.raises(ValueError, match="decision"):
        write_bundle(
            tmp_path / "x", **{**sources, "policy_yaml_text": "rules: [{decision: NOPE, reason: r}]"}
        )
    assert not (tmp_path / "x").exists()


def test_read_bundle_reports_missing_and_broken_files(tmp_path, sources):
    out = write_bundle(tmp_path / "b", **sources)
    (out / "model.int8.onnx").unlink()
    with pytest.raises(BundleError, match=re.escape(f"{out / 'model.int8.onnx'}: missing")):
        read_bundle(out)
    out = write_bundle(tmp_path / "c", **sources)
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "format": "other"}))
    seal_bundle_again = json.loads((out / MANIFEST).read_text())
    seal_bundle_again["files"]["config.json"] = {
        "bytes": (out / "config.json").stat().st_size,
        "sha256": file_sha256(out / "config.json"),
    }
    (out / MANIFEST).write_text(json.dumps(seal_bundle_again))
    with pytest.raises(BundleError, match="format 'other' is not"):
        read_bundle(out)
    with pytest.raises(BundleError, match="not a model bundle"):
        read_bundle(tmp_path / "nowhere")
