import base64
import json
import re
from collections import defaultdict

import pytest

from hrm_core.data.contract import SPAN_TYPES, validate_example
from hrm_core.rules.checksums import luhn_valid, ssn_valid
from hrm_core.synth import SynthConfig, derive_labels, generate_examples, summarize, write_jsonl
from hrm_core.synth.hard_negatives import KINDS as HARD_NEGATIVE_KINDS

_ZW = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060"))
_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@pytest.fixture(scope="module")
def corpus():
    return generate_examples(2000, seed=11)


def span_text(ex, s):
    return ex.body[s.start : s.end]


def revealed_digits(text, kinds):
    """The digits an obfuscated number hides, undoing the technique named in `kinds`."""
    if "base64" in kinds:
        text = base64.b64decode(text).decode()
    elif "hex" in kinds:
        text = bytes.fromhex(text.removeprefix("0x")).decode()
    elif "spelled_digits" in kinds:
        return "".join(str(_WORDS.index(w)) for w in re.findall(r"[a-z]+", text))
    return re.sub(r"\D", "", text.translate(_ZW))


def test_same_seed_gives_identical_bytes_and_other_seeds_differ(tmp_path):
    a = write_jsonl(generate_examples(300, seed=3), tmp_path / "a.jsonl").read_bytes()
    b = write_jsonl(generate_examples(300, seed=3), tmp_path / "b.jsonl").read_bytes()
    c = write_jsonl(generate_examples(300, seed=4), tmp_path / "c.jsonl").read_bytes()
    assert a == b and a != c
    assert len(a.splitlines()) == 300
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # atomic: no leftovers


