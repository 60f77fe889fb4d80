"""Whole-span decoding: hand-built logit matrices with exact expected spans, and Viterbi against brute force."""

import itertools
import re

import numpy as np
import pytest

from hrm_core.data.contract import BIO_TAGS, TAG_TO_ID
from hrm_core.tokens.decoding import (
    START,
    TRANSITIONS,
    _viterbi,
    bio_viterbi,
    decode_spans,
    drop_lone_id_fragments,
    log_softmax,
    snap_span,
    tag_runs,
)


def probs_row(**mass: float) -> np.ndarray:
    """One token's tag probabilities (``B_PAN=0.7``); O takes the rest, every other tag a floor of 1e-4."""
    p = np.full(len(BIO_TAGS), 1e-4)
    for name, v in mass.items():
        p[TAG_TO_ID[name.replace("_", "-")]] = v
    p[0] = 0.0
    p[0] = 1.0 - p.sum()
    return p


def logits(*rows: np.ndarray) -> np.ndarray:
    return np.log(np.stack(rows))  # [T, 21]; log-probabilities are logits whose softmax is the row


def names(path: np.ndarray) -> list[str]:
    return [BIO_TAGS[t] for t in path]


def test_a_type_flip_inside_a_card_number_is_one_pan_span():
    x = logits(probs_row(B_PAN=0.8), probs_row(I_SSN=0.5, I_PAN=0.4), probs_row(I_PAN=0.8))
    assert names(x.argmax(-1)) == ["B-PAN", "I-SSN", "I-PAN"]
    assert names(bio_viterbi(x)) == ["B-PAN", "I-PAN", "I-PAN"]
    spans = decode_spans(x, [(0, 4), (5, 9), (10, 14)])
    assert [s[:3] for s in spans] == [("PAN", 0, 14)]
    assert spans[0][3] == pytest.approx((0.8 + 1e-4 + 0.4 + 1e-4 + 0.8 + 1e-4) / 3)


def test_a_doubtful_piece_inside_a_value_does_not_cut_it():
    # The middle piece leans O (0.4) but the next piece is surely a continuation, not a beginning.
    x = logits(probs_row(B_PAN=0.9), probs_row(I_PAN=0.35, I_SSN=0.25), probs_row(I_PAN=0.95))
    assert names(x.argmax(-1)) == ["B-PAN", "O", "I-PAN"]
    assert [s[:3] for s in decode_spans(x, [(0, 4), (5, 9), (10, 14)])] == [("PAN", 0, 14)]


def test_an_inside_tag_cannot_open_the_message():
    x = logits(probs_row(I_EMAIL=0.6, B_EMAIL=0.3), probs_row(I_EMAIL=0.9), probs_row())
    assert names(bio_viterbi(x)) == ["B-EMAIL", "I-EMAIL", "O"]
    assert [s[:3] for s in decode_spans(x, [(0, 5), (5, 17), (18, 20)])] == [("EMAIL", 0, 17)]


def test_adjacent_values_of_two_types_stay_two_spans():
    # "Ann Lee" then an e-mail: argmax reads the e-mail's first piece as I-EMAIL, which cannot follow I-NAME.
    x = logits(
        probs_row(B_NAME=0.9),
        probs_row(I_NAME=0.9),
        probs_row(I_EMAIL=0.6, B_EMAIL=0.35),
        probs_row(I_EMAIL=0.9),
    )
    assert names(bio_viterbi(x)) == ["B-NAME", "I-NAME", "B-EMAIL", "I-EMAIL"]
    spans = decode_spans(x, [(0, 3), (4, 7), (8, 12), (12, 24)])
    assert [s[:3] for s in spans] == [("NAME", 0, 7), ("EMAIL", 8, 24)]


def test_two_adjacent_values_of_one_type_split_where_a_beginning_wins():
    x = logits(probs_row(B_NAME=0.9), probs_row(B_NAME=0.6, I_NAME=0.3))
    assert [s[:3] for s in decode_spans(x, [(0, 4), (5, 9)])] == [("NAME", 0, 4), ("NAME", 5, 9)]


