"""Carrier examples: contract-valid, spans on the planted and surrogate values, honest annotated types."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from hrm_core.synth.carriers import generate_carrier_examples, usable_documents
from hrm_core.synth.labels import derive_labels
from hrm_core.synth.value_sources import ValueSource

PROSE = (
    "The committee met on Tuesday. It reviewed the budget in detail. Members asked many questions. " * 8
).strip()
MAIL = "From: Ana Lima <ana.lima@rio.example>\nSubject: notes\n\n" + PROSE + "\n"
CODE = 'import os\n# from the docs: AKIAIOSFODNN7EXAMPLE\nKEY = os.environ["TOKEN"]\n' + "x = 1\n" * 80
DOCS = [
    {"doc_id": "m:1", "source": "mailfix", "kind": "mail", "text": MAIL, "annotated_types": ["EMAIL", "PHONE"],
     "spans": [{"type": "NAME", "start": 6, "end": 14}, {"type": "EMAIL", "start": 16, "end": 36}],
     "version": "0.2.3", "licence": "PDDL-1.0"},
    {"doc_id": "p:1", "source": "prosefix", "kind": "prose", "text": PROSE, "annotated_types": ["EMAIL", "PHONE"],
     "spans": [], "version": "0.2.3", "licence": "CC0-1.0"},
    {"doc_id": "c:1", "source": "codefix", "kind": "code", "text": CODE, "annotated_types": ["EMAIL"], "spans": [],
     "version": "3.11.2", "licence": "PSF-2.0"},
]  # fmt: skip
PROVENANCE = {f"carrier:{d['source']}": (d["doc_id"], d["kind"], d["version"], d["licence"]) for d in DOCS}


def test_examples_are_valid_and_every_planted_value_is_an_exact_span():
    examples, records = generate_carrier_examples(DOCS, 200, seed=1)
    assert len({e.id for e in examples}) == 200
    for ex, rec in zip(examples, records, strict=True):
        texts = [(s.type, ex.body[s.start : s.end]) for s in ex.spans]
        for p in rec["planted"]:
            assert (p["type"], p["value"]) in texts
        extra = ex.meta.model_extra or {}
        keys = ("carrier_doc", "carrier_kind", "carrier_version", "licence")
        assert PROVENANCE[ex.meta.source] == tuple(extra[k] for k in keys)
        assert ex.labels.model_dump() == derive_labels(ex)
        assert not {"NAME", "ADDR"} & set(ex.meta.annotated_types or [])


def test_doc_example_key_stays_o_and_is_recorded_as_hard_negative():
    examples, _ = generate_carrier_examples([DOCS[2]], 50, seed=2)
    for ex in examples:
        for m in re.finditer("AKIAIOSFODNN7EXAMPLE", ex.body):
            assert not any(s.start < m.end() and m.start() < s.end for s in ex.spans)
    assert any("doc_example_key" in ex.meta.hard_negative_kinds for ex in examples)  # type: ignore[attr-defined]


def test_documents_too_short_to_excerpt_are_refused_with_the_reason():
    short = {**DOCS[1], "text": "x" * 299}
    assert usable_documents([short, DOCS[0]]) == [DOCS[0]]
    with pytest.raises(ValueError, match="no carrier document of at least 300 characters"):
        generate_carrier_examples([short], 1)


def test_same_seed_same_examples():
    a, _ = generate_carrier_examples(DOCS, 30, seed=5)
    b, _ = generate_carrier_examples(DOCS, 30, seed=5)
    assert [e.model_dump() for e in a] == [e.model_dump() for e in b]


def test_value_sources_are_valid_and_varied():
    from stdnum import luhn
    from stdnum.us import ssn

    v = ValueSource(0)
    assert all(luhn.is_valid(re.sub(r"\D", "", v.card())) for _ in range(200))
    assert all(ssn.is_valid(re.sub(r"\D", "", v.ssn())) for _ in range(200))
    assert len({v.name() for _ in range(500)}) > 480
    assert len({v.email().split("@")[1] for _ in range(500)}) > 200
    assert not any(v.email().split("@")[1].startswith("example.") for _ in range(300))
    assert {v.token("aws_access_key_id")[:4] for _ in range(5)} == {"AKIA"}


def test_some_planted_values_are_hidden_and_labelled_obfuscated():
    from hrm_core.synth.obfuscation import KINDS_BY_TYPE

    examples, records = generate_carrier_examples(DOCS, 200, seed=1)
    hidden = [(e, r) for e, r in zip(examples, records, strict=True) if e.labels.obfuscation == 1]
    # obfuscation_rate 0.2 of the examples that got a value (about 155 of 200): a binomial count, so within
    # 3 standard deviations (about 15) of 20% whatever the frames draw; no example without a value is hidden.
    planted = sum(1 for r in records if r["planted"])
    assert 120 <= planted <= 190
    assert abs(len(hidden) - 0.2 * planted) <= 3 * (planted * 0.2 * 0.8) ** 0.5
    assert all(r["planted"] for _, r in hidden)
    for ex, rec in hidden:
        (technique,) = ex.meta.obfuscations
        first = rec["planted"][0]  # the first planted value is the hidden one, still a span of its type
        assert technique in KINDS_BY_TYPE[first["type"]]
        assert (first["type"], first["value"]) in [(s.type, ex.body[s.start : s.end]) for s in ex.spans]
    assert all(e.meta.obfuscations == [] for e in examples if e.labels.obfuscation == 0)


def test_mentions_shorten_a_name_as_running_text_does_and_never_to_a_title():
    v = ValueSource(4)
    faker = v.faker("en_US")  # Faker's name() gives titles and suffixes to some: Dr. Ann Lee MD
    forms: Counter[str] = Counter()
    for _ in range(2000):
        name = faker.name()
        words = [
            w
            for w in name.split()
            if not w.endswith(".")
            and w not in ("MD", "PhD", "DDS", "DVM", "MBA", "I", "II", "III", "IV", "V", "Jr", "Sr")
        ]
        first, last = words[0], words[-1]
        m = v.mention(name)
        if m == name:
            forms["full"] += 1
        elif m in (first, last):
            forms["alone"] += 1
        elif m in (f"{first} {last}".lower(), first.lower()):
            forms["lower"] += 1
        else:
            assert re.fullmatch(rf"{re.escape(first)} [A-Z]\. {re.escape(last)}", m), (name, m)
            forms["initial"] += 1
    # 0.5 full, 0.35 first name or surname alone, 0.1 lower case, 0.05 middle initial: each within about
    # 4 standard deviations of a binomial over 2,000 draws.
    assert 910 <= forms["full"] <= 1090
    assert 620 <= forms["alone"] <= 780
    assert 140 <= forms["lower"] <= 260
    assert 50 <= forms["initial"] <= 150


def test_running_text_gets_a_name_clause_at_its_rate_and_code_never():
    rates = {}
    for rate in (0.0, 0.4, 1.0):
        examples, records = generate_carrier_examples(DOCS, 300, seed=6, name_clause_rate=rate)
        for ex, rec in zip(examples, records, strict=True):
            for p in rec["planted"]:
                if p["planter"] == "name_clause":
                    assert p["type"] == "NAME" and rec["kind"] != "code"
                    assert ("NAME", p["value"]) in [(s.type, ex.body[s.start : s.end]) for s in ex.spans]
        text = [r for r in records if r["kind"] != "code"]
        rates[rate] = sum(any(p["planter"] == "name_clause" for p in r["planted"]) for r in text) / len(text)
    # about 200 running-text examples of 300: 0.4 within about 4 standard deviations (0.035 each)
    assert rates[0.0] == 0.0 and rates[1.0] == 1.0 and 0.26 <= rates[0.4] <= 0.54
    with pytest.raises(ValueError, match=r"between 0 and 1; got 1\.5"):
        generate_carrier_examples(DOCS, 1, name_clause_rate=1.5)
