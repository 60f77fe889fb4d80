"""The carrier sample the tokenizer trains on: line excerpts, per-kind budgets, a seeded sample."""

from __future__ import annotations

from hrm_core.tokens.training_text import kind_budgets, line_excerpts, sample_carrier_text
from tests.fixtures.carrier_text import CARRIER_DOCS


def test_line_excerpts_keep_whole_lines_and_cut_only_a_line_too_long():
    assert line_excerpts("a\nbb\nccc\n", max_chars=5) == ["a\nbb\n", "ccc\n"]
    text = "x" * 12 + "\ny\n"
    assert line_excerpts(text, max_chars=5) == ["xxxxx", "xxxxx", "xx\ny\n"]
    assert "".join(line_excerpts(text, max_chars=5)) == text
    assert line_excerpts("") == []


def test_kind_budgets_share_equally_and_pass_on_what_a_small_kind_lacks():
    # prose has 10 of its 40; code then gets 40 of 55; mail takes the 70 left.
    assert kind_budgets({"mail": 100, "prose": 10, "code": 40}, 120) == {"prose": 10, "code": 40, "mail": 70}
    assert kind_budgets({"a": 5, "b": 7}, 100) == {"a": 5, "b": 7}
    assert kind_budgets({"a": 50, "b": 50}, 0) == {"a": 0, "b": 0}


def test_sample_takes_each_kind_up_to_its_budget_in_a_seeded_order():
    sample = sample_carrier_text(CARRIER_DOCS, max_chars=1000, excerpt_chars=200, seed=0)
    # 250 characters a kind (each has more); the excerpt that crosses the budget is kept whole.
    kind_of = {e: kind for kind, text in CARRIER_DOCS for e in line_excerpts(text, 200)}
    assert [(kind_of[e], len(e)) for e in sample] == [
        ("code", 184), ("code", 176), ("legal", 183), ("legal", 167),
        ("mail", 116), ("mail", 186), ("prose", 181), ("prose", 192),
    ]  # fmt: skip
    assert sample == sample_carrier_text(CARRIER_DOCS, max_chars=1000, excerpt_chars=200, seed=0)
    assert sample != sample_carrier_text(CARRIER_DOCS, max_chars=1000, excerpt_chars=200, seed=1)


def test_a_budget_over_the_whole_corpus_takes_every_excerpt_once():
    sample = sample_carrier_text(CARRIER_DOCS, max_chars=10_000, seed=0)
    assert sample == [text for _, text in sorted(CARRIER_DOCS)]  # each document is one excerpt, kind order
    assert sample_carrier_text([], max_chars=10_000) == []
