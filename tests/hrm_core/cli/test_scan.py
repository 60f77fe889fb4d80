"""`hrm-dlp scan`: JSONL and text input, one result per line, exit status per --fail-on, bad lines."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from hrm_core.cli import scan as scan_cli
from hrm_core.serve.scanner import Scanner
from tests.hrm_core.serve.scan_fixtures import TINY_MAX_LEN, DigitTaggingEngine, tiny_tokenizer


class DigitLengthPolicy:
    """BLOCK for a 12+ digit run (a card), a warning for any shorter number, else ALLOW."""

    def decide(self, scores: dict, spans: list[dict]) -> tuple[str, list[str]]:
        if any(s["end"] - s["start"] >= 12 for s in spans):
            return "BLOCK", ["card number"]
        return ("ALLOW_WITH_WARNING", ["number"]) if spans else ("ALLOW", [])


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch) -> Path:
    """A bundle dir the CLI accepts; loading it yields the digit-tagging scanner (known decisions)."""
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "config.json").write_text("{}")
    tok = tiny_tokenizer()
    scanner = Scanner(DigitTaggingEngine(tok), tok, DigitLengthPolicy(), max_len=TINY_MAX_LEN)
    loaded: list[tuple[Path, str]] = []

    def from_bundle(cls, bundle_dir, backend="int8", **kwargs):
        loaded.append((Path(bundle_dir), backend))
        return scanner

    monkeypatch.setattr(Scanner, "from_bundle", classmethod(from_bundle))
    monkeypatch.setattr(scan_cli, "LOADED", loaded, raising=False)
    return tmp_path / "bundle"


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--lake", default=None)
    scan_cli.add_scan_arguments(p)
    return p.parse_args(list(argv))


def _run(*argv: str) -> tuple[int, list[dict]]:
    out = io.StringIO()
    code = scan_cli.run_scan(_args(*argv), out=out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


ALLOW = {"id": "a", "body": "see you at lunch"}
WARN = {"id": "w", "body": "room 4242"}
BLOCK = {"id": "b", "body": "card 4111111111111111"}


@pytest.mark.parametrize(
    ("rows", "fail_on", "expected"),
    [
        ([ALLOW, WARN, BLOCK], None, 0),
        ([ALLOW, WARN, BLOCK], "block", 2),
        ([ALLOW, WARN, BLOCK], "warn", 2),
        ([ALLOW, WARN], "block", 0),
        ([ALLOW, WARN], "warn", 1),
        ([ALLOW], "warn", 0),
    ],
)
def test_exit_status_is_the_worst_decision_at_or_above_fail_on(bundle, tmp_path, rows, fail_on, expected):
    path = _jsonl(tmp_path / "in.jsonl", rows)
    code, results = _run("--model", str(bundle), str(path), *(["--fail-on", fail_on] if fail_on else []))
    assert code == expected
    assert [r["id"] for r in results] == [r["id"] for r in rows]


def test_one_result_per_line_in_order_across_batches(bundle, tmp_path):
    rows = [{"id": f"m{i}", "body": f"n {i}{i}{i}{i}"} for i in range(7)]  # a lone PAN needs 4 digits
    code, results = _run(
        "--model", str(bundle), "--batch-size", "3", str(_jsonl(tmp_path / "in.jsonl", rows))
    )
    assert code == 0 and [r["id"] for r in results] == [f"m{i}" for i in range(7)]
    assert results[3]["redacted_body"] == "n [PAN]" and results[3]["decision"] == "ALLOW_WITH_WARNING"
    assert [(bundle, "int8")] == scan_cli.LOADED


def test_stdin_and_training_examples(bundle, monkeypatch):
    example = {
        "id": "e1", "channel": "email", "user": {"role": "HR"}, "body": "SSN 123456789",
        "labels": {"sensitivity": 1}, "spans": [{"type": "SSN", "start": 4, "end": 13}],
        "meta": {"source": "synthetic", "org_domains": ["corp.example"]},
    }  # fmt: skip
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(example) + "\n\n"))
    code, results = _run("--model", str(bundle), "-")
    assert code == 0 and len(results) == 1
    assert [(s["start"], s["end"]) for s in results[0]["spans"]] == [(4, 13)]


def test_text_argument_is_one_message_body(bundle):
    code, results = _run(
        "--model", str(bundle), "--text", "line one\ncard 4111111111111111\n", "--fail-on", "block"
    )
    assert code == 2 and len(results) == 1
    assert results[0]["redacted_body"] == "line one\ncard [PAN]\n"


def test_text_dash_reads_the_body_from_stdin(bundle, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("+ key 4111111111111111\n"))
    code, results = _run("--model", str(bundle), "--text", "-", "--fail-on", "block")
    assert code == 2 and results[0]["redacted_body"] == "+ key [PAN]\n"


def test_text_and_an_input_file_together_is_a_usage_error(bundle, tmp_path, capsys):
    code, results = _run("--model", str(bundle), "--text", "hi", str(tmp_path / "x.jsonl"))
    assert (code, results) == (3, [])
    assert "either --text TEXT or an input FILE" in capsys.readouterr().err


def test_missing_input_file_is_one_line_and_status_3(bundle, tmp_path, capsys):
    code, results = _run("--model", str(bundle), str(tmp_path / "nope.jsonl"))
    assert (code, results) == (3, [])
    err = capsys.readouterr().err
    assert err == f"hrm-dlp scan: no such file: {tmp_path / 'nope.jsonl'}\n"


def test_invalid_lines_get_error_records_and_status_3(bundle, tmp_path, capsys):
    path = _jsonl(
        tmp_path / "in.jsonl",
        [ALLOW, "{not json", {"id": "x", "body": "y", "user": {"role": "PIRATE"}}, WARN],
    )
    code, results = _run("--model", str(bundle), "--fail-on", "warn", str(path))
    assert code == 3
    assert results[0]["id"] == "a" and results[3]["id"] == "w"
    assert results[1]["line"] == 2 and "not JSON" in results[1]["detail"][0]
    assert results[2]["line"] == 3 and results[2]["detail"][0].startswith("user.role:")
    assert "PIRATE" not in capsys.readouterr().err


def test_missing_explicit_bundle_is_status_3(tmp_path, capsys):
    code = scan_cli.run_scan(_args("--model", str(tmp_path / "gone"), "--text", "x"), out=io.StringIO())
    assert code == 3
    assert (
        capsys.readouterr().err
        == f"hrm-dlp: no model bundle at {tmp_path / 'gone'} (no config.json); pass a bundle directory\n"
    )


def test_without_a_champion_the_rules_engine_scans_and_says_so(tmp_path, capsys):
    out = io.StringIO()
    code = scan_cli.run_scan(
        _args("--lake", str(tmp_path / "lake"), "--text", "card 4111 1111 1111 1111 ssn 078-05-1120"), out=out
    )
    result = json.loads(out.getvalue())
    assert code == 0
    assert result["model_version"].startswith("rules-engine")
    assert [(s["type"], s["start"], s["end"]) for s in result["spans"]] == [("PAN", 5, 24), ("SSN", 29, 40)]
    assert result["redacted_body"] == "card [PAN] ssn [SSN]"
    err = capsys.readouterr().err.splitlines()
    assert (
        len(err) == 1
        and str(tmp_path / "lake" / "models" / "champion") in err[0]
        and "rules engine" in err[0]
    )


def test_an_over_long_line_is_skipped_with_a_record_and_the_next_line_scanned(bundle, tmp_path, monkeypatch):
    monkeypatch.setattr(scan_cli, "MAX_LINE_BYTES", 64)
    long_row = {"id": "long", "body": "x" * 500}
    code, results = _run("--model", str(bundle), str(_jsonl(tmp_path / "in.jsonl", [ALLOW, long_row, WARN])))
    assert code == 3
    assert [r.get("id") for r in results] == ["a", None, "w"]
    assert results[1] == {"line": 2, "error": "invalid message", "detail": ["line is longer than 64 bytes"]}


def test_text_dash_with_invalid_utf8_is_scanned_with_a_notice(bundle, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"caf\xe9 card 4111111111111111\n")))
    code, results = _run("--model", str(bundle), "--text", "-", "--fail-on", "block")
    assert code == 2 and results[0]["redacted_body"] == "caf\ufffd card [PAN]\n"
    err = capsys.readouterr().err
    assert err == "hrm-dlp scan: --text is not valid UTF-8; invalid bytes were replaced by U+FFFD\n"


def test_a_damaged_bundle_is_one_line_and_status_3(bundle, monkeypatch, capsys):
    def damaged(cls, bundle_dir, backend="int8", **kwargs):
        raise ValueError("config.json: Expecting value: line 1 column 1 (char 0)")

    monkeypatch.setattr(Scanner, "from_bundle", classmethod(damaged))
    code, results = _run("--model", str(bundle), "--text", "x")
    assert (code, results) == (3, [])
    assert capsys.readouterr().err == (
        "hrm-dlp: cannot load the model bundle: config.json: Expecting value: line 1 column 1 (char 0)\n"
    )


def test_text_takes_the_senders_role_for_the_workflow_veto(bundle):
    # The digit engine's context logit is 0 (0.5); a card number is FINANCE's to send, nobody else's.
    card = ["--model", str(bundle), "--text", "card 4111111111111111", "--channel", "email"]
    (finance,) = _run(*card, "--role", "FINANCE")[1]
    (default,) = _run(*card)[1]
    assert finance["scores"]["context"] == 0.5 and default["scores"]["context"] < 0.01
