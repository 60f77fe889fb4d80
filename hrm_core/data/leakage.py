"""Train/dev contamination: the share of a dev set's word 8-grams that also occur in the training text.

Words are maximal runs of letters, digits and underscores (``\\w+``), lower-cased; whitespace and
punctuation only separate them, so a dev sentence copied into training with other line breaks, quoting
or casing still matches. Eight words: a copied sentence always shares its 8-grams, while ordinary
phrases rarely fill eight words by chance (GPT-3's contamination study used 13; shorter is stricter).

The share over a whole dev set stays small when a few stock phrases recur ("implied warranties of
merchantability and fitness for a particular purpose" is in NDAs and in licence texts alike), while a
dev text copied into training shows as a ``max_text_share`` near 1 whatever the set's size.

Compare what the model reads on the training side (DSL text: headers and body) with the dev sets'
own text (bodies) on the other: the DSL headers the loaders invent for a dev example ("<CHANNEL> chat
<USER> role=OTHER") are the project's, not the dev set's, and would match every training example.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass

NGRAM = 8
WORD = re.compile(r"\w+")

Ngram = tuple[str, ...]


@dataclass(frozen=True)
class NgramOverlap:
    """How much of one dev set's text also occurs in the training text, counted in distinct word n-grams."""

    n: int
    dev_texts: int
    dev_ngrams: int  # distinct n-grams of the dev texts
    shared_ngrams: int  # of those, how many occur somewhere in the training text
    dev_texts_with_shared: int  # dev texts with at least one shared n-gram
    max_text_share: float  # the largest share of one dev text's n-grams found: ~1 for a copied text
    train_texts: int
    train_ngrams: int  # n-gram positions read in the training text

    @property
    def share(self) -> float:
        """Shared / dev n-grams: 0 when nothing of the dev set is in training, 1 when all of it is."""
        return self.shared_ngrams / self.dev_ngrams if self.dev_ngrams else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {**asdict(self), "share": self.share}


def words(text: str) -> list[str]:
    """The lower-cased ``\\w+`` words of ``text``."""
    return WORD.findall(text.lower())


def word_ngrams(text: str, n: int = NGRAM) -> Iterator[Ngram]:
    """Every run of ``n`` consecutive words of ``text``, in order (none when it has fewer words)."""
    w = words(text)
    return zip(*(w[i:] for i in range(n)), strict=False)


def ngram_overlap(
    train_texts: Iterable[str], dev_sets: Mapping[str, Sequence[str]], n: int = NGRAM
) -> dict[str, NgramOverlap]:
    """Per dev set, the distinct word ``n``-grams of its texts that also occur in ``train_texts``.

    The training text is read once, as a stream, against the union of the dev sets' n-grams, so it may
    be far larger than memory allows to hold as n-grams; the dev sets are held.
    """
    dev_grams = {name: [set(word_ngrams(t, n)) for t in texts] for name, texts in dev_sets.items()}
    wanted: set[Ngram] = set().union(*(g for per_text in dev_grams.values() for g in per_text))
    found: set[Ngram] = set()
    train_count = train_ngrams = 0
    for text in train_texts:
        grams = list(word_ngrams(text, n))
        train_count += 1
        train_ngrams += len(grams)
        found.update(wanted.intersection(grams))
    out: dict[str, NgramOverlap] = {}
    for name, per_text in dev_grams.items():
        distinct: set[Ngram] = set().union(*per_text)
        out[name] = NgramOverlap(
            n=n,
            dev_texts=len(per_text),
            dev_ngrams=len(distinct),
            shared_ngrams=len(distinct & found),
            dev_texts_with_shared=sum(1 for g in per_text if g & found),
            max_text_share=max((len(g & found) / len(g) for g in per_text if g), default=0.0),
            train_texts=train_count,
            train_ngrams=train_ngrams,
        )
    return out
