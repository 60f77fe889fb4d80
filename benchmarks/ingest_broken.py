"""Ingest a landing file full of deliberately broken rows and show that every row is accounted for.

    .venv/bin/python benchmarks/ingest_broken.py [--lake DIR] [--out FILE] [--broken-per-kind 90]

Builds one JSONL file: a few hundred valid examples, some exact duplicates (same content under a new
id), and broken rows of sixteen kinds, shuffled, ending in a truncated line. Ingests it into a temp
lake (or --lake), reads the reason table back from the DuckDB `quarantine` view, asserts that
accepted + quarantined + duplicates == rows and that each kind was quarantined under its own reason,
then prints and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from hrm_core.data.ingest import ingest_file
from hrm_core.data.lake import Lake
from hrm_core.data.warehouse import query

FIRST = ("Ana", "Bo", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana")
ROLES = ("LEGAL", "FINANCE", "HR", "ENG", "SALES")
CHANNELS = ("email", "chat", "pr", "upload")


def valid_row(i: int, rng: random.Random) -> dict:
    """One contract-valid example with a NAME, an EMAIL and a PHONE span at computed offsets."""
    name = rng.choice(FIRST)
    email = f"{name.lower()}{i}@corp.example"
    phone = f"+1 555-{rng.randrange(10_000):04d}"
    body = f"Hi team, {name} here. Write to {email} or call {phone} about item {i}."
    spans = []
    for kind, value in (("NAME", name), ("EMAIL", email), ("PHONE", phone)):
        start = body.index(value)
        spans.append({"type": kind, "start": start, "end": start + len(value)})
    return {
        "id": f"row-{i}",
        "thread_id": f"thread-{i // 3}",
        "channel": rng.choice(CHANNELS),
        "user": {"role": rng.choice(ROLES), "dept": "OPS", "seniority": "MID"},
        "recipients": [f"peer{i}@corp.example"],
        "subject": f"Item {i}",
        "body": body,
        "labels": {"sensitivity": 1, "exposure": 0, "context": 1, "obfuscation": 0},
        "spans": spans,
        "meta": {"org_domains": ["corp.example"], "source": "benchmark"},
    }


def _with(**kw) -> Callable[[dict], dict]:
    return lambda row: {**row, **kw}


def _spans(*triples: tuple[str, int, int]) -> Callable[[dict], dict]:
    return _with(spans=[{"type": t, "start": s, "end": e} for t, s, e in triples])


def _drop(key: str) -> Callable[[dict], dict]:
    return lambda row: {k: v for k, v in row.items() if k != key}


# Broken kind -> (reason category expected in the quarantine table, how to break a valid row).
# Kinds whose breakage is below JSON (bytes, syntax) are handled in `broken_line`.
JSON_BREAKS: dict[str, tuple[str, Callable[[dict], dict]]] = {
    "wrong_type": ("wrong_type", _with(body=12345)),
    "span_past_end": ("span_out_of_bounds", lambda r: _spans(("NAME", 0, len(r["body"]) + 7))(r)),
    "overlapping_spans": ("span_overlap", _spans(("NAME", 0, 10), ("EMAIL", 5, 20))),
    "unsorted_spans": ("span_unsorted", _spans(("EMAIL", 20, 30), ("NAME", 0, 5))),
    "empty_span": ("span_empty", _spans(("NAME", 4, 4))),
    "unknown_span_type": ("unknown_span_type", _spans(("IBAN", 0, 5))),
    "missing_field": ("missing_field", _drop("channel")),
    "bad_label": ("bad_label", _with(labels={"sensitivity": 2})),
    "unknown_channel": ("unknown_channel", _with(channel="fax")),
    "unknown_field": ("unknown_field", _with(priority="high")),
    "empty_id": ("empty_id", _with(id="")),
    "body_5mb": ("body_too_large", _with(body="A" * 5_000_000, spans=[])),
}
BYTE_BREAKS: dict[str, str] = {
    "invalid_utf8": "invalid_utf8",
    "invalid_json": "invalid_json",
    "non_object": "not_an_object",
}


def broken_line(kind: str, row: dict) -> bytes:
    """One broken JSONL line of `kind`, made from a valid row."""
    if kind in JSON_BREAKS:
        return json.dumps(JSON_BREAKS[kind][1](row)).encode()
    line = json.dumps(row).encode()
    if kind == "invalid_utf8":
        return line.replace(b"Hi team", b"Hi t\xe9am\xff")  # Latin-1 bytes in a UTF-8 file
    if kind == "invalid_json":
        return line.replace(b'", "', b'" "', 1)  # a missing comma
    if kind == "non_object":
        return json.dumps([row["id"], row["body"]]).encode()
    raise ValueError(kind)


def build_landing_file(path: Path, n_valid: int, n_duplicates: int, per_kind: int, seed: int) -> Counter[str]:
    """Write the landing file; returns the expected count per reason category (plus the totals)."""
    rng = random.Random(seed)
    valid = [valid_row(i, rng) for i in range(n_valid)]
    lines: list[bytes] = [json.dumps(r).encode() for r in valid]
    # Exact duplicates: same content under a new id and source (the content hash ignores both).
    for k in range(n_duplicates):
        lines.append(json.dumps({**valid[k], "id": f"dup-{k}", "meta": {"source": "resend"}}).encode())
    expected: Counter[str] = Counter(valid=n_valid, duplicates=n_duplicates)
    for kind in [*JSON_BREAKS, *BYTE_BREAKS]:
        n = 3 if kind == "body_5mb" else per_kind  # three 5 MB bodies are plenty and keep the file ~15 MB
        reason = JSON_BREAKS[kind][0] if kind in JSON_BREAKS else BYTE_BREAKS[kind]
        for j in range(n):
            lines.append(broken_line(kind, valid_row(100_000 + len(lines) + j, rng)))
        expected[reason] += n
    rng.shuffle(lines)
    last = json.dumps(valid_row(999_999, rng)).encode()
    lines.append(last[: len(last) // 2])  # a writer killed mid-row: no closing brace, no newline
    expected["truncated_line"] += 1
    path.write_bytes(b"\n".join(lines))
    return expected


def main(argv: list[str] | None = None) -> dict:
    """Build, ingest, reconcile; print and write the JSON figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lake", type=Path, default=None, help="lake root (default: a fresh temp dir)")
    ap.add_argument(
        "--out", type=Path, default=None, help="JSON output (default: <lake>/reports/ingest_broken.json)"
    )
    ap.add_argument("--valid", type=int, default=300)
    ap.add_argument("--duplicates", type=int, default=40)
    ap.add_argument("--broken-per-kind", type=int, default=90)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    lake = Lake(args.lake or Path(tempfile.mkdtemp(prefix="hrm-lake-"))).ensure()
    landing = lake.landing / "broken_rows.jsonl"
    expected = build_landing_file(landing, args.valid, args.duplicates, args.broken_per_kind, args.seed)

    t0 = time.perf_counter()
    result = ingest_file(lake, landing)
    seconds = time.perf_counter() - t0

    reasons = query(
        lake,
        "SELECT reason, count(*) AS rows, min(line) AS first_line FROM quarantine "
        "WHERE file = ? GROUP BY reason ORDER BY rows DESC, reason",
        [landing.name],
    )
    broken_expected = {k: v for k, v in expected.items() if k not in ("valid", "duplicates")}
    report = {
        **{
            k: v
            for k, v in result.as_dict().items()
            if k in ("rows", "accepted", "quarantined", "duplicates")
        },
        "broken_kinds": len(broken_expected),
        "file_mb": round(landing.stat().st_size / 1e6, 1),
        "seconds": round(seconds, 2),
        "rows_per_second": round(result.rows / seconds),
        "reasons": reasons.to_dict("records"),
        "lake": str(lake.root),
    }

    # Reconciliation: every row accounted for, each kind under its own reason, nothing extra.
    assert result.accepted + result.quarantined + result.duplicates == result.rows, report
    assert result.rows == sum(expected.values()), (result.rows, sum(expected.values()))
    assert (result.accepted, result.duplicates) == (expected["valid"], expected["duplicates"]), report
    assert dict(zip(reasons["reason"], reasons["rows"], strict=True)) == broken_expected, report
    assert int(reasons["rows"].sum()) == result.quarantined >= 1000, report

    out = args.out or lake.reports / "ingest_broken.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=int) + "\n")
    print(json.dumps(report, indent=2, default=int))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
