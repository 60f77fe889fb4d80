"""Word n-gram overlap between training text and dev sets, on tiny texts counted by hand."""

from __future__ import annotations

from hrm_core.data.leakage import NgramOverlap, ngram_overlap, word_ngrams, words

TEN = "one two three four five six seven eight nine ten"  # 10 words: 3 distinct 8-grams


def test_words_are_lowercased_word_character_runs():
    assert words("Don't e-mail X_Y@Z.com, OK?\n") == ["don", "t", "e", "mail", "x_y", "z", "com", "ok"]


def test_word_ngrams_slide_one_word_at_a_time():
    assert list(word_ngrams("a b, C d", n=3)) == [("a", "b", "c"), ("b", "c", "d")]
    assert list(word_ngrams("seven words are not enough for eight", n=8)) == []


def test_overlap_counts_distinct_dev_ngrams_found_anywhere_in_training():
    dev = {
        "a": [TEN, "alpha beta gamma", TEN.upper()],  # the third repeats the first: no new n-gram
        "b": ["un deux trois quatre cinq six sept huit"],
    }
    train = [
        # DSL tags and punctuation only separate words; "body" adds two n-grams the dev set lacks.
        "<BODY>\nONE, two; three (four) five six seven EIGHT!\n</BODY>",
        "far too short",
    ]
    result = ngram_overlap(train, dev)
    assert result["a"] == NgramOverlap(
        n=8,
        dev_texts=3,
        dev_ngrams=3,
        shared_ngrams=1,
        dev_texts_with_shared=2,
        max_text_share=1 / 3,
        train_texts=2,
        train_ngrams=3,
    )
    assert result["a"].share == 1 / 3
    assert result["b"].as_dict() == {
        "n": 8, "dev_texts": 1, "dev_ngrams": 1, "shared_ngrams": 0, "dev_texts_with_shared": 0,
        "max_text_share": 0.0, "train_texts": 2, "train_ngrams": 3, "share": 0.0,
    }  # fmt: skip


def test_a_copied_dev_text_is_found_whole_and_shorter_n_finds_more():
    copied = ngram_overlap([f"quoted: {TEN} end"], {"a": [TEN]})["a"]
    assert (copied.shared_ngrams, copied.dev_ngrams, copied.share, copied.max_text_share) == (3, 3, 1.0, 1.0)
    # "five six seven" is the only 3-gram of the dev text in the training text.
    short = ngram_overlap(["five six seven"], {"a": [TEN]}, n=3)["a"]
    assert (short.shared_ngrams, short.dev_ngrams, short.train_ngrams) == (1, 8, 1)


def test_an_empty_dev_set_has_share_zero():
    result = ngram_overlap([TEN], {"none": []})["none"]
    assert (result.dev_texts, result.dev_ngrams, result.share, result.max_text_share) == (0, 0, 0.0, 0.0)
