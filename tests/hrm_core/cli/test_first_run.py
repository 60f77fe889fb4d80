"""A fresh install has no champion (the gate refuses the first models): the README's scan, pre-commit
and serve examples must still work as written, answered by the rules engine, never a traceback.

Each command runs as the user runs it: the real `hrm-dlp` entry point in a subprocess, over an empty
lake; the service is a real uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CLI = [sys.executable, "-m", "hrm_core.cli.main"]
CARD = "card 4111 1111 1111 1111"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HRM_DLP_LAKE": str(tmp_path / "data_lake")}


def hrm_dlp(env: dict[str, str], *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *argv], input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False
    )


def assert_one_notice(stderr: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "no champion model" in lines[0] and "rules engine" in lines[0]
    assert "Traceback" not in stderr


def test_readme_text_example_scans_with_the_rules_engine(env):
    proc = hrm_dlp(env, "scan", "--text", CARD, "--fail-on", "block")
    # A card with no outside destination: a warning, which --fail-on block lets through.
    assert proc.returncode == 0
    result = json.loads(proc.stdout)
    assert result["model_version"].startswith("rules-engine")
    assert [(s["type"], s["start"], s["end"]) for s in result["spans"]] == [("PAN", 5, 24)]
    assert result["decision"] == "ALLOW_WITH_WARNING" and result["redacted_body"] == "card [PAN]"
    assert_one_notice(proc.stderr)
    assert hrm_dlp(env, "scan", "--text", CARD, "--fail-on", "warn").returncode == 1


def test_readme_precommit_examples_read_the_diff_from_stdin(env):
    diff = '+++ b/settings.py\n+AWS_SECRET = "AKIAZ7QXW3RT5LMN2PQA"\n+DB = "postgres://app:Hunter2pw@db.corp:5432/prod"\n'
    # The README's form: the diff as the --text argument; and the form for diffs past ARG_MAX: --text -.
    by_arg = subprocess.run(
        f'printf %s "$DIFF" | {" ".join(CLI)} scan --text "$(cat)" --fail-on warn',
        shell=True, capture_output=True, text=True, env={**env, "DIFF": diff}, timeout=120, check=False,
    )  # fmt: skip
    by_stdin = hrm_dlp(env, "scan", "--text", "-", "--fail-on", "warn", stdin=diff)
    for proc in (by_arg, by_stdin):
        result = json.loads(proc.stdout)
        assert {s["type"] for s in result["spans"]} == {"SECRET", "DBURI"}
        # The hook fails the commit: a warning (no recipients: nothing has left yet) or a block.
        assert proc.returncode == {"BLOCK": 2, "ALLOW_WITH_WARNING": 1}[result["decision"]]
        assert_one_notice(proc.stderr)
    assert json.loads(by_arg.stdout)["spans"] == json.loads(by_stdin.stdout)["spans"]


def test_readme_jsonl_example_and_exit_codes(env, tmp_path):
    path = tmp_path / "messages.jsonl"
    rows = [
        {"id": "a", "body": "lunch at noon?"},
        {"id": "b", "body": "ssn 078-05-1120", "recipients": ["me@gmail.com"], "channel": "email"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = hrm_dlp(env, "scan", str(path))
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and [r["id"] for r in results] == ["a", "b"]
    assert results[0]["decision"] == "ALLOW" and results[0]["spans"] == []
    assert [s["type"] for s in results[1]["spans"]] == ["SSN"]
    assert_one_notice(proc.stderr)


def test_mistakes_are_one_line_and_exit_3(env, tmp_path):
    for argv in (
        ["scan", str(tmp_path / "missing.jsonl")],
        ["scan", "--model", str(tmp_path), "--text", "x"],
    ):
        proc = hrm_dlp(env, *argv)
        assert proc.returncode == 3 and proc.stdout == ""
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_readme_serve_example_answers_with_the_rules_engine(env):
    port = _free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{url}/healthz", timeout=2).json()
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert health["backend"] == "rules" and health["model_version"].startswith("rules-engine")
        r = httpx.post(f"{url}/scan", json={"body": CARD, "recipients": ["x@gmail.com"]}, timeout=10)
        assert r.status_code == 200
        assert [s["type"] for s in r.json()["spans"]] == ["PAN"] and r.json()["memory"]["vec"] == ""
        assert httpx.post(f"{url}/scan", json={"bod": "x"}, timeout=10).status_code == 422
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "rules engine" in err.splitlines()[0] and "Traceback" not in err