def test_o_only_and_empty_inputs_decode_to_nothing():
    x = logits(*[probs_row() for _ in range(5)])
    assert bio_viterbi(x).tolist() == [0] * 5
    assert decode_spans(x, [(i, i + 1) for i in range(5)]) == []
    assert decode_spans(np.zeros((0, 21)), []) == []
    assert tag_runs([]) == []


def test_agrees_with_the_old_decoder_where_it_was_right():
    # The case the majority-type decoder (features.decode_tag_probs_to_spans, before issue 11) pinned.
    x = logits(
        probs_row(B_SECRET=0.7),
        probs_row(I_DBURI=0.5, I_SECRET=0.4),
        probs_row(I_SECRET=0.8),
        probs_row(),
        probs_row(B_NAME=0.9),
        probs_row(B_NAME=0.6, I_NAME=0.3),
    )
    offsets = [(0, 3), (3, 7), (7, 10), (10, 11), (12, 16), (16, 20)]
    spans = decode_spans(x, offsets)
    assert [s[:3] for s in spans] == [("SECRET", 0, 10), ("NAME", 12, 16), ("NAME", 16, 20)]


def test_gold_paths_decode_to_their_own_spans():
    tags = [TAG_TO_ID[t] for t in ("O", "B-PAN", "I-PAN", "B-SSN", "O", "I-NAME", "I-NAME", "B-NAME")]
    assert tag_runs(tags) == [(2, 1, 3), (3, 3, 4), (8, 5, 7), (8, 7, 8)]
    assert tag_runs([TAG_TO_ID["B-PAN"], -100, TAG_TO_ID["I-PAN"]]) == [(2, 0, 1), (2, 2, 3)]
    x = np.full((len(tags), 21), -5.0)
    x[np.arange(len(tags)), [t if BIO_TAGS[t] != "I-NAME" or i != 5 else TAG_TO_ID["B-NAME"]
                             for i, t in enumerate(tags)]] = 5.0  # fmt: skip
    assert [s[:3] for s in decode_spans(x, [(i, i + 1) for i in range(len(tags))])] == [
        ("PAN", 1, 3), ("SSN", 3, 4), ("NAME", 5, 7), ("NAME", 7, 8)
    ]  # fmt: skip


def _path_score(emit: np.ndarray, path: np.ndarray) -> float:
    return float(
        START[path[0]] + emit[np.arange(len(path)), path].sum() + TRANSITIONS[path[:-1], path[1:]].sum()
    )


@pytest.mark.parametrize("seed", range(4))
def test_viterbi_is_the_best_valid_path_by_brute_force(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=3.0, size=(3, 21))
    emit = log_softmax(x)
    best = max(itertools.product(range(21), repeat=3), key=lambda p: _path_score(emit, np.array(p)))
    assert bio_viterbi(x).tolist() == list(best)


@pytest.mark.parametrize("o_shift", [0.0, 2.0, 4.0, 8.0])
def test_skipping_confident_o_tokens_gives_the_plain_viterbi_path(o_shift):
    rng = np.random.default_rng(int(o_shift))
    for _ in range(20):
        x = rng.normal(scale=2.0, size=(int(rng.integers(1, 80)), 21))
        x[:, 0] += o_shift
        x[:, 2::2] += rng.normal(size=(1, 10))  # some types lean I over B, which forbids a cut
        path = bio_viterbi(x)
        assert path.tolist() == _viterbi(log_softmax(x)).tolist()
        assert np.isfinite(_path_score(log_softmax(x), path))  # BIO-valid


# ---------------------------------------------------------------------------- fitting spans to the text