def test_jsonl_rows_revalidate_through_the_contract(tmp_path, corpus):
    path = write_jsonl(corpus[:200], tmp_path / "sub" / "x.jsonl")
    rows = [validate_example(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows == corpus[:200]


def test_ids_meta_and_sizes(corpus):
    assert len(corpus) == 2000
    assert [e.id for e in corpus] == [f"syn-11-{i}" for i in range(2000)]
    assert all(e.meta.source == "synthetic" and len(e.meta.org_domains) == 1 for e in corpus)
    assert len({e.meta.org_domains[0] for e in corpus}) >= 15  # the org domain varies
    assert {e.user.role for e in corpus} >= {
        "LEGAL",
        "FINANCE",
        "HR",
        "ENG",
        "SALES",
        "SECURITY",
        "EXEC",
        "SUPPORT",
    }
    assert generate_examples(0) == []
    with pytest.raises(ValueError):
        generate_examples(-1)


def test_labels_match_the_documented_rules(corpus):
    mismatches = [e.id for e in corpus if derive_labels(e) != e.labels.model_dump()]
    assert mismatches == []


def test_spans_are_trimmed_values(corpus):
    for ex in corpus:
        for s in ex.spans:
            text = span_text(ex, s)
            assert text == text.strip() and text, (ex.id, s)


def test_plain_numbers_are_valid_and_obfuscated_ones_hide_valid_numbers(corpus):
    checked = defaultdict(int)
    for ex in corpus:
        kinds = ex.meta.obfuscations
        for i, s in enumerate(ex.spans):
            if s.type not in ("PAN", "SSN") or getattr(ex.meta, "thread_split", None):
                continue
            hidden = i == ex.meta.obfuscated_span
            digits = revealed_digits(span_text(ex, s), kinds) if hidden else span_text(ex, s)
            valid = luhn_valid(digits) if s.type == "PAN" else ssn_valid(digits)
            assert valid, (ex.id, s.type, span_text(ex, s))
            checked[(s.type, hidden)] += 1
    assert min(checked.values()) >= 10 and len(checked) == 4


def test_obfuscated_examples_point_at_a_hidden_span(corpus):
    obfuscated = [e for e in corpus if e.labels.obfuscation]
    kinds = {k for e in obfuscated for k in e.meta.obfuscations}
    assert kinds >= {
        "base64",
        "hex",
        "homoglyph",
        "zero_width",
        "split_digits",
        "spelled_digits",
        "leetspeak",
    }
    for e in obfuscated:
        assert e.labels.sensitivity == 1 and e.labels.context == 0
        assert e.meta.obfuscated_span is not None  # every hidden value is pointed at, split halves too
        if e.meta.obfuscations == ["split_across_messages"]:
            continue  # `test_split_values_only_complete_across_two_messages`
        kind, s = e.meta.obfuscations[0], e.spans[e.meta.obfuscated_span]
        text = span_text(e, s)
        if kind == "base64":
            assert base64.b64decode(text, validate=True).decode() != text
        elif kind == "hex":
            assert bytes.fromhex(text.removeprefix("0x"))
        elif kind == "zero_width":
            assert text.translate(_ZW) != text
        elif kind == "homoglyph":
            assert not text.isascii()
        elif kind in ("split_digits", "spelled_digits"):
            assert s.type in ("PAN", "SSN", "PHONE")
        else:
            assert kind == "leetspeak" and re.search(r"[A-Za-z][0-9]|[0-9][A-Za-z]", text)


def test_hard_negatives_carry_no_span_and_are_not_sensitive(corpus):
    hard = [e for e in corpus if e.meta.hard_negative]
    assert len(hard) > 150
    for e in hard:
        assert e.spans == [] and e.meta.hard_negative_kinds
        assert set(e.meta.hard_negative_kinds) <= set(HARD_NEGATIVE_KINDS)
        assert (e.labels.sensitivity, e.labels.context, e.labels.obfuscation) == (0, 1, 0)
    assert {k for e in hard for k in e.meta.hard_negative_kinds} == set(HARD_NEGATIVE_KINDS)


def test_threads_are_well_formed(corpus):
    threads = defaultdict(list)
    for e in corpus:
        if e.thread_id is not None:
            threads[e.thread_id].append(e)
    assert len(threads) > 40
    for msgs in threads.values():
        assert [m.meta.thread_index for m in msgs] == list(range(len(msgs)))
        assert 2 <= len(msgs) <= 6 or msgs[-1].id == corpus[-1].id  # the last thread may be cut at n
        first = msgs[0]
        for m in msgs:
            assert (m.user, m.recipients, m.meta.org_domains, m.channel) == (
                first.user,
                first.recipients,
                first.meta.org_domains,
                first.channel,
            )


def test_split_values_only_complete_across_two_messages(corpus):
    by_thread = defaultdict(dict)
    for e in corpus:
        split = getattr(e.meta, "thread_split", None)
        if split:
            by_thread[e.thread_id][split["part"]] = e
    assert len(by_thread) >= 10
    for parts in by_thread.values():
        one, two = parts[1], parts[2]
        assert two.meta.thread_index == one.meta.thread_index + 1
        (s1,) = [s for s in one.spans if s.type == one.meta.thread_split["type"]]
        (s2,) = [s for s in two.spans if s.type == two.meta.thread_split["type"]]
        joined = span_text(one, s1) + span_text(two, s2)
        kind = one.meta.thread_split["type"]
        if kind == "PAN":
            assert luhn_valid(joined) and not luhn_valid(span_text(two, s2))
        elif kind == "SSN":
            assert ssn_valid(joined) and len(re.sub(r"\D", "", span_text(two, s2))) == 4
        for m, fragment in ((one, s1), (two, s2)):
            assert m.labels.obfuscation == 1 and m.labels.sensitivity == 1 and m.labels.context == 0
            # The fragment is the hidden value: the obfuscation evidence channel marks its tokens 1.
            assert m.spans[m.meta.obfuscated_span] == fragment


def test_balance_on_2000_examples(corpus):
    summary = summarize(corpus)
    for t in SPAN_TYPES:
        assert summary["span_example_share"][t] >= 0.04, t
    for head, p in summary["label_prevalence"].items():
        assert 0.15 <= p <= 0.85, (head, p)
    assert all(share > 0.05 for share in summary["channel_mix"].values())
    assert 0.1 <= summary["thread_share"] <= 0.35


def test_config_controls_the_mix():
    only_positives = generate_examples(
        300,
        seed=1,
        config=SynthConfig(positive_rate=1.0, hard_negative_rate=0.0, obfuscation_rate=0.0, thread_share=0.0),
    )
    assert all(e.labels.sensitivity == 1 and e.labels.obfuscation == 0 for e in only_positives)
    chat = generate_examples(200, seed=1, config=SynthConfig(channel_mix={"chat": 1.0}))
    assert {e.channel for e in chat} == {"chat"}
    assert all(
        e.thread_id is None for e in generate_examples(200, seed=1, config=SynthConfig(thread_share=0.0))
    )
    with pytest.raises(ValueError, match="positive_rate"):
        SynthConfig(positive_rate=0.9, hard_negative_rate=0.2)
    with pytest.raises(ValueError, match="channel_mix"):
        SynthConfig(channel_mix={"fax": 1.0})
