"""Adapters on tiny inline fixtures of each format, and on the real public files when they exist."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from hrm_core.data.eval_formats import PRESIDIO_ANNOTATED, load_eval_dataset, load_eval_dataset_with_report

EVAL_DIR = Path(__file__).resolve().parents[4] / "shared" / "eval"


def test_native_validates_rows_and_reports_bad_ones(tmp_path):
    good = {"id": "a", "channel": "email", "user": {"role": "HR"}, "body": "hi", "labels": {"sensitivity": 0}}
    bad = {"id": "b", "channel": "fax", "user": {"role": "HR"}, "body": "x"}
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\nnot json\n\n")
    examples, report = load_eval_dataset_with_report(path, "native")
    assert [e.id for e in examples] == ["a"]
    assert report.rows == 3
    assert [row for row, _ in report.rejected] == [2, 3]
    assert report.rejected[0][1][0].startswith("channel:")


def test_presidio_maps_types_drops_others_and_resolves_overlaps(tmp_path):
    text = "Call John Smith at 212-555-0199 or john@x.org"
    rec = {
        "full_text": text,
        "spans": [
            {
                "entity_type": "EMAIL_ADDRESS",
                "entity_value": "john@x.org",
                "start_position": 35,
                "end_position": 45,
            },
            {"entity_type": "PERSON", "entity_value": "John Smith", "start_position": 5, "end_position": 15},
            {
                "entity_type": "PERSON",
                "entity_value": "John",
                "start_position": 5,
                "end_position": 9,
            },  # overlap
            {
                "entity_type": "PHONE_NUMBER",
                "entity_value": "212-555-0199",
                "start_position": 19,
                "end_position": 31,
            },
            {"entity_type": "DATE_TIME", "entity_value": "x", "start_position": 0, "end_position": 4},
        ],
    }
    path = tmp_path / "p.json"
    path.write_text(json.dumps([rec]))
    (ex,), report = load_eval_dataset_with_report(path, "presidio")
    assert [(s.type, text[s.start : s.end]) for s in ex.spans] == [
        ("NAME", "John Smith"),
        ("PHONE", "212-555-0199"),
        ("EMAIL", "john@x.org"),
    ]
    assert report.dropped_spans == Counter({"overlap": 1, "outside_taxonomy": 1})
    assert ex.meta.annotated_types == PRESIDIO_ANNOTATED == ["ADDR", "EMAIL", "NAME", "PAN", "PHONE", "SSN"]
    assert ex.labels.as_list() == [None, None, None, None]
    assert (ex.channel, ex.user.role, ex.recipients) == ("chat", "OTHER", [])


def test_contractnli_is_a_sensitive_upload_without_span_annotations(tmp_path):
    docs = {
        "documents": [{"id": 7, "file_name": "nda.txt", "text": "MUTUAL NDA. Terms.", "spans": [[0, 11]]}]
    }
    path = tmp_path / "c.json"
    path.write_text(json.dumps({**docs, "labels": {}}))
    (ex,) = load_eval_dataset(path, "contractnli")
    assert ex.body == "MUTUAL NDA. Terms." and ex.spans == []
    assert ex.attachments[0].name == "nda.txt"
    assert ex.labels.as_list() == [1, None, None, None]
    assert ex.meta.annotated_types == [] and ex.channel in ("upload", "email")


def test_noseyparker_rows_are_doc_level_pr_examples(tmp_path):
    rows = [
        {"text": "token = 'abc'", "label": 0, "rule_id": "np.x"},
        {"text": "AKIA...", "label": 1, "rule_id": "np.y"},
    ]
    path = tmp_path / "n.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    examples = load_eval_dataset(path, "noseyparker")
    assert [e.labels.sensitivity for e in examples] == [0, 1]
    assert all(
        e.channel == "pr" and e.meta.annotated_types == [] and e.labels.exposure is None for e in examples
    )


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown evaluation format"):
        load_eval_dataset(tmp_path / "x", "csv")  # type: ignore[arg-type]


REAL = [
    ("presidio_research/synth_dataset_v2.json", "presidio", 1500),
    ("contractnli/dev.json", "contractnli", 61),
    ("noseyparker/noseyparker_examples.jsonl", "noseyparker", 573),
]


@pytest.mark.parametrize(("rel", "fmt", "n"), REAL)
def test_real_public_files_load_completely(rel, fmt, n):
    path = EVAL_DIR / rel
    if not path.exists():
        pytest.skip(f"{path} not present (public eval sets live outside the repository)")
    examples, report = load_eval_dataset_with_report(path, fmt)
    assert len(examples) == n and report.rejected == []
    if fmt == "presidio":
        counts = Counter(s.type for e in examples for s in e.spans)
        assert counts == {"NAME": 857, "ADDR": 598, "PAN": 136, "PHONE": 92, "EMAIL": 49, "SSN": 16}
    if fmt == "noseyparker":
        assert Counter(e.labels.sensitivity for e in examples) == {1: 430, 0: 143}