@pytest.mark.parametrize(
    ("text", "span", "expected"),
    [
        ("Upon written request", (2, 20), (0, 20)),  # a run one piece short at the start: the whole word
        ("at 11 Elm St, Raleigh", (4, 12), (3, 12)),  # ... and of a digit run
        ("call Maria Mensah now", (5, 17), (5, 17)),  # whole words already: unchanged
        ("Maria  Mensah", (0, 6), (0, 5)),  # trailing whitespace off
        ("file scan_98765.pdf", (10, 15), (10, 15)),  # underscore and punctuation are word edges
        ("card 41111111 ok", (7, 10), (5, 13)),  # both ends inside one digit run
        ('token="%exfr9+Y%" x', (7, 16), (7, 16)),  # punctuation ends are left as they are...
        ('token="%exfr9+Y%" x', (7, 17), (7, 16)),  # ... but an odd quote comes off its end
        ('pw="SjBReXg=="', (4, 14), (4, 13)),
        ("O'Brien's file", (0, 7), (0, 7)),  # a quote inside a value stays
        ("call (098) 67859 now", (6, 16), (5, 16)),  # an unpaired bracket takes its partner outside
        ("(call 555-1234) now", (6, 15), (6, 14)),  # ... or comes off the end it sits on
        ("at [10.0.0.1] x", (3, 12), (3, 13)),
        ("a (b)c d", (2, 6), (2, 6)),  # paired: unchanged
        ("pw: 4s+I^)glSR", (4, 14), (4, 14)),  # an unpaired bracket inside a value stays
        ("a\u200bb\u2060c", (1, 2), None),  # a zero-width character alone is no value
        ("x \u200bAKIA1234\u200d y", (2, 12), (3, 11)),  # zero-width ends come off, the value stays
        ("   ", (0, 3), None),
    ],
)
def test_snap_span_fits_a_span_to_whole_visible_words(text, span, expected):
    assert snap_span(text, *span) == expected


def test_names_and_places_go_on_across_a_hyphen_or_apostrophe():
    text = "Hi Mei-Ling Chen and Hana O'Brien's cat, Saint-Denis; x-ray"
    assert snap_span(text, 3, 6, "NAME") == (3, 16)  # Mei -> Mei-Ling, and Chen beside it (a census name)
    assert snap_span("Mei-Ling", 0, 3, "NAME") == (0, 8)  # Mei -> Mei-Ling
    assert snap_span(text, 7, 16, "NAME") == (3, 16)  # Ling Chen -> Mei-Ling Chen
    assert snap_span(text, 21, 27, "NAME") == (21, 33)  # Hana O -> Hana O'Brien
    assert snap_span(text, 21, 33, "NAME") == (21, 33)  # the possessive after it stays outside
    assert snap_span(text, 47, 52, "ADDR") == (41, 52)  # Denis -> Saint-Denis
    assert snap_span(text, 54, 55, "SECRET") == (54, 55)  # other types keep their edges (x of x-ray)
    assert snap_span("Ann- Lee", 0, 3, "NAME") == (0, 3)  # a hyphen before a space joins nothing


def test_a_name_loses_its_possessive_and_other_types_keep_theirs():
    text = "Tomás Moreau's email; Moreau\u2019s too"
    assert snap_span(text, 0, 14, "NAME") == (0, 12)
    assert snap_span(text, 22, 30, "NAME") == (22, 28)
    assert snap_span(text, 0, 14, "ADDR") == (0, 14) and snap_span(text, 0, 14) == (0, 14)
    assert snap_span("\u2019s", 0, 2, "NAME") == (0, 2)  # nothing but the possessive: left as it is


def test_a_phone_in_digits_needs_a_phone_numbers_count_of_digits():
    text = (
        "Suite 26, call 83393 or (72) 754-186; five five five 0199; 415\u200b555\u200b0199; 1234567890123456"
    )

    def at(value: str) -> tuple[int, int]:
        return text.index(value), text.index(value) + len(value)

    assert snap_span(text, *at("26"), "PHONE") is None  # 2 digits
    assert snap_span(text, *at("83393"), "PHONE") is None  # 5
    assert snap_span(text, *at("(72) 754-186"), "PHONE") == at("(72) 754-186")  # 8, brackets and separators
    assert snap_span(text, *at("five five five 0199"), "PHONE") == at("five five five 0199")  # spelled out
    assert snap_span(text, *at("Suite"), "PHONE") is None  # no digit, no digit word: no phone
    assert snap_span("oh five five", 0, 12, "PHONE") == (0, 12)  # digit words alone: kept
    assert snap_span(text, *at("415\u200b555\u200b0199"), "PHONE") == at("415\u200b555\u200b0199")  # 10
    assert snap_span(text, *at("1234567890123456"), "PHONE") is None  # 16: over E.164's 15
    assert snap_span(text, *at("26"), "ADDR") == at("26") and snap_span(text, *at("83393"), "NAME") == at(
        "83393"
    )


