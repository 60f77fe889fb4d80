"""The run directory: accepted examples and audit rows as JSONL, plus a state file that says how much of them counts.

    <run_dir>/examples.jsonl   accepted examples, one per line, in acceptance order
    <run_dir>/audit.jsonl      one row per generated message (accepted or rejected, with the reason)
    <run_dir>/state.json       next task index, committed line counts, tallies; replaced atomically

A commit appends and fsyncs the JSONL lines first, then replaces the state. The state is the truth:
on load, lines past the committed counts (written by a commit the crash interrupted) are cut off,
and the run restarts at `next_task`, always a task boundary. Tasks after it are simply redone, and
their requests come back from the response cache, so nothing is generated twice or lost.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hrm_core.data.contract import Example


@dataclass
class RunState:
    next_task: int = 0
    accepted: int = 0
    examples_lines: int = 0
    audit_lines: int = 0
    rejections: dict[str, int] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    plan_fingerprint: str = ""


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _truncate_lines(path: Path, keep: int) -> None:
    if not path.exists():
        return
    with path.open("r", encoding="utf-8") as fh:
        lines = fh.readlines()
    if len(lines) != keep or (lines and not lines[-1].endswith("\n")):
        _write_atomic(path, "".join(lines[:keep]))


class RunStore:
    """Checkpointed storage of one agentic run."""

    def __init__(self, run_dir: str | os.PathLike[str]):
        self.dir = Path(run_dir)
        self.examples_path = self.dir / "examples.jsonl"
        self.audit_path = self.dir / "audit.jsonl"
        self.state_path = self.dir / "state.json"

    def load(self) -> RunState:
        """The committed state (a fresh one for a new run), with uncommitted JSONL tails removed."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.state_path.exists():
            state = RunState()
        else:
            state = RunState(**json.loads(self.state_path.read_text(encoding="utf-8")))
        _truncate_lines(self.examples_path, state.examples_lines)
        _truncate_lines(self.audit_path, state.audit_lines)
        return state

    def commit(self, state: RunState, examples: list[Example], audit_rows: list[dict[str, Any]]) -> None:
        """Append `examples` and `audit_rows`, then record them in the state (the commit point)."""
        for path, lines in (
            (self.examples_path, [ex.model_dump_json() for ex in examples]),
            (self.audit_path, [json.dumps(r, ensure_ascii=False) for r in audit_rows]),
        ):
            if not lines:
                continue
            with path.open("a", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        state.examples_lines += len(examples)
        state.audit_lines += len(audit_rows)
        _write_atomic(self.state_path, json.dumps(asdict(state), sort_keys=True))

    def read_examples(self) -> list[Example]:
        if not self.examples_path.exists():
            return []
        with self.examples_path.open(encoding="utf-8") as fh:
            return [Example.model_validate_json(line) for line in fh if line.strip()]

    def read_audit(self) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        with self.audit_path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
