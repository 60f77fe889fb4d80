"""SentencePiece tokenizer for DSL text, with exact character offsets for every token.

Settings and why:

- **unigram** model: Viterbi segmentation over a scored vocabulary, SentencePiece's default; with
  ``hard_vocab_limit=False`` it trains on tiny corpora (tests, smoke runs) without failing, and it
  needs no merge table, so the ``.model`` file is the whole artifact.
- **identity normalization**, no dummy prefix, extra whitespace kept: the tokenizer sees the exact
  characters the DLP spans point at. NFKC would fold homoglyphs (Cyrillic ``е`` vs Latin ``e``) and
  full-width digits into plain ones and shift offsets, hiding exactly what the obfuscation head must see.
- **byte fallback**: a character outside the vocabulary becomes its UTF-8 bytes, never ``<unk>``.
- **split digits** and SentencePiece's script splitting (letters never share a piece with punctuation
  or digits): values such as ``4111 1111 ...`` or ``bob@corp.example`` start and end on token
  boundaries, which keeps BIO alignment loss near zero.
- DSL tags, ``<MASK>`` and ``"\\n"`` are user-defined symbols, so each is always exactly one token
  (a newline never glues onto a word and moves a span boundary).
"""

from __future__ import annotations

import io
import os
import random
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import sentencepiece as spm

from hrm_core.data.dsl import DSL_TAGS

MASK_TOKEN = "<MASK>"
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
# User-defined symbols are matched before segmentation; "\n" keeps line breaks out of word pieces.
USER_SYMBOLS: tuple[str, ...] = (*DSL_TAGS, MASK_TOKEN, "\n")
# Enough sentences to learn a DSL vocabulary; more only slows training down.
MAX_TRAINING_SENTENCES = 200_000
# DSL texts are whole messages; SentencePiece silently drops "sentences" longer than this many bytes.
MAX_SENTENCE_BYTES = 1 << 16


