"""User mistakes through the real `hrm-dlp` entry point in a subprocess: one line on stderr, no traceback,
exit status 3 (never 1 or 2, which are `scan --fail-on`'s); an unexpected failure is 4; bad lines in
`scan` become error records and the rest is scanned.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hrm_core.cli import main as cli_main

CLI = [sys.executable, "-m", "hrm_core.cli.main"]
CARD = "card 4111 1111 1111 1111"
RULES_NOTICE = "no champion model"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "HRM_DLP_LAKE": str(tmp_path / "data_lake")}
    env.pop("HRM_DLP_DEBUG", None)
    return env


def hrm_dlp(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *argv], capture_output=True, text=True, env=env, timeout=120, check=False)


def assert_one_line(proc: subprocess.CompletedProcess, status: int, *words: str) -> None:
    """Exit `status`, nothing on stdout, and (besides the rules-engine notice) one line naming the fault."""
    lines = [line for line in proc.stderr.splitlines() if RULES_NOTICE not in line]
    assert proc.returncode == status, proc.stderr
    assert proc.stdout == ""
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("hrm-dlp"), lines[0]
    for word in words:
        assert word in lines[0], lines[0]


def test_scan_missing_file_and_directory(env, tmp_path):
    assert_one_line(hrm_dlp(env, "scan", str(tmp_path / "nope.jsonl")), 3, "no such file", "nope.jsonl")
    assert_one_line(hrm_dlp(env, "scan", str(tmp_path)), 3, "not a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file; the directory case covers it")
def test_scan_unreadable_file(env, tmp_path):
    path = tmp_path / "secret.jsonl"
    path.write_text(json.dumps({"body": "x"}) + "\n")
    path.chmod(0)
    assert_one_line(hrm_dlp(env, "scan", str(path)), 3, "cannot read", "ermission denied")


def test_scan_non_utf8_line_is_an_error_record_and_the_rest_is_scanned(env, tmp_path):
    path = tmp_path / "mixed.jsonl"
    good = json.dumps({"id": "a", "body": CARD}).encode()
    path.write_bytes(
        good + b"\n" + b'{"id": "b", "body": "caf\xe9"}\n' + good.replace(b'"a"', b'"c"') + b"\n"
    )
    proc = hrm_dlp(env, "scan", "--fail-on", "warn", str(path))
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r.get("id") for r in records] == ["a", None, "c"]
    assert records[1] == {
        "line": 2,
        "error": "invalid message",
        "detail": ["line is not valid UTF-8 (byte 0xe9 at offset 24)"],
    }
    assert records[0]["spans"][0]["type"] == "PAN" and records[2]["spans"][0]["type"] == "PAN"
    assert "some lines were not valid messages" in proc.stderr


def test_scan_binary_file_gives_error_records_not_a_traceback(env, tmp_path):
    path = tmp_path / "image.jsonl"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\n" + bytes(range(256)))
    proc = hrm_dlp(env, "scan", str(path))
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5]  # split on the bytes' own newlines
    assert all(r["error"] == "invalid message" for r in records)
    assert "not valid UTF-8 (byte 0x89 at offset 0)" in records[0]["detail"][0]
    assert "not JSON" in records[1]["detail"][0]  # b"\x1a" decodes; it just is not JSON


def test_ingest_missing_file_and_directory(env, tmp_path):
    assert_one_line(hrm_dlp(env, "ingest", str(tmp_path / "gone.jsonl")), 3, "no such file")
    assert_one_line(hrm_dlp(env, "ingest", str(tmp_path)), 3, "not a file")


def test_query_bad_lake_and_bad_sql(env, tmp_path):
    missing = tmp_path / "no_lake_here"
    assert_one_line(hrm_dlp(env, "query", "--lake", str(missing), "SELECT 1"), 3, "no lake at")
    assert not missing.exists()  # a query creates nothing
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    assert_one_line(hrm_dlp(env, "query", "--lake", str(a_file), "SELECT 1"), 3, "no lake at")
    lake = tmp_path / "lake"
    (lake / "parquet").mkdir(parents=True)
    proc = hrm_dlp(env, "query", "--lake", str(lake), "SELECT count(*) AS n FROM examples")
    assert (proc.returncode, json.loads(proc.stdout)) == (0, [{"n": 0}])
    assert_one_line(hrm_dlp(env, "query", "--lake", str(lake), "SELEC nonsense"), 3, "syntax error")
    assert_one_line(hrm_dlp(env, "query", "--lake", str(lake), "SELECT * FROM nope"), 3, "nope")


def test_evaluate_missing_data(env, tmp_path):
    assert_one_line(hrm_dlp(env, "evaluate", "--data", str(tmp_path / "gone.jsonl")), 3, "no such file")
    # The flag itself missing is a usage mistake: argparse's 2 would read as "blocked".
    assert_one_line(hrm_dlp(env, "evaluate"), 3, "--data", "--help")


def test_usage_mistakes_are_status_3_not_argparse_2(env):
    assert_one_line(hrm_dlp(env, "scan", "--no-such-flag"), 3, "unrecognized arguments")
    assert_one_line(hrm_dlp(env, "frobnicate"), 3, "invalid choice")
    assert hrm_dlp(env, "scan", "--help").returncode == 0


def test_unexpected_failure_is_status_4_in_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    def broken(args):
        raise ZeroDivisionError("division by zero\nsecond line")

    help_text, add_args, _ = cli_main.COMMANDS["query"]
    monkeypatch.setitem(cli_main.COMMANDS, "query", (help_text, add_args, broken))
    monkeypatch.delenv("HRM_DLP_DEBUG", raising=False)
    assert cli_main.main(["query", "SELECT 1"]) == 4
    err = capsys.readouterr().err
    assert err == (
        "hrm-dlp query: internal error: ZeroDivisionError: division by zero second line "
        "(set HRM_DLP_DEBUG=1 for the traceback)\n"
    )
    monkeypatch.setenv("HRM_DLP_DEBUG", "1")
    assert cli_main.main(["query", "SELECT 1"]) == 4
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "ZeroDivisionError" in err
