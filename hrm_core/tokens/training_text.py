"""What the tokenizer trains on besides the DSL text of the examples: a sample of real carrier text.

Trained on synthetic DSL alone, the vocabulary is the generator's: template words, the 40 x 40 names
and fragments of random secrets, while English prose, real mail and real code break into 2-3 characters
a token. A seeded sample of the ``carriers`` table (mail, prose, code, docs, legal) teaches it the pieces
of real text; benchmarks/chars_per_token.py measures the effect on the dev sets.

The sample is made of excerpts of whole lines (a line longer than an excerpt is cut) so that
SentencePiece sees text as the scanner does, line breaks included. Each kind of carrier gets an equal
share of the character budget (a kind with less text gives what it lacks to the others), so 18 MB of
mail does not drown 300 KB of documentation.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence

# A SentencePiece "sentence": long enough for a paragraph or a function, far below MAX_SENTENCE_BYTES.
EXCERPT_CHARS = 2_000


def line_excerpts(text: str, max_chars: int = EXCERPT_CHARS) -> list[str]:
    """``text`` cut into consecutive excerpts of whole lines, each at most ``max_chars`` characters.

    Line breaks stay with their line; a single line longer than ``max_chars`` is cut into pieces of
    ``max_chars``. Joining the excerpts gives ``text`` back.
    """
    out: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        if len(current) + len(line) > max_chars and current:
            out.append(current)
            current = ""
        while len(line) > max_chars:
            out.append(line[:max_chars])
            line = line[max_chars:]
        current += line
    if current:
        out.append(current)
    return out


def kind_budgets(available: Mapping[str, int], total: int) -> dict[str, int]:
    """Characters to take from each kind: equal shares of ``total``, a kind's unused share spread over the rest.

    ``available`` is the characters each kind has. Water-filling: kinds are served from the smallest up;
    each takes the lesser of what it has and an equal split of what is left.
    """
    budgets: dict[str, int] = {}
    left = total
    kinds = sorted(available, key=lambda k: (available[k], k))
    for i, kind in enumerate(kinds):
        share = left // (len(kinds) - i)
        budgets[kind] = min(available[kind], share)
        left -= budgets[kind]
    return budgets


def sample_carrier_text(
    docs: Sequence[tuple[str, str]], max_chars: int, seed: int = 0, excerpt_chars: int = EXCERPT_CHARS
) -> list[str]:
    """A seeded sample of excerpts of the ``(kind, text)`` carrier documents, about ``max_chars`` in all.

    Each kind's excerpts are shuffled and taken in that order until the kind's budget (`kind_budgets`)
    is spent; the excerpt that crosses the budget is kept whole. The result is in kind order, then
    sample order, so the same documents and seed give the same list.
    """
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, text in docs:
        by_kind[kind].extend(line_excerpts(text, excerpt_chars))
    budgets = kind_budgets({k: sum(map(len, v)) for k, v in by_kind.items()}, max_chars)
    rng = random.Random(seed)
    sample: list[str] = []
    for kind in sorted(by_kind):
        excerpts = by_kind[kind]
        rng.shuffle(excerpts)
        taken = 0
        for excerpt in excerpts:
            if taken >= budgets[kind]:
                break
            sample.append(excerpt)
            taken += len(excerpt)
    return sample