@dataclass(frozen=True)
class TokenizerStats:
    """What the tokenizer asset reports: size of the vocabulary and how it fits the training text."""

    vocab_size: int
    learned_pieces: int  # pieces that are neither control, user-defined nor byte-fallback symbols
    byte_fallback_share: float  # share of training-text tokens that are <0xNN> byte pieces
    mean_tokens_per_example: float
    n_examples: int
    chars_per_token: float  # on the DSL texts
    carrier_texts: int = 0  # carrier excerpts trained on besides the DSL texts
    carrier_chars: int = 0
    carrier_chars_per_token: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class DlpTokenizer:
    """A loaded SentencePiece model that returns ids with per-token character offsets."""

    def __init__(self, model_proto: bytes):
        self._sp = spm.SentencePieceProcessor(model_proto=model_proto)
        self.model_proto = model_proto
        self._ascii_table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @classmethod
    def load(cls, path: Path | str) -> DlpTokenizer:
        """Load a ``.model`` file written by `train_tokenizer`."""
        return cls(Path(path).read_bytes())

    @property
    def vocab_size(self) -> int:
        return int(self._sp.get_piece_size())

    @property
    def pad_id(self) -> int:
        return int(self._sp.pad_id())

    @property
    def mask_id(self) -> int:
        return int(self._sp.piece_to_id(MASK_TOKEN))

    @property
    def body_tag_id(self) -> int:
        """Token id of ``<BODY>``: where a message's header ends (`hrm_core.tokens.windows.header_length`)."""
        return int(self._sp.piece_to_id("<BODY>"))

    @property
    def tag_ids(self) -> dict[str, int]:
        """Token id of each DSL tag (``"<BODY>" -> 7`` ...)."""
        return {t: int(self._sp.piece_to_id(t)) for t in DSL_TAGS}

    def id_to_piece(self, token_id: int) -> str:
        return str(self._sp.id_to_piece(token_id))

    def is_byte(self, token_id: int) -> bool:
        return bool(self._sp.is_byte(token_id))

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids and, per token, the (start, end) character offsets of its visible characters.

        Offsets index ``text`` (end exclusive). A piece that carries whitespace in front of a word
        (SentencePiece's ``▁``) is reported without it, as Hugging Face's ``trim_offsets`` does, so a
        span's first token starts at the span's first character; whitespace-only pieces keep their
        own span. The byte-fallback pieces of one character all report that character's span.
        """
        if text.isascii():
            fast = self._encode_ascii(text)
            if fast is not None:
                return fast
        return self._encode_proto(text)

    def _encode_proto(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """`encode` from SentencePiece's per-piece byte offsets: any text (a Python loop per piece)."""
        proto = self._sp.encode(text, return_type="proto")
        char_at = _byte_to_char_index(text)
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        for piece in proto.pieces:
            start = char_at[piece.begin]
            # Leading byte pieces of a multi-byte character have begin == end: give them its span.
            end = char_at[piece.end] if piece.end > piece.begin else start + 1
            surface = text[start:end]
            stripped = surface.strip()
            if stripped and stripped != surface:
                start += len(surface) - len(surface.lstrip())
                end = start + len(stripped)
            ids.append(int(piece.id))
            offsets.append((start, end))
        return ids, offsets

    def _encode_ascii(self, text: str) -> tuple[list[int], list[tuple[int, int]]] | None:
        """`encode` of ASCII text from the ids alone, or None when the pieces do not tile the text.

        With identity normalisation and no dummy prefix the pieces of ASCII text spell it exactly
        (``▁`` for a space, a byte piece for one character), so offsets are a cumulative sum of
        per-piece lengths and the whitespace trim is a per-piece table lookup: the same offsets as
        `_encode_proto` at a fraction of the cost (0.59 -> 0.11 ms for a 2 KB bench message). A piece of
        unknown length (``<unk>``, a control id) makes the lengths miss the text: None, and the caller
        takes the general path.
        """
        ids = self._sp.encode(text)
        length, lead, trail = self._ascii_piece_table()
        a = np.asarray(ids, dtype=np.int64)
        n = length[a]
        if int(n.sum()) != len(text):
            return None
        ends = np.cumsum(n)
        starts = ends - n + lead[a]
        ends = ends - trail[a]
        return ids, list(zip(starts.tolist(), ends.tolist(), strict=True))

    def _ascii_piece_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per id: characters the piece spans in ASCII text, and the whitespace `encode` trims off
        its front and back (none for a whitespace-only piece, which keeps its own span). Pieces with no
        ASCII surface get a hugely negative length, so a text holding one never matches its length."""
        if self._ascii_table is None:
            V = self.vocab_size
            length = np.full(V, -(1 << 40), dtype=np.int64)  # far off: a sum with one never matches
            lead = np.zeros(V, dtype=np.int64)
            trail = np.zeros(V, dtype=np.int64)
            for i in range(V):
                if self._sp.is_byte(i):
                    byte = int(self._sp.id_to_piece(i)[3:5], 16)
                    surface = chr(byte) if byte < 0x80 else None
                elif self._sp.is_control(i) or self._sp.is_unknown(i):
                    surface = None
                else:
                    surface = self._sp.id_to_piece(i).replace("\u2581", " ")
                if surface is None or not surface.isascii() or not surface:
                    continue
                length[i] = len(surface)
                stripped = surface.strip()
                if stripped and stripped != surface:
                    lead[i] = len(surface) - len(surface.lstrip())
                    trail[i] = len(surface) - len(surface.rstrip())
            self._ascii_table = (length, lead, trail)
        return self._ascii_table

    def decode(self, ids: Sequence[int]) -> str:
        """Text of a sequence of ids (exact inverse of `encode` for text without the ``▁`` character)."""
        return str(self._sp.decode([int(i) for i in ids]))


def _byte_to_char_index(text: str) -> list[int]:
    """``out[b]`` = index of the character that UTF-8 byte ``b`` of ``text`` belongs to; one past the end too."""
    if text.isascii():
        return list(range(len(text) + 1))
    out: list[int] = []
    for i, ch in enumerate(text):
        out.extend([i] * len(ch.encode("utf-8")))
    out.append(len(text))
    return out


def train_tokenizer(
    texts: Iterable[str], out_path: Path, vocab_size: int, seed: int = 0, carrier_texts: Sequence[str] = ()
) -> TokenizerStats:
    """Train a unigram SentencePiece model on DSL ``texts`` (and ``carrier_texts``), written to ``out_path`` atomically.

    ``carrier_texts`` are excerpts of real text (`hrm_core.tokens.training_text.sample_carrier_text`)
    trained on besides the DSL, so real prose, mail and code take fewer pieces. Training is in memory on
    2 threads, on at most ``MAX_TRAINING_SENTENCES`` DSL texts (a seeded sample when there are more).
    Returns vocabulary statistics measured on the DSL texts, and characters per token on the carriers.
    """
    corpus = [t for t in texts if t]
    if not corpus:
        raise ValueError("train_tokenizer needs at least one non-empty text")
    sample = corpus
    if len(corpus) > MAX_TRAINING_SENTENCES:
        sample = random.Random(seed).sample(corpus, MAX_TRAINING_SENTENCES)
    carriers = [t for t in carrier_texts if t]
    model = io.BytesIO()
    spm.set_random_generator_seed(seed)  # sentencepiece's own sampling, for reproducible models
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sample + carriers),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        user_defined_symbols=list(USER_SYMBOLS),
        split_digits=True,
        byte_fallback=True,
        normalization_rule_name="identity",
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        hard_vocab_limit=False,
        character_coverage=0.9995,
        input_sentence_size=MAX_TRAINING_SENTENCES + len(carriers),
        shuffle_input_sentence=True,
        max_sentence_length=MAX_SENTENCE_BYTES,
        num_threads=2,
        pad_id=PAD_ID,
        unk_id=UNK_ID,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        minloglevel=2,
    )
    _write_atomically(Path(out_path), model.getvalue())
    tok = DlpTokenizer(model.getvalue())
    stats = measure_tokenizer(tok, sample)
    if not carriers:
        return stats
    return replace(
        stats,
        carrier_texts=len(carriers),
        carrier_chars=sum(map(len, carriers)),
        carrier_chars_per_token=chars_per_token(tok, carriers),
    )


def chars_per_token(tok: DlpTokenizer, texts: Sequence[str]) -> float:
    """Characters of ``texts`` per token, over all of them (longer texts weigh more)."""
    n_tokens = sum(len(tok._sp.encode(t)) for t in texts)
    return sum(map(len, texts)) / max(1, n_tokens)


def measure_tokenizer(tok: DlpTokenizer, texts: Sequence[str]) -> TokenizerStats:
    """Vocabulary size, learned pieces, byte-fallback share, mean tokens and characters per token on ``texts``."""
    sp = tok._sp
    special = {PAD_ID, UNK_ID, BOS_ID, EOS_ID}
    learned = sum(
        1
        for i in range(tok.vocab_size)
        if i not in special
        and not sp.is_byte(i)
        and not sp.is_control(i)
        and sp.id_to_piece(i) not in USER_SYMBOLS
    )
    n_tokens = n_bytes = 0
    for text in texts:
        ids = sp.encode(text)
        n_tokens += len(ids)
        n_bytes += sum(1 for i in ids if sp.is_byte(i))
    return TokenizerStats(
        vocab_size=tok.vocab_size,
        learned_pieces=learned,
        byte_fallback_share=n_bytes / max(1, n_tokens),
        mean_tokens_per_example=n_tokens / max(1, len(texts)),
        n_examples=len(texts),
        chars_per_token=sum(map(len, texts)) / max(1, n_tokens),
    )


def _write_atomically(path: Path, data: bytes) -> None:
    # A reader (the trainer, the scanner) must never see a half-written model file.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
