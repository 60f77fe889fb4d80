"""Scanner: golden field offsets, windows, response shape, determinism, thread memory, validation."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from hrm_core.data.contract import SPAN_TYPES, ContractError, validate_example
from hrm_core.model.thread_memory import ThreadMemory
from hrm_core.serve.scanner import decision_severity, parse_scan_request, redact_body, select_providers
from tests.hrm_core.serve.scan_fixtures import TINY_MAX_LEN, digit_scanner, tiny_scanner


def _vec(result: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(result["memory"]["vec"]), dtype="<f4")


def _strip_latency(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "latency_ms"}


# ---------------------------------------------------------------------------- golden offsets


def test_spans_map_to_offsets_in_subject_attachment_and_body():
    message = {
        "subject": "Invoice 12345 due",
        "body": "Call 555 0199 now",
        "attachments": [
            {"name": "report.pdf"},
            {"name": "scan_98765.pdf", "mime": "application/pdf", "size": 2048},
        ],
    }
    spans = [
        {k: s[k] for k in ("type", "field", "index", "start", "end")}
        for s in digit_scanner().scan(message)["spans"]
    ]
    assert spans == [
        {"type": "PAN", "field": "subject", "index": 0, "start": 8, "end": 13},
        {"type": "PAN", "field": "body", "index": 0, "start": 5, "end": 8},
        {"type": "PAN", "field": "body", "index": 0, "start": 9, "end": 13},
        {"type": "PAN", "field": "attachment", "index": 1, "start": 5, "end": 10},
    ]
    assert message["subject"][8:13] == "12345" and message["attachments"][1]["name"][5:10] == "98765"


def test_digits_in_dsl_scaffolding_are_not_reported():
    # "<ATTACH> a.pdf application/pdf 2KB": the "2" of the size is DSL text, not a field the user wrote.
    result = digit_scanner().scan(
        {"body": "no numbers here", "attachments": [{"name": "a.pdf", "size": 2048}]}
    )
    assert result["spans"] == []
    assert result["redacted_body"] == "no numbers here"


def test_spans_past_the_first_window_keep_exact_body_offsets():
    body = " ".join(f"row {i} ok" if i % 7 else f"card {i}{i}{i}" for i in range(60))
    scanner = digit_scanner()
    result = scanner.scan({"body": body})
    assert len(scanner.tokenizer.encode(body)[0]) > 4 * TINY_MAX_LEN  # several windows
    expected = [(m.start(), m.end()) for m in re.finditer(r"\d+", body)]
    assert [(s["start"], s["end"]) for s in result["spans"]] == expected
    assert result["redacted_body"] == re.sub(r"\d+", "[PAN]", body)


# ---------------------------------------------------------------------------- response


def test_response_has_the_spec_shape():
    result = tiny_scanner(model_version="tiny-1").scan(
        {"body": "Wire 4111 1111 1111 1111 to bob@gmail.example"}
    )
    assert set(result) == {
        "id", "scores", "spans", "memory", "decision", "rationale", "redacted_body", "model_version", "latency_ms",
    }  # fmt: skip
    assert set(result["scores"]) == {"sensitivity", "exposure", "context", "obfuscation"}
    assert all(0.0 <= v <= 1.0 for v in result["scores"].values())
    vec = _vec(result)
    assert vec.shape == (256,) and np.all(np.abs(vec) <= 1.0)  # tanh memory head
    assert set(result["memory"]["flags"]) == {f"has_{t.lower()}" for t in SPAN_TYPES}
    for t in SPAN_TYPES:
        if any(s["type"] == t for s in result["spans"]):
            assert result["memory"]["flags"][f"has_{t.lower()}"]
    assert result["decision"] in {"ALLOW", "ALLOW_WITH_WARNING", "BLOCK"}
    assert result["model_version"] == "tiny-1" and result["latency_ms"] > 0


def test_scores_are_calibrated_by_the_given_function():
    # The digit engine's sensitivity logit is (#digits - 3): 5 digits -> logit 2; temperature 2 -> sigmoid(1).
    scanner = digit_scanner(calibrate=lambda z: 1 / (1 + np.exp(-z / 2)))
    scores = scanner.scan({"body": "12345"})["scores"]
    assert scores["sensitivity"] == pytest.approx(1 / (1 + np.exp(-1.0)), abs=1e-6)


def test_same_input_gives_the_same_output():
    message = {
        "subject": "Q3 numbers",
        "body": "SSN 123-45-6789, call +1 415 555 0100",
        "recipients": ["a@x.example"],
    }
    a, b = tiny_scanner(), tiny_scanner()
    first = _strip_latency(a.scan(message))
    assert _strip_latency(a.scan(message)) == first
    assert _strip_latency(b.scan(message)) == first


def test_batch_equals_one_by_one_including_threads():
    messages = [
        {"body": "first message of t1", "thread_id": "t1"},
        {"body": "lone message 42"},
        {"body": "second message of t1, 4111 1111", "thread_id": "t1"},
        {"body": "t2 starts", "thread_id": "t2"},
    ]
    batched = tiny_scanner().scan_batch(messages)
    single = tiny_scanner()
    for b, s in zip(batched, [single.scan(m) for m in messages], strict=True):
        # Padding to the batch's longest window changes float summation order: ulp-level differences.
        assert b["scores"] == pytest.approx(s["scores"], abs=1e-5)
        assert np.allclose(_vec(b), _vec(s), atol=1e-5)
        assert [(x["type"], x["start"], x["end"]) for x in b["spans"]] == [
            (x["type"], x["start"], x["end"]) for x in s["spans"]
        ]
        assert b["decision"] == s["decision"]
    # Exact with the digit engine: the third message (second of t1) saw the first one's memory.
    vecs = [_vec(r) for r in digit_scanner().scan_batch(messages)]
    assert [float(v[0]) for v in vecs] == [1.0, 1.0, 2.0, 1.0]


# ---------------------------------------------------------------------------- thread memory


def test_thread_memory_seeds_the_next_message_of_the_same_thread():
    scanner = digit_scanner()  # memory = seed + 1
    assert np.all(_vec(scanner.scan({"body": "a"}, thread_id="t1")) == 1.0)
    assert np.all(_vec(scanner.scan({"body": "b"}, thread_id="t1")) == 2.0)
    assert np.all(_vec(scanner.scan({"body": "c", "thread_id": "t2"})) == 1.0)
    assert np.all(_vec(scanner.scan({"body": "d"})) == 1.0)  # no thread: zero seed, nothing stored
    assert len(scanner.thread_memory) == 2


def test_thread_memory_changes_real_model_scores():
    scanner = tiny_scanner()
    first = scanner.scan({"body": "same text"}, thread_id="t")
    second = scanner.scan({"body": "same text"}, thread_id="t")
    assert first["scores"] != second["scores"]


def test_thread_memory_is_a_bounded_lru():
    memory = ThreadMemory(max_threads=2, memory_dim=4)
    memory.put("a", np.zeros(4))
    memory.put("b", np.ones(4))
    assert memory.get("a") is not None  # "a" is now the most recent
    memory.put("c", np.full(4, 2.0))
    assert "b" not in memory and "a" in memory and "c" in memory and len(memory) == 2
    with pytest.raises(ValueError, match="4 values"):
        memory.put("d", np.zeros(5))


def test_scanner_keeps_at_most_max_threads_vectors():
    scanner = digit_scanner(thread_memory=ThreadMemory(max_threads=3))
    scanner.scan_batch([{"body": str(i), "thread_id": f"t{i}"} for i in range(10)])
    assert (
        len(scanner.thread_memory) == 3
        and "t9" in scanner.thread_memory
        and "t6" not in scanner.thread_memory
    )


# ---------------------------------------------------------------------------- input


def test_invalid_requests_name_the_field():
    with pytest.raises(ContractError) as err:
        parse_scan_request({"subject": "x"})
    assert err.value.reasons == ["body: Field required"]
    with pytest.raises(ContractError) as err:
        parse_scan_request({"body": "x", "user": {"role": "PIRATE"}, "labels": {}})
    assert any(r.startswith("user.role:") for r in err.value.reasons)
    assert any(r.startswith("labels:") for r in err.value.reasons)
    with pytest.raises(ContractError, match="JSON object"):
        parse_scan_request(["body"])


def test_a_contract_example_can_be_scanned_without_its_labels():
    example = validate_example(
        {"id": "e1", "channel": "chat", "user": {"role": "ENG"}, "body": "key 7777", "labels": {"sensitivity": 1},
         "spans": [{"type": "SECRET", "start": 4, "end": 8}], "meta": {"org_domains": ["corp.example"]}}
    )  # fmt: skip
    request = parse_scan_request(example)
    assert request.id == "e1" and request.meta.org_domains == ["corp.example"]
    assert digit_scanner().scan(example)["spans"][0]["start"] == 4


def test_redaction_and_severity():
    spans = [
        {"type": "SSN", "field": "body", "start": 4, "end": 15},
        {"type": "PAN", "field": "subject", "start": 0, "end": 2},
    ]
    assert redact_body("SSN 123-45-6789 ok", spans) == "SSN [SSN] ok"
    assert [decision_severity(d) for d in ("ALLOW", "ALLOW_WITH_WARNING", "WARN", "BLOCK")] == [0, 1, 1, 2]


def test_provider_choice_prefers_cuda_and_keeps_cpu():
    assert select_providers(["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert select_providers(["AzureExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]


# ---------------------------------------------------------------------------- bundle backends


def test_bundle_backends_agree_with_torch(tmp_path):
    from hrm_core.serve.scanner import Scanner
    from tests.hrm_core.serve.scan_fixtures import build_tiny_bundle

    bundle = build_tiny_bundle(tmp_path / "bundle")
    message = {"subject": "Q3", "body": "Card 4111 1111 1111 1111 " * 20, "attachments": [{"name": "a.pdf"}]}
    results = {b: Scanner.from_bundle(bundle, backend=b).scan(message) for b in ("torch", "fp32", "int8")}
    version = json.loads((bundle / "config.json").read_text())["model_version"]
    assert len(version) == 12 and {r["model_version"] for r in results.values()} == {version}
    assert results["fp32"]["scores"] == pytest.approx(results["torch"]["scores"], abs=1e-4)
    assert np.allclose(_vec(results["fp32"]), _vec(results["torch"]), atol=1e-4)
    assert results["int8"]["scores"] == pytest.approx(results["torch"]["scores"], abs=0.05)
    with pytest.raises(ValueError, match="backend"):
        Scanner.from_bundle(bundle, backend="fp16")


def test_spans_scored_below_the_bundles_floor_are_not_served():
    message = {"body": "Call 555 0199 now"}
    kept = digit_scanner(span_min_score=0.99).scan(message)["spans"]
    assert [(s["start"], s["end"]) for s in kept] == [(5, 8), (9, 13)]
    assert min(s["score"] for s in kept) > 0.99  # B/I-PAN at logit 10 against O at 5
    dropped = digit_scanner(span_min_score=0.999).scan(message)
    assert dropped["spans"] == [] and dropped["redacted_body"] == "Call 555 0199 now"


def test_a_bundle_serves_with_its_calibrated_span_floor(tmp_path):
    from hrm_core.serve.scanner import Scanner
    from tests.hrm_core.serve.scan_fixtures import build_tiny_bundle

    bundle = build_tiny_bundle(tmp_path / "bundle", span_min_score=0.7)
    assert json.loads((bundle / "calibration.json").read_text())["spans"]["min_score"] == 0.7
    assert {Scanner.from_bundle(bundle, backend=b).span_min_score for b in ("int8", "torch")} == {0.7}


def test_warmup_measures_a_model_with_the_candidate_channel(tmp_path):
    # The full-window measurement must feed candidate_ids to a graph that has the input, or the service
    # starts without a window allowance (its admission then prices every request at zero).
    from hrm_core.serve.scanner import Scanner
    from tests.hrm_core.serve.scan_fixtures import build_tiny_bundle

    bundle = build_tiny_bundle(tmp_path / "bundle")
    for backend in ("int8", "torch"):
        scanner = Scanner.from_bundle(bundle, backend=backend)
        assert scanner.use_candidates and scanner.seconds_per_token is None
        assert scanner.warmup() > 0 and scanner.seconds_per_token > 0


def test_the_workflow_veto_caps_context_by_the_values_the_sender_may_not_send_there():
    # The digit engine serves every digit run as a PAN scored above 0.99 and a context logit of 0 (0.5).
    card = "card 4111111111111111 for the refund"

    def context(role: str, recipient: str, scanner=None, **meta) -> float:
        message = {"body": card, "user": {"role": role}, "recipients": [recipient]}
        message["meta"] = {"org_domains": ["acme.example"], **meta}
        result = (scanner or digit_scanner()).scan(message)
        assert [s["type"] for s in result["spans"]] == ["PAN"]
        return result["scores"]["context"]

    pan_score = digit_scanner().scan({"body": card})["spans"][0]["score"]
    assert context("FINANCE", "ops@acme.example") == 0.5  # finance may send a card number inside
    # Not this role's job, or not to this destination: at most 1 - the PAN's score.
    vetoed = context("ENG", "ops@acme.example")
    assert vetoed < 0.01 and vetoed == pytest.approx(1 - pan_score, abs=1e-6)
    assert context("FINANCE", "me@gmail.com") == pytest.approx(1 - pan_score, abs=1e-6)
    # An outside party the organisation declares as its card processor is inside the workflow.
    assert context("FINANCE", "pay@cardco.example") < 0.01
    assert context("FINANCE", "pay@cardco.example", partner_classes={"cardco.example": "processor"}) == 0.5
    # Switched off, the model's own score is served.
    assert context("ENG", "ops@acme.example", scanner=digit_scanner(workflow_veto=False)) == 0.5


def test_partner_classes_must_name_an_outside_class():
    with pytest.raises(ContractError, match="partner_classes"):
        parse_scan_request({"body": "x", "meta": {"partner_classes": {"cardco.example": "internal"}}})


def test_the_scanner_serves_the_leetspeak_mark_only_to_a_model_trained_with_it():
    from hrm_core.serve.scanner import model_settings
    from hrm_core.tokens.features import LEET_CANDIDATE

    assert model_settings({"use_candidates": True})["leet_candidates"] is False  # configs from before
    message = parse_scan_request({"body": "thanks to W4rd4 G0d4"})
    for leet in (False, True):
        cand = tiny_scanner(leet_candidates=leet)._prepare(message).candidates
        assert (LEET_CANDIDATE in cand) is leet


def test_the_scanner_serves_the_census_name_mark_only_to_a_model_trained_with_it():
    from hrm_core.serve.scanner import model_settings
    from hrm_core.tokens.features import NAME_CANDIDATE

    assert model_settings({"use_candidates": True, "leet_candidates": True})["name_candidates"] is False
    assert model_settings({"use_candidates": True, "name_candidates": True})["name_candidates"] is True
    message = parse_scan_request({"body": "thanks to Jessica Garcia"})
    for named in (False, True):
        cand = tiny_scanner(name_candidates=named)._prepare(message).candidates
        assert (NAME_CANDIDATE in cand) is named
