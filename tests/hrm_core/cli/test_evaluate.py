"""`hrm-dlp evaluate` end to end on a tiny real bundle (int8 ONNX) and a tiny native JSONL."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from hrm_core.cli.evaluate import EXIT_BAD_INPUT, EXIT_NO_MODEL, add_evaluate_arguments, run_evaluate
from tests.hrm_core.serve.scan_fixtures import build_tiny_bundle


def _run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    """Run the command; returns its status, the JSON it printed and its stderr."""
    parser = argparse.ArgumentParser(prog="hrm-dlp evaluate")
    parser.add_argument("--lake", default=None)  # the main parser adds it to every command
    add_evaluate_arguments(parser)
    code = run_evaluate(parser.parse_args(argv))
    captured = capsys.readouterr()
    out = captured.out.strip()
    return code, (json.loads(out) if out else None), captured.err


def _row(i: int, body: str, sensitivity: int | None, spans=()) -> dict:
    return {
        "id": f"n{i}",
        "thread_id": "t1" if i < 2 else None,  # a thread: scanned in order with its memory
        "channel": "email",
        "user": {"role": "FINANCE", "dept": "AP", "seniority": "MID"},
        "recipients": ["ops@corp.example"],
        "subject": "Invoice",
        "body": body,
        "labels": {"sensitivity": sensitivity, "exposure": None, "context": None, "obfuscation": None},
        "spans": [{"type": t, "start": s, "end": e} for t, s, e in spans],
        "meta": {"org_domains": ["corp.example"], "annotated_types": ["PAN", "EMAIL"], "source": "test"},
    }


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_tiny_bundle(tmp_path_factory.mktemp("bundle") / "champion")


@pytest.fixture
def data(tmp_path) -> Path:
    rows = [
        _row(0, "Card 4111 1111 1111 1111 for the order.", 1, [("PAN", 5, 24)]),
        _row(1, "Thanks, see you at the meeting.", 0),
        _row(2, "Reach me at jo@corp.example today.", 1, [("EMAIL", 12, 27)]),
        _row(3, "The printer works again.", 0),
    ]
    path = tmp_path / "tiny-native.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json}\n")
    return path


def test_evaluate_writes_the_report_under_the_lake_and_prints_headlines(bundle, data, tmp_path, capsys):
    lake = tmp_path / "lake"
    code, head, _ = _run(
        capsys, "--lake", str(lake), "--model", str(bundle), "--data", str(data), "--stability-n", "2"
    )
    assert code == 0
    out = lake / "reports" / "tiny-native" / "evaluation.json"
    report = json.loads(out.read_text())
    assert report["dataset"] == {
        "name": "tiny-native.jsonl",
        "n": 4,
        "path": str(data),
        "format": "native",
        "rows": 5,
        "rejected": 1,
    }
    # Only sensitivity is labeled; only PAN and EMAIL are annotated.
    assert set(report["model"]["doc"]) == set(report["baseline_regex"]["doc"]) == {"sensitivity"}
    assert set(report["model"]["spans"]["overlap"]["per_type"]) == {"PAN", "EMAIL"}
    # The regex baseline finds the Luhn-valid card and the e-mail address exactly.
    assert report["baseline_regex"]["spans"]["exact"]["micro"]["recall"] == 1.0
    assert report["model"]["threshold_source"].startswith("validation")
    assert report["model"]["version"] == json.loads((bundle / "config.json").read_text())["model_version"]
    assert report["model"]["stability"]["n"] == 2
    assert 0.0 <= report["model"]["stability"]["decision_consistency"] <= 1.0
    assert head["dataset"]["n"] == 4 and set(head["model"]["doc"]) == {"sensitivity"}
    assert (
        head["baseline_regex"]["span_micro_f1"]["exact"]
        == report["baseline_regex"]["spans"]["exact"]["micro"]["f1"]
    )
    assert Path(head["files"]["markdown"]).read_text().startswith("# Evaluation: tiny-native.jsonl")
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "evaluation.json",
        "evaluation.md",
        "evaluation_pr_curves.png",
        "evaluation_span_f1.png",
    ]


def test_evaluate_default_model_is_the_lake_champion_and_out_is_honoured(bundle, data, tmp_path, capsys):
    lake = bundle.parent  # .../champion is not under <lake>/models: the default must not find it
    code, _, err = _run(capsys, "--lake", str(lake), "--data", str(data))
    assert "no model bundle" in err
    assert code == EXIT_NO_MODEL
    (tmp_path / "lake" / "models").mkdir(parents=True)
    (tmp_path / "lake" / "models" / "champion").symlink_to(bundle)
    out = tmp_path / "custom" / "presidio.json"
    code, head, _ = _run(
        capsys, "--lake", str(tmp_path / "lake"), "--data", str(data), "--backend", "torch",
        "--out", str(out), "--stability-n", "0", "--name", "tiny",
    )  # fmt: skip
    assert code == 0 and head["dataset"]["name"] == "tiny"
    assert json.loads(out.read_text())["model"]["stability"] == {}
    assert (tmp_path / "custom" / "presidio.md").is_file()


def test_bad_inputs_exit_with_status_3(bundle, tmp_path, capsys):
    code, _, err = _run(capsys, "--model", str(bundle), "--data", str(tmp_path / "missing.jsonl"))
    assert code == EXIT_BAD_INPUT and "no such file" in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("{}\n")
    code, out, err = _run(capsys, "--model", str(bundle), "--data", str(empty))
    assert code == EXIT_BAD_INPUT and out is None
    assert "no valid examples" in err and "1 rows read" in err