def test_a_phone_after_a_not_a_phone_word_is_dropped_unless_a_phone_cue_stands_there():
    # The regex baseline's context rule (`phone_context_ok`): an address's unit, an order or ticket number
    text = "Dr. Cindy Holinka Apt. 117 5720 Skoanveie; Suite 541 6343 Main; order # 415 555 0100"
    for value in ("117 5720", "541 6343", "415 555 0100"):
        at = (text.index(value), text.index(value) + len(value))
        assert snap_span(text, *at, "PHONE") is None
        assert snap_span(text, *at, "ADDR") == at  # the rule is a PHONE's only
    for kept in ("Phone no. 541 6343", "Fax # 541 6343", "He said 541 6343", "Cassiano\n541 6343"):
        at = (kept.index("541"), len(kept))
        assert snap_span(kept, *at, "PHONE") == at  # a cue wins; "said" and "Cassiano" are no "id", "no"


def test_a_card_or_ssn_needs_digits_and_a_lone_piece_of_few_digits_is_none():
    text = "USS Lorenzen FPO AP; he just turned 29; 340 then 946 then 04; ending 4242; one two three four"

    def at(value: str) -> tuple[int, int]:
        return text.index(value), text.index(value) + len(value)

    assert snap_span(text, *at("FPO"), "SSN") is None and snap_span(text, *at("FPO"), "PAN") is None
    assert snap_span(text, *at("FPO"), "ADDR") == at("FPO")  # the rule is a card's and an SSN's only
    assert snap_span(text, *at("one two three four"), "SSN") == at("one two three four")  # digit words
    pieces = [("PAN", *at(v), 0.9) for v in ("340", "946", "04")]  # one value split by the generator
    spans = [("SSN", *at("29"), 0.3), *pieces, ("PAN", *at("4242"), 0.8), ("PHONE", *at("29"), 0.5)]
    # The age goes (2 digits, no SSN beside it); the pieces stay (each has one beside it); the last four
    # of a card stay (4 digits); the rule is a card's and an SSN's only.
    assert drop_lone_id_fragments(spans, text) == [
        *pieces,
        ("PAN", *at("4242"), 0.8),
        ("PHONE", *at("29"), 0.5),
    ]
    # Through the decoder: a lone two-digit run tagged SSN is not served.
    offsets = [(i, i + 1) for i in range(len("turned 29"))]
    rows = [probs_row() for _ in offsets]
    rows[7], rows[8] = probs_row(B_SSN=0.9), probs_row(I_SSN=0.9)
    assert decode_spans(logits(*rows), offsets, "turned 29") == []
    # The same run in "2929" snaps out to the word's edge: four digits, served.
    assert [s[:3] for s in decode_spans(logits(*rows), offsets, "turned 2929")] == [("SSN", 7, 11)]


def test_decode_spans_with_the_text_snaps_and_drops_invisible_runs():
    text = "Upon x\u200b y"
    # Tokens: "Up" O, "on" B-MATTER, " x" O, the zero-width space B-SECRET, "y" O.
    offsets = [(0, 2), (2, 4), (5, 6), (6, 7), (8, 9)]
    x = logits(probs_row(), probs_row(B_MATTER=0.9), probs_row(), probs_row(B_SECRET=0.9), probs_row())
    assert [s[:3] for s in decode_spans(x, offsets)] == [("MATTER", 2, 4), ("SECRET", 6, 7)]
    assert [s[:3] for s in decode_spans(x, offsets, text)] == [("MATTER", 0, 4)]


def _tokens(text: str) -> list[tuple[int, int]]:
    """Words and single punctuation marks, as a tokenizer's pieces would cut them."""
    return [m.span() for m in re.finditer(r"\w+|[^\w\s]", text)]


def _tagged(text: str, offsets: list[tuple[int, int]], runs: list[tuple[str, str]]) -> np.ndarray:
    """Logits with one run per ``(type, words)``: B on the first token inside the words' place, I on the rest."""
    rows = [probs_row() for _ in offsets]
    for kind, words in runs:
        at = text.index(words)
        inside = [k for k, (s, e) in enumerate(offsets) if at <= s and e <= at + len(words)]
        for k in inside:
            rows[k] = probs_row(**{("B_" if k == inside[0] else "I_") + kind: 0.9})
    return logits(*rows)


