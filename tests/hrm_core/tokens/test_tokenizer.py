from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrm_core.data.dsl import DSL_TAGS
from hrm_core.tokens.tokenizer import UNK_ID, DlpTokenizer, train_tokenizer
from hrm_core.tokens.training_text import sample_carrier_text
from tests.fixtures.carrier_text import CARRIER_DOCS, HELD_OUT_SENTENCE
from tests.fixtures.make_tiny_spm import TINY_SPM_PATH, fixture_texts


@pytest.fixture(scope="module")
def tok() -> DlpTokenizer:
    return DlpTokenizer.load(TINY_SPM_PATH)


def assert_offsets_exact(tok: DlpTokenizer, text: str) -> None:
    """Every token's offsets point at exactly the characters it stands for, in order, covering the text."""
    ids, offsets = tok.encode(text)
    assert len(ids) == len(offsets)
    covered = [0] * len(text)
    prev_end = 0
    for i, (tid, (s, e)) in enumerate(zip(ids, offsets, strict=True)):
        assert 0 <= s < e <= len(text), (i, s, e)
        assert e >= prev_end  # tokens come in text order
        piece = tok.id_to_piece(tid)
        if tok.is_byte(tid):
            # A byte piece stands for one character whose UTF-8 encoding contains that byte.
            assert e - s == 1 and int(piece[3:5], 16) in text[s].encode("utf-8")
        else:
            surface = piece.replace("▁", " ")
            # Offsets drop the whitespace a piece carries in front of a word, nothing else.
            assert text[s:e] == (surface.strip() or surface), (piece, text[s:e])
        for c in range(s, e):
            covered[c] = 1
        prev_end = e
    assert all(covered[c] for c, ch in enumerate(text) if not ch.isspace())
    assert UNK_ID not in ids


def test_exact_ids_on_committed_fixture(tok):
    ids, offsets = tok.encode("<BODY>\nHi John Smith, card 4111 1111.\n</BODY>")
    assert [tok.id_to_piece(i) for i in ids] == [
        "<BODY>", "\n", "H", "i", "▁", "J", "ohn", "▁Smith", ",", "▁car", "d",
        "▁", "4", "1", "1", "1", "▁", "1", "1", "1", "1", ".", "\n", "</BODY>",
    ]  # fmt: skip
    assert ids == [9, 14, 440, 332, 271, 444, 495, 508, 309, 463, 301, 271, 283, 282, 282, 282, 271, 282, 282, 282, 282, 272, 14, 10]  # fmt: skip
    assert offsets[7] == (15, 20)  # "▁Smith" is reported without its leading space
    assert tok.vocab_size == 650 and tok.pad_id == 0 and tok.mask_id == 13
    assert tok.tag_ids == {t: 4 + i for i, t in enumerate(DSL_TAGS)}


@pytest.mark.parametrize("symbol", [*DSL_TAGS, "<MASK>", "\n"])
def test_user_symbols_are_single_tokens(tok, symbol):
    ids, offsets = tok.encode(f"x{symbol}y")
    assert len(ids) == 3 and offsets[1] == (1, 1 + len(symbol))


def test_digits_are_split_one_per_token(tok):
    ids, _ = tok.encode("4111111111111111")
    assert len(ids) == 16 and len(set(ids)) == 2


@pytest.mark.parametrize(
    "text",
    [
        "card 🙂💳 ok",  # emoji (4-byte UTF-8)
        "客户的身份证号码",  # CJK
        "שלום עולם مرحبا",  # RTL: Hebrew, Arabic
        "41\u200b11 11\u200d11\ufeff",  # zero-width characters hiding a card number
        "a\x00b\r\n\tc\u00a0d",  # control characters and a no-break space
        "\U0001f469\u200d\U0001f4bb",  # emoji ZWJ sequence
    ],
)
def test_no_character_is_unknown_and_offsets_are_exact(tok, text):
    assert_offsets_exact(tok, text)
    ids, _ = tok.encode(text)
    assert tok.decode(ids) == text


def test_byte_fallback_pieces_of_one_character_share_its_span(tok):
    ids, offsets = tok.encode("x🙂y")
    assert [tok.is_byte(i) for i in ids] == [False, True, True, True, True, False]
    assert offsets == [(0, 1), (1, 2), (1, 2), (1, 2), (1, 2), (2, 3)]


def test_identity_normalization_keeps_homoglyphs_and_fullwidth_apart(tok):
    latin, cyrillic = tok.encode("e")[0], tok.encode("\u0435")[0]  # Latin e vs Cyrillic е
    assert latin != cyrillic
    ids, _ = tok.encode("１２")  # full-width digits are not folded to "12" (NFKC would)
    assert ids != tok.encode("12")[0] and tok.decode(ids) == "１２"


def test_raw_meta_space_character_keeps_its_offsets(tok):
    # U+2581 in the input looks like SentencePiece's space marker; offsets must still be right.
    _, offsets = tok.encode("x\u2581y")
    assert offsets == [(0, 1), (1, 2), (2, 3)]


# Fragments the tokenizer knows (words, digits, DSL tags) mixed with any Unicode character.
_TEXT = st.lists(
    st.one_of(
        st.sampled_from([*"abcdeJS@.:-_/ 0123456789\n\t", "John", "<BODY>", "\u200b", "é", "е", "🙂", "日"]),
        st.characters(exclude_categories=("Cs",), exclude_characters="\u2581"),
    ),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=_TEXT)
def test_offsets_and_decode_round_trip_on_arbitrary_text(tok, text):
    assert_offsets_exact(tok, text)
    assert tok.decode(tok.encode(text)[0]) == text


