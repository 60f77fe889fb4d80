"""The model bundle: everything a scanner needs, in one directory written atomically.

    model.onnx  model.int8.onnx  tokenizer.model  calibration.json  config.json  policy.yaml
    metrics.json  model_card.md   (+ model.pt when the torch checkpoint is kept)

`write_bundle` builds the bundle in a hidden sibling directory and swaps it in with one rename
(``renameat2(RENAME_EXCHANGE)`` on Linux), so a reader sees the old bundle or the new one, never
half of each, and a crash mid-write leaves the old bundle untouched. `read_bundle` checks every file.
`model_version` is a short hash of the fp32 ONNX bytes and the model config: same weights and
config, same version. The file formats are in docs/model_bundle.md.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import math
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hrm_core.model.hrm import ModelConfig
from hrm_core.release.calibration import TemperatureCalibrator
from hrm_core.release.export import DYNAMIC_AXES, ONNX_INPUTS, ONNX_OUTPUTS, OPSET
from hrm_core.release.model_card import render_model_card
from hrm_core.release.policy import Policy, default_policy_text, parse_policy

BUNDLE_FILES = (
    "model.onnx", "model.int8.onnx", "tokenizer.model", "calibration.json", "config.json",
    "policy.yaml", "metrics.json", "model_card.md",
)  # fmt: skip
BUNDLE_FORMAT = "hrm-dlp.bundle/1"
_RENAME_EXCHANGE = 2  # linux/fs.h


class BundleError(ValueError):
    """A bundle directory is missing files or holds an unreadable one."""


@dataclass
class Bundle:
    """A model bundle read from disk."""

    path: Path
    model_version: str
    model_config: ModelConfig
    config: dict[str, Any]
    calibration: TemperatureCalibrator
    policy: Policy
    metrics: dict[str, Any]

    @property
    def onnx_fp32(self) -> Path:
        return self.path / "model.onnx"

    @property
    def onnx_int8(self) -> Path:
        return self.path / "model.int8.onnx"

    @property
    def tokenizer_model(self) -> Path:
        return self.path / "tokenizer.model"


def model_version(onnx_fp32: Path, model_config: dict[str, Any]) -> str:
    """12 hex digits of sha256 over the fp32 graph and the canonical config JSON."""
    h = hashlib.sha256()
    with open(onnx_fp32, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    h.update(json.dumps(model_config, sort_keys=True).encode())
    return h.hexdigest()[:12]


def write_bundle(
    out_dir: Path,
    *,
    onnx_fp32: Path,
    onnx_int8: Path,
    tokenizer_model: Path,
    calibration: TemperatureCalibrator,
    model_config: ModelConfig,
    policy_yaml_text: str | None,
    metrics: dict[str, Any],
    torch_checkpoint: Path | None = None,
) -> Path:
    """Write (or atomically replace) the bundle at `out_dir`; returns `out_dir`.

    `policy_yaml_text` None ships the default policy; it is parsed first so a bad policy never
    ships. `metrics` is written to metrics.json and rendered into the model card (the keys it reads are
    in `hrm_core.release.model_card`: the shipped checkpoint's validation figures with their provenance,
    `checkpoint_metrics(best_checkpoint)`, and optionally an evaluation report under "evaluation").
    """
    out_dir = Path(out_dir)
    policy_text = policy_yaml_text if policy_yaml_text is not None else default_policy_text()
    parse_policy(policy_text)
    cfg = model_config.to_dict()
    version = model_version(onnx_fp32, cfg)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        shutil.copyfile(onnx_fp32, tmp / "model.onnx")
        shutil.copyfile(onnx_int8, tmp / "model.int8.onnx")
        shutil.copyfile(tokenizer_model, tmp / "tokenizer.model")
        if torch_checkpoint is not None:
            shutil.copyfile(torch_checkpoint, tmp / "model.pt")
        calibration.save(tmp / "calibration.json")
        config = {
            "format": BUNDLE_FORMAT,
            "model_version": version,
            "model": cfg,
            "onnx": {
                "opset": OPSET,
                "inputs": list(ONNX_INPUTS),
                "outputs": list(ONNX_OUTPUTS),
                "dynamic_axes": {k: list(v.values()) for k, v in DYNAMIC_AXES.items()},
            },
        }
        _write_json(tmp / "config.json", config)
        (tmp / "policy.yaml").write_text(policy_text)
        _write_json(tmp / "metrics.json", metrics)
        (tmp / "model_card.md").write_text(render_model_card(version, model_config, calibration, metrics))
        _fsync_tree(tmp)
        _swap_in(tmp, out_dir)
    finally:
        if tmp.exists():  # failed before the swap, or holds the previous bundle after it
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def read_bundle(path: Path) -> Bundle:
    """Load a bundle directory, checking that every file is present and parses."""
    path = Path(path)
    missing = [name for name in BUNDLE_FILES if not (path / name).is_file()]
    if missing:
        raise BundleError(f"{path}: missing {', '.join(missing)}")
    try:
        config = json.loads((path / "config.json").read_text())
        calibration = TemperatureCalibrator.load(path / "calibration.json")
        policy = parse_policy((path / "policy.yaml").read_text())
        metrics = json.loads((path / "metrics.json").read_text())
    except ValueError as e:  # JSONDecodeError, PolicyError and bad calibration are all ValueErrors
        raise BundleError(f"{path}: {e}") from e
    if config.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path}: config.json format {config.get('format')!r} is not {BUNDLE_FORMAT}")
    return Bundle(
        path=path,
        model_version=config["model_version"],
        model_config=ModelConfig.from_dict(config["model"]),
        config=config,
        calibration=calibration,
        policy=policy,
        metrics=metrics,
    )


def _write_json(path: Path, obj: Any) -> None:
    # NaN / inf are not JSON: write null so any reader (duckdb, jq, JS) can load the file.
    path.write_text(json.dumps(_json_safe(obj), indent=2, sort_keys=False) + "\n")


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def _fsync_tree(d: Path) -> None:
    """Flush the files and the directory so the rename never exposes empty files after a power cut."""
    for p in d.iterdir():
        with open(p, "rb") as f:
            os.fsync(f.fileno())
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap_in(new: Path, target: Path) -> None:
    """Make `new` become `target` atomically; afterwards `new` holds the old bundle (if there was one)."""
    if not target.exists():
        os.rename(new, target)
        return
    if _rename_exchange(new, target):
        return
    # No RENAME_EXCHANGE (not Linux, or a filesystem without it): two renames, old kept until the end.
    old = new.with_name(new.name + "-old")
    os.rename(target, old)
    os.rename(new, target)
    os.rename(old, new)


def _rename_exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0