def test_an_nda_run_becomes_the_clauses_it_touches_without_the_lead_in():
    text = (
        "Thanks all.\nReminder of the clause: The Recipient shall not disclose it to Litware S.A. staff"
        " for five (5) years. Please confirm.\nJames Adeyemi, 612 Cedar Lane"
    )
    clause = "The Recipient shall not disclose it to Litware S.A. staff for five (5) years."
    offsets = _tokens(text)
    x = _tagged(
        text, offsets, [("NDA", "Reminder of the clause: The"), ("NDA", "disclose it"), ("NDA", "5) years")]
    )
    # Three runs, one clause: the lead-in is cut off, the runs join, the stop after S.A. does not end it.
    spans = [s[:3] for s in decode_spans(x, offsets, text)]
    assert spans == [("NDA", text.index(clause), text.index(clause) + len(clause))]
    # A run that goes on over a stop and a line break is the sentences it touches, each whole.
    x = _tagged(
        text,
        offsets,
        [("NDA", "disclose it to Litware S.A. staff for five (5) years. Please confirm.\nJames")],
    )
    got = [text[s:e] for _, s, e, _ in decode_spans(x, offsets, text)]
    assert got == [clause, "Please confirm.", "James Adeyemi, 612 Cedar Lane"]


def test_name_runs_with_only_spaces_between_are_one_name_and_others_stay_apart():
    text = "Luca Gupta and Wei Bianchi, Liam\tPatel; Ruiz, Mateo"
    offsets = _tokens(text)
    names = ["Luca", "Gupta", "Wei", "Bianchi", "Liam", "Patel", "Ruiz", "Mateo"]
    spans = decode_spans(_tagged(text, offsets, [("NAME", n) for n in names]), offsets, text)
    assert [text[s:e] for _, s, e, _ in spans] == [
        "Luca Gupta",
        "Wei Bianchi",
        "Liam\tPatel",
        "Ruiz",
        "Mateo",
    ]
    # The joined span's score is its pieces' scores weighted by their lengths.
    first, second = (decode_spans(_tagged(text, offsets, [("NAME", n)]), offsets, text)[0] for n in names[:2])
    assert spans[0][3] == pytest.approx((first[3] * 4 + second[3] * 5) / 9)
    # Other types are not joined across a space: two phone numbers side by side stay two.
    text = "415-555-0199 415-555-0100"
    x = logits(probs_row(B_PHONE=0.9), probs_row(B_PHONE=0.9))
    assert [s[:3] for s in decode_spans(x, [(0, 12), (13, 25)], text)] == [
        ("PHONE", 0, 12),
        ("PHONE", 13, 25),
    ]


def test_viterbi_of_many_sequences_at_once_is_each_ones_own_path():
    from hrm_core.tokens.decoding import _viterbi_many

    rng = np.random.default_rng(7)
    # Ties included: rounded logits make equal path scores common, and both must break them alike.
    emits = [log_softmax(np.round(rng.normal(0, 2, (n, 21)))) for n in (1, 2, 5, 3, 9, 2, 1, 7)]
    many = _viterbi_many(emits)
    for e, got in zip(emits, many, strict=True):
        single = np.zeros(e.shape[0], dtype=np.int64)
        score, back = e[0] + START, []
        for t in range(1, e.shape[0]):  # the textbook recursion, one sequence at a time
            cand = score[:, None] + TRANSITIONS
            back.append(cand.argmax(0))
            score = cand.max(0) + e[t]
        single[-1] = score.argmax()
        for t in range(e.shape[0] - 1, 0, -1):
            single[t - 1] = back[t - 1][single[t]]
        np.testing.assert_array_equal(got, single)
    assert _viterbi_many([]) == []


