"""Value location, repair and rejection, label rules and dedupe on hand-written tool inputs."""

from __future__ import annotations

import pytest

from hrm_core.agentic.extract import Deduper, Rejected, build_example, find_value, locate_spans, tool_input
from hrm_core.agentic.fake_api import fake_emit_input, message_json
from hrm_core.agentic.plan import Cell, Task

ORG = "acme-corp.example"
TASK = Task(index=7, cell=Cell("email", "hr", (1, 0, 1, 0), "easy"), turns=1)


def _data(**over):
    d = {
        "subject": "Payroll fix",
        "body": "Hi Ana, SSN 123-45-6789 is wrong; SSN 123-45-6789 again. Mail ana@acme-corp.example.",
        "recipients": [f"ops@{ORG}"],
        "values": [{"type": "SSN", "value": "123-45-6789"}, {"type": "EMAIL", "value": "ana@acme-corp.example"},
                   {"type": "NAME", "value": "ana"}],
        "labels": {"sensitivity": 1, "exposure": 0, "context": 1, "obfuscation": 0},
        "obfuscations": [],
    }  # fmt: skip
    d.update(over)
    return d


def test_spans_cover_every_occurrence_sorted_and_non_overlapping():
    ex, stats = build_example(TASK, 0, _data(), ORG, "r1")
    body = ex.body
    got = [(s.type, body[s.start : s.end]) for s in ex.spans]
    # Both SSN occurrences; the EMAIL wins over the NAME "ana" inside it; "Ana" (capital) is not "ana"
    # exactly, but the case-insensitive repair does not run because an exact hit exists.
    assert got == [("SSN", "123-45-6789"), ("SSN", "123-45-6789"), ("EMAIL", "ana@acme-corp.example")]
    assert [s.start for s in ex.spans] == [body.index("123"), body.rindex("123-45"), body.index("ana@")]
    assert stats == {"values": 3, "spans": 3, "repaired": 0}
    assert ex.id == "agentic-r1-0000007-0" and ex.user.role == "HR" and ex.meta.source == "agentic"


def test_value_with_different_spacing_or_case_is_repaired():
    spans, repaired = locate_spans(
        "Card 4111 1111\n1111 1111 on file", [{"type": "PAN", "value": "4111 1111 1111 1111"}]
    )
    assert spans == [{"type": "PAN", "start": 5, "end": 24}] and repaired == 1
    assert find_value("Matter M-1 and m-1", "M-1") == ([(7, 10)], False)


def test_value_not_in_body_is_rejected():
    with pytest.raises(Rejected) as e:
        build_example(TASK, 0, _data(values=[{"type": "PAN", "value": "4111111111111111"}]), ORG, "r1")
    assert e.value.reason == "value_not_found" and "4111" not in e.value.detail


def test_labels_contradicting_content_rules_are_rejected():
    # An external recipient makes exposure 1; the model said 0.
    with pytest.raises(Rejected) as e:
        build_example(TASK, 0, _data(recipients=["x@gmail.com"]), ORG, "r1")
    assert e.value.reason == "label_contradiction" and e.value.detail == "exposure"
    with pytest.raises(Rejected) as e:  # an SSN but sensitivity 0
        build_example(
            TASK, 0, _data(labels={"sensitivity": 0, "exposure": 0, "context": 1, "obfuscation": 0}), ORG, "r"
        )
    assert e.value.detail == "sensitivity"


def test_malformed_answers_are_rejected_with_their_category():
    no_tool = message_json([{"type": "text", "text": '{"body": "unterminated'}], "m", 1, 1, 1)
    with pytest.raises(Rejected) as e:
        tool_input(no_tool)
    assert e.value.reason == "no_tool_use"
    with pytest.raises(Rejected) as e:
        build_example(TASK, 0, {"subject": "x"}, ORG, "r1")
    assert e.value.reason == "malformed_output"
    # A JSON object in a text block is accepted as the tool input.
    assert tool_input(
        message_json([{"type": "text", "text": '```json\n{"body": "b"}\n```'}], "m", 1, 1, 1)
    ) == {"body": "b"}


def test_fake_inputs_pass_for_every_label_combination():
    for bits in range(16):
        labels = tuple((bits >> k) & 1 for k in (3, 2, 1, 0))
        task = Task(index=bits, cell=Cell("chat", "finance", labels, "hard"), turns=1)
        prompt = "".join(
            f"- {h} = {v}: x\n"
            for h, v in zip(("sensitivity", "exposure", "context", "obfuscation"), labels, strict=True)
        )
        ex, _ = build_example(
            task, 0, fake_emit_input(f"organisation {ORG}.\n{prompt}Variation seed: {bits}-0-0 (x)"), ORG, "r"
        )
        assert ex.labels.as_list() == list(labels)


def test_dedupe_exact_and_near_duplicates():
    d = Deduper.empty()
    ex, _ = build_example(TASK, 0, _data(), ORG, "r1")
    d.add(ex)
    with pytest.raises(Rejected) as e:
        d.check(
            build_example(Task(10, TASK.cell, 1), 0, _data(), ORG, "r1")[0]
        )  # another id (same seniority), same content
    assert e.value.reason == "duplicate"
    twin = _data(body=_data()["body"].replace("123-45-6789", "234-56-7890").upper().replace("ACME-CORP.EXAMPLE", "acme-corp.example"),
                 values=[{"type": "SSN", "value": "234-56-7890"}])  # fmt: skip
    with pytest.raises(Rejected) as e:
        d.check(build_example(TASK, 0, twin, ORG, "r1")[0])
    assert e.value.reason == "near_duplicate"
