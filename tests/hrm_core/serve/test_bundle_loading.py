"""Verified bundles at load: `Scanner.from_bundle` checks the manifest, so a damaged bundle is one line
naming the file (the CLI's status 3), never a traceback or silently different scores."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hrm_core.cli import main as cli
from hrm_core.release.bundle import MANIFEST, BundleError
from hrm_core.serve.scanner import Scanner
from tests.hrm_core.serve.scan_fixtures import build_tiny_bundle

MESSAGE = {"body": "Card 4111 1111 1111 1111 to x@gmail.example"}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bundle(tmp_path_factory.mktemp("bundles") / "tiny")


@pytest.fixture
def bundle(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "bundle"))


def _change_one_byte_of_config(d: Path) -> None:
    # max_len 64 -> 60: one byte, and a scanner reading it cuts other windows (other scores).
    text = (d / "config.json").read_text()
    assert text.count('"max_len": 64') == 1
    (d / "config.json").write_text(text.replace('"max_len": 64', '"max_len": 60'))


DAMAGE = {
    "config-one-byte": (_change_one_byte_of_config, "config.json"),
    "truncated-onnx": (lambda d: (d / "model.int8.onnx").write_bytes((d / "model.int8.onnx").read_bytes()[:4096]), "model.int8.onnx"),
    "missing-tokenizer": (lambda d: (d / "tokenizer.model").unlink(), "tokenizer.model"),
    "broken-json": (lambda d: (d / "calibration.json").write_text((d / "calibration.json").read_text()[:-2]), "calibration.json"),
    "no-manifest": (lambda d: (d / MANIFEST).unlink(), MANIFEST),
}  # fmt: skip


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_bundle_is_one_line_naming_the_file_and_status_3(bundle, damage, capsys):
    tamper, named = DAMAGE[damage]
    tamper(bundle)
    with pytest.raises(BundleError) as err:
        Scanner.from_bundle(bundle)
    assert named in str(err.value) and "\n" not in str(err.value)
    assert cli.main(["scan", "--model", str(bundle), "--text", MESSAGE["body"]]) == 3
    out, stderr = capsys.readouterr()
    assert out == "" and len(stderr.splitlines()) == 1 and named in stderr, stderr
    assert stderr.startswith("hrm-dlp: cannot load the model bundle: ")


def test_the_version_served_is_the_content_and_an_intact_copy_scores_the_same(pristine, bundle):
    a, b = Scanner.from_bundle(pristine).scan(MESSAGE), Scanner.from_bundle(bundle).scan(MESSAGE)
    version = json.loads((pristine / "config.json").read_text())["model_version"]
    assert a["model_version"] == b["model_version"] == version and len(version) == 12
    assert a["scores"] == b["scores"]


def test_serve_refuses_a_damaged_bundle_in_one_line(bundle):
    (bundle / "model.int8.onnx").write_bytes(b"\0" * 10)
    proc = subprocess.run(
        [sys.executable, "-m", "hrm_core.cli.main", "serve", "--model", str(bundle), "--port", "0"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 3 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "model.int8.onnx" in proc.stderr and "truncated or replaced" in proc.stderr


def test_int8_answers_do_not_depend_on_the_batch_or_the_parallel_runs(pristine):
    from hrm_core.serve.scanner import OnnxEngine

    long = {"body": "Card 4111 1111 1111 1111, call 555 0100. " * 40}
    others = [{"body": "hi"}, {"body": "x" * 300, "subject": "IBAN"}]
    scanner = Scanner.from_bundle(pristine)  # parallel single-threaded runs, one window at a time
    alone = scanner.scan(long)
    batched = scanner.scan_batch([others[0], long, others[1]])[1]
    assert alone["scores"] == batched["scores"] and alone["spans"] == batched["spans"]
    serial = Scanner.from_bundle(pristine)
    serial.engine = OnnxEngine(str(pristine / "model.int8.onnx"), parallel=1)
    assert serial.scan(long)["scores"] == alone["scores"]