def test_a_batch_decodes_to_each_messages_own_spans():
    from hrm_core.tokens.decoding import VITERBI_GROUP, _bio_paths, decode_spans_many

    rng = np.random.default_rng(11)
    batch = []
    for n in (0, 1, 40, 300, 7, 120):
        x = np.round(rng.normal(0, 2, (n, 21)))  # ties included
        x[:, 0] += rng.choice([0.0, 6.0], size=n)  # confident O tokens cut the messages into stretches
        batch.append(x)
    text = "w " * 300
    offsets = [[(2 * i, 2 * i + 1) for i in range(x.shape[0])] for x in batch]
    # More uncertain stretches than one Viterbi group, so stretches of different messages share groups.
    stretches = sum(np.count_nonzero(np.diff(np.r_[0, (x[:, 0] < 6.0).astype(int), 0]) == 1) for x in batch)
    assert stretches > VITERBI_GROUP
    paths = _bio_paths([log_softmax(x) for x in batch])
    assert [p.tolist() for p in paths] == [bio_viterbi(x).tolist() for x in batch]
    for x, path in zip(batch[1:], paths[1:], strict=True):  # optimal (ties may pick another best path)
        emit = log_softmax(x)
        assert _path_score(emit, path) == pytest.approx(_path_score(emit, _viterbi(emit)), abs=1e-9)
    many = decode_spans_many([(x, o, text) for x, o in zip(batch, offsets, strict=True)])
    assert many == [decode_spans(x, o, text) for x, o in zip(batch, offsets, strict=True)]
    assert sum(map(len, many)) > 20
    with pytest.raises(ValueError, match="offsets"):
        decode_spans_many([(batch[2], offsets[2][:-1], None)])


def test_a_name_goes_on_over_census_names_beside_it_and_stops_at_other_words():
    def snapped(text: str, words: str) -> str:
        at = text.index(words)
        got = snap_span(text, at, at + len(words), "NAME")
        assert got is not None
        return text[got[0] : got[1]]

    text = "as Clara R. Dickson says, Mary Smith Suite 5 and MARY SMITH"
    assert snapped(text, "Dickson") == "Clara R. Dickson"  # over a middle initial, leftwards
    assert snapped(text, "Clara") == "Clara R. Dickson"
    assert snapped(text, "Mary") == "Mary Smith"  # not over "Suite": off the lists
    assert snapped(text, "MARY") == "MARY"  # capitals alone are not a capitalized word
    # A possessive ends a name and is no start of one: "Smith's" stays apart from the run after it.
    text = "read Mary Smith's personal notes"
    assert snapped(text, "Mary") == "Mary Smith"
    assert snapped(text, "personal") == "personal"
    # Listed words that are mostly something else there: a salutation, a day.
    assert (
        snapped("Dear Clara,\nSmith", "Clara") == "Clara" and snapped("see Clara Monday", "Clara") == "Clara"
    )
    # Only spaces: a comma or a line break between is another name or another line.
    assert snapped("Clara\nSmith", "Clara") == "Clara"
    assert snapped("Clara, Smith", "Smith") == "Smith"


def test_a_name_run_over_a_list_or_a_neighbouring_word_becomes_the_names_in_it():
    from hrm_core.tokens.decoding import name_pieces

    def names(text: str) -> list[str]:
        return [text[a:b] for a, b in name_pieces(text, 0, len(text))]

    assert names("Gaetane, Hannah, Derek and Andrew") == ["Gaetane", "Hannah", "Derek", "Andrew"]
    assert names("Doyle & Gonzalez") == ["Doyle", "Gonzalez"]
    assert names("Ruiz, Mateo") == ["Ruiz, Mateo"]  # one comma: a name written surname first
    assert names("Julian Azevedo concert") == ["Julian Azevedo"]  # lower-case ends come off
    assert names("commenter Stephan Fenstermacher,") == ["Stephan Fenstermacher"]
    assert names("van Gogh") == ["van Gogh"] and names("Ana da Costa") == ["Ana da Costa"]  # particles stay
    assert names("jack") == ["jack"] and names("mei ling") == ["mei ling"]  # lower case only: a chat name
    # Through the decoder: one run over "Ana, Bo, Cy and Di Lee said" is four names, "said" left out.
    text = "Ana, Bo, Cy and Di Lee said"
    offsets = _tokens(text)
    spans = decode_spans(_tagged(text, offsets, [("NAME", text)]), offsets, text)
    assert [text[s:e] for _, s, e, _ in spans] == ["Ana", "Bo", "Cy", "Di Lee"]
