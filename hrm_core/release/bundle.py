"""The model bundle: everything a scanner needs, in one directory written atomically.

    model.onnx  model.int8.onnx  tokenizer.model  calibration.json  config.json  policy.yaml
    metrics.json  model_card.md   (+ model.pt when the torch checkpoint is kept)  manifest.json

`write_bundle` builds the bundle in a hidden sibling directory and swaps it in with one rename
(``renameat2(RENAME_EXCHANGE)`` on Linux), so a reader sees the old bundle or the new one, never
half of each, and a crash mid-write leaves the old bundle untouched.

Verified: ``manifest.json`` lists every other file with its size and SHA-256. `read_bundle` (and so
`Scanner.from_bundle`) checks each file against it before anything is loaded; a missing, truncated or
changed file is a `BundleError` of one line naming the file. `model_version` is derived from the
content: 12 hex digits of SHA-256 over the hashes of the files that decide a scan (`VERSIONED_FILES`:
graphs, tokenizer, calibration, policy) and config.json without its own ``model_version``. Same
weights, tokenizer, calibration, policy and config: same version; change one byte of any: a new one.
A bundle written before manifests existed is refused, naming the way out (`seal_bundle`).
The file formats are in docs/model_bundle.md.
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
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "hrm-dlp.manifest/1"
# What decides a scan's answer: a change to any of these (or to config.json) is a new model_version.
# metrics.json and model_card.md describe the model; they are verified but do not version it.
VERSIONED_FILES = (
    "model.onnx", "model.int8.onnx", "model.pt", "tokenizer.model", "calibration.json", "policy.yaml",
)  # fmt: skip
_RENAME_EXCHANGE = 2  # linux/fs.h


class BundleError(ValueError):
    """A bundle directory is missing files, holds a damaged one, or fails its manifest (one line)."""


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


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read a megabyte at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def content_version(hashes: dict[str, str], config: dict[str, Any]) -> str:
    """``model_version``: 12 hex digits of SHA-256 over the `VERSIONED_FILES` hashes and ``config``.

    ``hashes`` maps file name to hex SHA-256 (other names are ignored); ``config`` is config.json's
    object, whose own ``model_version`` key is left out (it holds this value).
    """
    h = hashlib.sha256()
    for name in sorted(n for n in hashes if n in VERSIONED_FILES):
        h.update(f"{name} {hashes[name]}\n".encode())
    rest = _json_safe({k: v for k, v in config.items() if k != "model_version"})  # as written
    h.update(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode())
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
        (tmp / "policy.yaml").write_text(policy_text)
        config = {
            "format": BUNDLE_FORMAT,
            "model": cfg,
            "onnx": {
                "opset": OPSET,
                "inputs": [i for i in ONNX_INPUTS if i != "candidate_ids" or cfg.get("use_candidates")],
                "outputs": list(ONNX_OUTPUTS),
                "dynamic_axes": {k: list(v.values()) for k, v in DYNAMIC_AXES.items()},
            },
        }
        hashes = {p.name: file_sha256(p) for p in tmp.iterdir() if p.name in VERSIONED_FILES}
        version = content_version(hashes, config)
        _write_json(tmp / "config.json", {"model_version": version, **config})
        _write_json(tmp / "metrics.json", metrics)
        (tmp / "model_card.md").write_text(render_model_card(version, model_config, calibration, metrics))
        _write_manifest(tmp, version)
        _fsync_tree(tmp)
        _swap_in(tmp, out_dir)
    finally:
        if tmp.exists():  # failed before the swap, or holds the previous bundle after it
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def read_bundle(path: Path) -> Bundle:
    """Load a bundle directory after `verify_bundle`; every problem is a one-line `BundleError`."""
    path = Path(path)
    version = verify_bundle(path)
    config = _read_json(path, "config.json")
    metrics = _read_json(path, "metrics.json")
    try:
        calibration = TemperatureCalibrator.load(path / "calibration.json")
    except (ValueError, KeyError, TypeError) as e:  # bad JSON, a missing key, a wrong type
        raise BundleError(f"{path / 'calibration.json'}: cannot load: {_one_line(e)}") from e
    try:
        policy = parse_policy((path / "policy.yaml").read_text())
    except ValueError as e:  # PolicyError
        raise BundleError(f"{path / 'policy.yaml'}: {_one_line(e)}") from e
    try:
        model_config = ModelConfig.from_dict(config["model"])
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(f"{path / 'config.json'}: no valid model config: {_one_line(e)}") from e
    return Bundle(
        path=path,
        model_version=version,
        model_config=model_config,
        config=config,
        calibration=calibration,
        policy=policy,
        metrics=metrics,
    )


def verify_bundle(path: Path) -> str:
    """Check `path` against its manifest and return its ``model_version``; else one-line `BundleError`.

    Checked: the directory and manifest.json exist and parse; every bundle file is listed and present
    with the listed size and SHA-256; config.json is this format; its ``model_version`` (and the
    manifest's) is the one `content_version` derives from the files.
    """
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"{path}: not a model bundle directory")
    if not (path / MANIFEST).is_file():
        if (path / "config.json").is_file():
            raise BundleError(
                f"{path}: no {MANIFEST}: the bundle was written before bundles were verified; write it "
                f"again (re-run the release) or, if its files are known to be intact, seal it with "
                f"hrm_core.release.bundle.seal_bundle"
            )
        raise BundleError(f"{path}: missing {MANIFEST} and config.json: not a model bundle")
    manifest = _read_json(path, MANIFEST)
    files = manifest.get("files")
    if manifest.get("format") != MANIFEST_FORMAT or not isinstance(files, dict):
        raise BundleError(f"{path / MANIFEST}: not a {MANIFEST_FORMAT} manifest")
    unlisted = [n for n in BUNDLE_FILES if n not in files]
    if unlisted:
        raise BundleError(f"{path / MANIFEST}: does not list {', '.join(unlisted)}")
    hashes: dict[str, str] = {}
    for name, entry in sorted(files.items()):
        f = path / name
        if "/" in name or name.startswith(".") or not isinstance(entry, dict):
            raise BundleError(f"{path / MANIFEST}: bad entry {name!r}")
        if not f.is_file():
            raise BundleError(f"{f}: missing (listed in {MANIFEST})")
        size = f.stat().st_size
        if size != entry.get("bytes"):
            raise BundleError(
                f"{f}: {size} bytes, {MANIFEST} says {entry.get('bytes')} (truncated or replaced)"
            )
        hashes[name] = file_sha256(f)
        if hashes[name] != entry.get("sha256"):
            raise BundleError(f"{f}: content differs from {MANIFEST} (sha256 {hashes[name][:12]}...)")
    config = _read_json(path, "config.json")
    if config.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path / 'config.json'}: format {config.get('format')!r} is not {BUNDLE_FORMAT}")
    version = content_version(hashes, config)
    for where, claimed in (
        ("config.json", config.get("model_version")),
        (MANIFEST, manifest.get("model_version")),
    ):
        if claimed != version:
            raise BundleError(f"{path / where}: model_version {claimed!r} is not the content's {version!r}")
    return version


def seal_bundle(path: Path) -> str:
    """Write manifest.json for a bundle that has none (written before manifests); returns its version.

    For a bundle whose files are known to be intact: it checks that they parse, sets config.json's
    ``model_version`` (and the model card's) to the content-derived one, and lists every file. A bundle
    that already has a manifest is verified instead, and left as it is.
    """
    path = Path(path)
    if (path / MANIFEST).is_file():
        return verify_bundle(path)
    missing = [name for name in BUNDLE_FILES if not (path / name).is_file()]
    if missing:
        raise BundleError(f"{path}: missing {', '.join(missing)}")
    config = _read_json(path, "config.json")
    _read_json(path, "metrics.json")
    try:
        TemperatureCalibrator.load(path / "calibration.json")
        parse_policy((path / "policy.yaml").read_text())
    except ValueError as e:
        raise BundleError(f"{path}: {_one_line(e)}") from e
    old = str(config.get("model_version") or "")
    hashes = {p.name: file_sha256(p) for p in path.iterdir() if p.name in VERSIONED_FILES}
    version = content_version(hashes, config)
    _write_json(path / "config.json", {**config, "format": BUNDLE_FORMAT, "model_version": version})
    card = path / "model_card.md"
    if old:
        card.write_text(card.read_text().replace(f"`{old}`", f"`{version}`"))
    _write_manifest(path, version)
    return version


def _write_manifest(d: Path, version: str) -> None:
    files = {
        p.name: {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
        for p in sorted(d.iterdir())
        if p.is_file() and p.name != MANIFEST
    }
    manifest = {"format": MANIFEST_FORMAT, "model_version": version, "files": files}
    (d / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _read_json(path: Path, name: str) -> dict[str, Any]:
    try:
        obj = json.loads((path / name).read_text())
    except FileNotFoundError:
        raise BundleError(f"{path / name}: missing") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise BundleError(f"{path / name}: not valid JSON ({_one_line(e)})") from e
    if not isinstance(obj, dict):
        raise BundleError(f"{path / name}: not a JSON object")
    return obj


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


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