def test_offsets_exact_on_every_fixture_message(tok):
    for text in fixture_texts(100, seed=3):
        assert_offsets_exact(tok, text)


def test_train_tokenizer_writes_model_atomically_with_stats(tmp_path: Path):
    texts = fixture_texts(120, seed=1)
    out = tmp_path / "models" / "tokenizer.model"
    stats = train_tokenizer(texts, out, vocab_size=600, seed=0)
    assert sorted(p.name for p in out.parent.iterdir()) == ["tokenizer.model"]  # no temp file left
    tok = DlpTokenizer.load(out)
    assert stats.vocab_size == tok.vocab_size <= 600
    assert stats.n_examples == 120
    # 256 byte pieces + 4 specials + 11 user symbols; the rest is learned.
    assert stats.learned_pieces == tok.vocab_size - 256 - 4 - 11
    assert stats.byte_fallback_share < 0.01  # training text is almost all in-vocabulary
    n_tokens = sum(len(tok.encode(t)[0]) for t in texts)
    assert stats.mean_tokens_per_example == pytest.approx(n_tokens / 120)
    assert stats.chars_per_token == sum(map(len, texts)) / n_tokens
    assert tok.tag_ids["<BODY>"] == 9 and tok.mask_id == 13
    # Same texts and seed give the same model, byte for byte.
    train_tokenizer(texts, tmp_path / "again.model", vocab_size=600, seed=0)
    assert (tmp_path / "again.model").read_bytes() == out.read_bytes()


def test_train_tokenizer_refuses_empty_corpus(tmp_path: Path):
    with pytest.raises(ValueError):
        train_tokenizer(["", ""], tmp_path / "t.model", vocab_size=300)


@pytest.fixture(scope="module")
def carrier_tok(tmp_path_factory) -> DlpTokenizer:
    """The tokenizer of `test_train_tokenizer_writes_model_atomically_with_stats`, plus the carrier fixture."""
    path = tmp_path_factory.mktemp("carrier") / "tokenizer.model"
    carriers = sample_carrier_text(CARRIER_DOCS, max_chars=10_000, seed=0)
    train_tokenizer(fixture_texts(120, seed=1), path, vocab_size=600, seed=0, carrier_texts=carriers)
    return DlpTokenizer.load(path)


def test_carrier_text_makes_english_take_fewer_pieces(tmp_path: Path, carrier_tok):
    texts = fixture_texts(120, seed=1)
    dsl_only = train_tokenizer(texts, tmp_path / "dsl.model", vocab_size=600, seed=0)
    carriers = sample_carrier_text(CARRIER_DOCS, max_chars=10_000, seed=0)
    both = train_tokenizer(texts, tmp_path / "both.model", vocab_size=600, seed=0, carrier_texts=carriers)
    # The whole fixture (4 documents, 2,118 characters) is the sample; DSL stats stay on the DSL texts.
    assert (both.carrier_texts, both.carrier_chars, both.n_examples) == (4, 2118, 120)
    assert (dsl_only.carrier_texts, dsl_only.carrier_chars, dsl_only.carrier_chars_per_token) == (0, 0, 0.0)
    # A sentence the tokenizers never saw, made of the carrier fixture's words: 56 pieces -> 29.
    before = DlpTokenizer.load(tmp_path / "dsl.model").encode(HELD_OUT_SENTENCE)[0]
    after = carrier_tok.encode(HELD_OUT_SENTENCE)[0]
    assert (len(before), len(after)) == (56, 29)
    assert [carrier_tok.id_to_piece(i) for i in after][12:16] == ["▁the", "▁harbour", "▁town", "▁wa"]
    assert (tmp_path / "both.model").read_bytes() == carrier_tok.model_proto  # same inputs, same model


def test_offsets_stay_exact_with_carrier_pieces(carrier_tok):
    for text in [*fixture_texts(50, seed=3), *(t for _, t in CARRIER_DOCS), HELD_OUT_SENTENCE]:
        assert_offsets_exact(carrier_tok, text)
        assert carrier_tok.decode(carrier_tok.encode(text)[0]) == text


@settings(max_examples=200, deadline=None)
@given(text=_TEXT)
def test_carrier_tokenizer_round_trips_arbitrary_text(carrier_tok, text):
    assert_offsets_exact(carrier_tok, text)
    assert carrier_tok.decode(carrier_tok.encode(text)[0]) == text


_ASCII_TEXT = st.lists(
    st.one_of(
        st.sampled_from([*"abcdeJS@.:-_/ 0123456789\n\t", "  ", "John", "<BODY>", "\x07", "\x1c", "~"]),
        st.characters(max_codepoint=127),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=_ASCII_TEXT)
def test_ascii_fast_path_gives_the_per_piece_offsets(tok, text):
    # The cumulative-length path must agree with SentencePiece's own byte offsets, trims included.
    fast = tok._encode_ascii(text)
    assert fast is not None
    assert fast == tok._encode_proto(text) == tok.encode(text)


def test_ascii_fast_path_covers_fixture_messages_and_leaves_other_text_alone(tok):
    texts = [t for t in fixture_texts(60, seed=5) if t.isascii()]
    assert len(texts) > 30
    for text in texts:
        assert tok._encode_ascii(text) == tok._encode_proto(text)
    # Non-ASCII text never reaches the fast path; its offsets come from the pieces' byte offsets.
    assert tok.encode("naïve café 🙂") == tok._encode_proto("naïve café 🙂")
