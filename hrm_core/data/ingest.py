"""Landing-zone ingestion: validate a JSONL or Parquet file row by row into the lake.

Every row ends in exactly one of three places, so ``accepted + quarantined + duplicates == rows``:
- accepted: a valid example not seen before; joins ``parquet/landed/`` with ``meta.source =
  "landed:<file name>"``;
- duplicate: a valid example whose content hash is already landed (or earlier in the same file);
- quarantined: anything else, written to ``quarantine/`` with file, line, reason category, the
  full contract message and a short raw excerpt.

A JSONL file is read as bytes and split on ``\\n`` so that one undecodable line costs one row, not
the file. Blank lines are not rows (JSONL convention) and are counted separately.

Idempotence and atomicity: both partitions are named by the SHA-256 of the file's bytes. The landed
partition is written first (atomically); it *is* the dedupe index, because duplicates are looked up
in the landed partitions' `content_hash` column, so there is no second structure to get out of step.
Re-ingesting a file therefore finds all its valid rows already landed and rewrites the same
quarantine partition: nothing is added. A crash before a rename leaves no partial partition; a crash
between the two renames is repaired by re-running.

Concurrency: rows are validated without any lock; the check against the landed hashes and the write of
the landed partition happen under the lake's ingest lock (`lake_lock`), so two ingests running at once
(the landing sensor allows concurrent runs) never both accept one content hash: the later one counts
those rows as duplicates.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hrm_core.data.contract import ContractError, Example, validate_example
from hrm_core.data.lake import Lake, lake_lock, parquet_files, remove_orphan_temp_files, write_parquet_atomic
from hrm_core.data.records import QUARANTINE_SCHEMA, example_to_row, row_to_object, rows_to_table

EXCERPT_CHARS = 200
# Reason categories (the `reason` column of the quarantine table). `message` keeps the full text.
REASONS: tuple[str, ...] = (
    "invalid_utf8", "invalid_json", "truncated_line", "not_an_object", "missing_field", "unknown_field",
    "wrong_type", "body_too_large", "empty_id", "bad_label", "unknown_channel", "unknown_role",
    "unknown_seniority", "unknown_span_type", "span_empty", "span_out_of_bounds", "span_overlap",
    "span_unsorted", "bad_value", "unreadable_file",
)  # fmt: skip


@dataclass
class IngestResult:
    """Counts for one ingested file; `reasons` counts quarantined rows per reason category."""

    file: str
    rows: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    blank_lines: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """The JSON the CLI prints: the four reconciled counts first, then the details."""
        return {
            "rows": self.rows,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "duplicates": self.duplicates,
            "file": self.file,
            "blank_lines": self.blank_lines,
            "reasons": dict(sorted(self.reasons.items())),
        }


@dataclass
class _Rejection:
    line: int
    reason: str
    message: str
    excerpt: str


# --- reading rows ---------------------------------------------------------------------------------


def _excerpt(text: str) -> str:
    return text[:EXCERPT_CHARS]


def _jsonl_rows(data: bytes) -> Iterator[tuple[int, Any | _Rejection | None]]:
    """(line number, decoded object | rejection | None for a blank line) for each line of a JSONL file."""
    data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM some editors add
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":  # the final newline ends the last line; it starts no new row
        lines.pop()
    last_unterminated = not data.endswith(b"\n")
    for i, raw in enumerate(lines, start=1):
        raw = raw.removesuffix(b"\r")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            msg = f"line is not valid UTF-8: byte 0x{raw[err.start]:02x} at offset {err.start}"
            yield i, _Rejection(i, "invalid_utf8", msg, _excerpt(raw.decode("utf-8", errors="replace")))
            continue
        if not text.strip():
            yield i, None
            continue
        try:
            yield i, json.loads(text)
        except (json.JSONDecodeError, RecursionError) as err:
            truncated = i == len(lines) and last_unterminated
            reason = "truncated_line" if truncated else "invalid_json"
            msg = f"{'last line has no newline and ' if truncated else ''}JSON does not parse: {err}"
            yield i, _Rejection(i, reason, msg, _excerpt(text))


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any | _Rejection | None]]:
    """(row number, contract-shaped dict | rejection) for each row of a Parquet file, flat or nested."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        yield 1, _Rejection(1, "unreadable_file", f"Parquet file cannot be read: {err}", "")
        return
    flat = "user_role" in table.column_names  # our own lake layout (records.ARROW_SCHEMA)
    # Row batches keep memory bounded to one batch of Python dicts at a time.
    n = 0
    for batch in table.to_batches(max_chunksize=1024):
        for row in batch.to_pylist():
            n += 1
            if flat:
                try:
                    yield n, row_to_object(row)
                except KeyError as err:
                    yield (
                        n,
                        _Rejection(n, "missing_field", f"{err.args[0]}: column missing", _row_excerpt(row)),
                    )
                except (json.JSONDecodeError, TypeError) as err:
                    yield n, _Rejection(n, "bad_value", f"meta_json: {err}", _row_excerpt(row))
            else:
                # A null cell in a nested-layout file means "absent": let the contract default apply.
                yield n, {k: v for k, v in row.items() if v is not None}


def _row_excerpt(row: Any) -> str:
    return _excerpt(json.dumps(row, ensure_ascii=False, default=str))


# --- reason categories ------------------------------------------------------------------------------

