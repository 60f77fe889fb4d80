"""Adapters from public evaluation formats to the project's `Example` contract.

Each adapter states what the source labels and leaves the rest null / unannotated so that nothing the
source does not label is ever scored (``meta.annotated_types``, null doc labels). The files stay where
they are (read-only, outside the repository); nothing here copies or trains on them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hrm_core.data.contract import ContractError, Example, validate_example

EvalFormat = Literal["native", "presidio", "contractnli", "noseyparker"]
EVAL_FORMATS: tuple[str, ...] = ("native", "presidio", "contractnli", "noseyparker")

PRESIDIO_TYPE_MAP: dict[str, str] = {
    "PERSON": "NAME",
    "STREET_ADDRESS": "ADDR",
    "CREDIT_CARD": "PAN",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "US_SSN": "SSN",
}
PRESIDIO_ANNOTATED: list[str] = sorted(set(PRESIDIO_TYPE_MAP.values()))


@dataclass
class LoadReport:
    """What happened while loading: rows read, rows refused (with reasons) and span fix-ups."""

    rows: int = 0
    rejected: list[tuple[int, list[str]]] = field(default_factory=list)  # (row number, reasons)
    dropped_spans: Counter[str] = field(default_factory=Counter)  # reason -> count


def _row_reasons(i: int, err: Exception) -> tuple[int, list[str]]:
    return (i, err.reasons if isinstance(err, ContractError) else [str(err)])


def _load_jsonl(path: Path, report: LoadReport, to_row: Callable[[int, Any], Any]) -> list[Example]:
    """One example per non-blank line: `to_row(line_no, record)` makes the contract dict; bad rows are
    reported with their reasons, never raised."""
    out = []
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            report.rows += 1
            try:
                out.append(validate_example(to_row(i, json.loads(line))))
            except (json.JSONDecodeError, KeyError, TypeError, ContractError) as err:
                report.rejected.append(_row_reasons(i, err))
    return out


def _load_native(path: Path, report: LoadReport) -> list[Example]:
    return _load_jsonl(path, report, lambda _i, rec: rec)


def resolve_spans(spans: list[tuple[str, int, int]], report: LoadReport) -> list[dict[str, Any]]:
    """Sort spans and drop overlaps deterministically: keep the earlier start, then the longer span.

    Each span dropped is counted in ``report.dropped_spans["overlap"]``.
    """
    kept: list[tuple[str, int, int]] = []
    for t, s, e in sorted(spans, key=lambda sp: (sp[1], -(sp[2] - sp[1]), sp[0])):
        if kept and s < kept[-1][2]:
            report.dropped_spans["overlap"] += 1
            continue
        kept.append((t, s, e))
    return [{"type": t, "start": s, "end": e} for t, s, e in kept]


def _load_presidio(path: Path, report: LoadReport) -> list[Example]:
    records = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for i, rec in enumerate(records):
        report.rows += 1
        try:
            text = rec["full_text"]
            spans = []
            for sp in rec.get("spans") or []:
                mapped = PRESIDIO_TYPE_MAP.get(sp["entity_type"])
                if mapped is None:
                    report.dropped_spans["outside_taxonomy"] += 1
                    continue
                s, e = int(sp["start_position"]), int(sp["end_position"])
                if not 0 <= s < e <= len(text):
                    report.dropped_spans["bad_offsets"] += 1
                    continue
                spans.append((mapped, s, e))
            row = {
                "id": f"presidio-{i:05d}",
                "channel": "chat",
                "user": {"role": "OTHER"},
                "body": text,
                "spans": resolve_spans(spans, report),
                "meta": {"annotated_types": PRESIDIO_ANNOTATED, "source": f"eval:presidio:{path.name}"},
            }
            out.append(validate_example(row))
        except (KeyError, TypeError, ValueError) as err:
            report.rejected.append(_row_reasons(i, err))
    return out


def _load_contractnli(path: Path, report: LoadReport) -> list[Example]:
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for i, doc in enumerate(data["documents"]):
        report.rows += 1
        try:
            name = doc.get("file_name") or f"nda-{doc['id']}.txt"
            row = {
                "id": f"contractnli-{doc['id']}",
                # An NDA travels as an upload to a share; alternate with e-mail so both channels are exercised.
                "channel": "upload" if i % 2 == 0 else "email",
                "user": {"role": "OTHER"},
                "body": doc["text"],
                "attachments": [
                    {"name": name, "mime": "text/plain", "size": len(doc["text"].encode("utf-8"))}
                ],
                # Every document is a real NDA; its spans are sentence boundaries, not NDA-term spans.
                "labels": {"sensitivity": 1},
                "meta": {"annotated_types": [], "source": f"eval:contractnli:{path.name}"},
            }
            out.append(validate_example(row))
        except (KeyError, TypeError, ValueError) as err:
            report.rejected.append(_row_reasons(i, err))
    return out


def _load_noseyparker(path: Path, report: LoadReport) -> list[Example]:
    def to_row(i: int, rec: Any) -> dict[str, Any]:
        return {
            "id": f"noseyparker-{i:05d}",
            "channel": "pr",
            "user": {"role": "ENG"},
            "body": rec["text"],
            "labels": {"sensitivity": rec["label"]},
            # No character offsets in the source: doc-level only.
            "meta": {
                "annotated_types": [],
                "source": f"eval:noseyparker:{path.name}",
                "rule_id": rec.get("rule_id"),
            },
        }

    return _load_jsonl(path, report, to_row)


_LOADERS = {
    "native": _load_native,
    "presidio": _load_presidio,
    "contractnli": _load_contractnli,
    "noseyparker": _load_noseyparker,
}


def load_eval_dataset_with_report(path: str | Path, fmt: EvalFormat) -> tuple[list[Example], LoadReport]:
    """Load `path` in format `fmt` into Examples, with a `LoadReport` of refused rows and span fix-ups."""
    if fmt not in _LOADERS:
        raise ValueError(f"unknown evaluation format {fmt!r}; expected one of {', '.join(EVAL_FORMATS)}")
    report = LoadReport()
    return _LOADERS[fmt](Path(path), report), report


def load_eval_dataset(path: str | Path, fmt: EvalFormat) -> list[Example]:
    """Load `path` in format `fmt` (native | presidio | contractnli | noseyparker) into Examples.

    Bad rows are skipped, not fatal; use `load_eval_dataset_with_report` to see them.
    """
    return load_eval_dataset_with_report(path, fmt)[0]