_LITERAL_BY_PATH = {
    "channel": "unknown_channel",
    "user.role": "unknown_role",
    "user.seniority": "unknown_seniority",
}
_SPAN_TYPE_PATH = re.compile(r"^(spans\[\d+\]\.type|meta\.annotated_types\[\d+\])$")
_SPAN_ORDER = re.compile(r"^spans\[(\d+)\]: starts at")


def _categorize(reason: str, obj: Any) -> str:
    """Map one ``field.path: message`` contract reason to a category from `REASONS`."""
    path, _, msg = reason.partition(": ")
    if msg == "Field required":
        return "missing_field"
    if msg == "Extra inputs are not permitted":
        return "unknown_field"
    if path == "body" and "at most" in msg:
        return "body_too_large"
    if path == "id" and "at least" in msg:
        return "empty_id"
    if path.startswith("labels."):
        return "bad_label"
    if msg.startswith("Input should be '"):  # a Literal: an unknown enum value
        if _SPAN_TYPE_PATH.match(path):
            return "unknown_span_type"
        return _LITERAL_BY_PATH.get(path, "bad_value")
    if msg.startswith("Input should be a valid") or "type=" in msg:
        return "wrong_type"
    if "past the end of body" in msg:
        return "span_out_of_bounds"
    if "must be greater than start" in msg:
        return "span_empty"
    m = _SPAN_ORDER.match(reason)
    if m:
        # The contract reports both cases alike; the raw spans tell an overlap from a mis-sorted list.
        i = int(m.group(1))
        spans: Any = obj.get("spans") if isinstance(obj, dict) else None
        try:
            return "span_unsorted" if spans[i]["start"] < spans[i - 1]["start"] else "span_overlap"
        except (TypeError, KeyError, IndexError):
            return "span_overlap"
    if reason.startswith("row must be a JSON object"):
        return "not_an_object"
    return "bad_value"


# --- ingesting ------------------------------------------------------------------------------------


def landed_hashes(lake: Lake) -> set[str]:
    """Content hashes of every example already landed (reads only that column)."""
    out: set[str] = set()
    for f in parquet_files(lake.table_dir("landed")):
        out.update(pq.read_table(f, columns=["content_hash"]).column("content_hash").to_pylist())
    return out


def _partition_name(path: Path, file_hash: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)[:64]
    return f"{stem}-{file_hash[:16]}.parquet"


def ingest_file(lake: Lake, path: str | Path) -> IngestResult:
    """Validate one landing file (``.jsonl``/``.json`` or ``.parquet``) into the lake; see module doc."""
    path = Path(path)
    lake.ensure()
    for d in (lake.table_dir("landed"), lake.quarantine):
        remove_orphan_temp_files(d)  # left by a crashed ingest; a live writer's files are kept
    data = path.read_bytes()
    file_hash = hashlib.sha256(data).hexdigest()
    is_parquet = path.suffix.lower() in {".parquet", ".pq"} or data[:4] == b"PAR1"
    rows_iter = _parquet_rows(path) if is_parquet else _jsonl_rows(data)
    del data  # a large file should not be held twice while rows are validated

    result = IngestResult(file=path.name)
    source = f"landed:{path.name}"
    # Valid rows, first of each content hash in this file; checked against the lake under the lock.
    candidates: dict[str, dict[str, Any]] = {}
    rejected: list[_Rejection] = []
    for line, obj in rows_iter:
        if obj is None:
            result.blank_lines += 1
            continue
        result.rows += 1
        if isinstance(obj, _Rejection):
            rejected.append(obj)
            continue
        try:
            ex: Example = validate_example(obj)
        except ContractError as err:
            reason = _categorize(err.reasons[0], obj) if err.reasons else "bad_value"
            rejected.append(_Rejection(line, reason, "; ".join(err.reasons), _row_excerpt(obj)))
            continue
        content_hash = ex.content_hash()
        if content_hash in candidates:
            result.duplicates += 1
            continue
        ex.meta.source = source
        candidates[content_hash] = example_to_row(ex, content_hash)

    name = _partition_name(path, file_hash)
    # Check-and-commit as one step across processes. Landed first: if we crash before the quarantine
    # write, a re-run sees these rows as duplicates and still writes the quarantine, so nothing is
    # lost and nothing is doubled.
    with lake_lock(lake, "ingest"):
        landed = landed_hashes(lake)
        accepted = [row for h, row in candidates.items() if h not in landed]
        if accepted:
            target = lake.table_dir("landed") / name
            table = rows_to_table(accepted)
            if target.exists():  # a re-ingest whose earlier copies elsewhere are gone: keep what it held
                table = pa.concat_tables([pq.read_table(target), table], promote_options="permissive")
            write_parquet_atomic(table, target)
    result.duplicates += len(candidates) - len(accepted)
    result.accepted = len(accepted)
    result.quarantined = len(rejected)
    result.reasons = Counter(r.reason for r in rejected)
    if result.accepted + result.quarantined + result.duplicates != result.rows:
        raise AssertionError(f"ingest of {path.name} lost rows: {result.as_dict()}")  # never silently

    quarantine_path = lake.quarantine / name
    if rejected:
        now = datetime.now(UTC)
        qtable = pa.Table.from_pylist(
            [
                {
                    "file": path.name,
                    "line": r.line,
                    "reason": r.reason,
                    "message": r.message,
                    "raw_excerpt": r.excerpt,
                    "file_hash": file_hash,
                    "ingested_at": now,
                }
                for r in rejected
            ],
            schema=QUARANTINE_SCHEMA,
        )
        write_parquet_atomic(qtable, quarantine_path)
    return result
