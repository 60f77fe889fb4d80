"""Census name lists as a recognizer: capitalized words that are common US first names or surnames.

The lists are `hrm_core.data.census`'s (1990 US Census first names and surnames). A word is marked
when it is written like a name (a capital, then lower-case letters: ``Smith``, ``O'Brien``,
``McDonald``; a hyphenated name when one of its parts is on a list) and its letters
(`census_listed`) are on a list.

It is a mark for the model to weigh, not a verdict: ``Will``, ``May``, ``Grant`` and ``Young`` are on
the lists. The candidate channel (`hrm_core.tokens.features.candidate_tags`) carries it; the regex
baseline does not use it, so that baseline stays the rules-only comparison it was.
"""

from __future__ import annotations

import re

from hrm_core.data.census import census_listed, census_names

_PART = r"[A-Z][a-z]+(?:[A-Z][a-z]+)?"  # McDonald, DeVito: one word
# A name-like word (``Smith``, ``O'Brien``, ``Smith-Jones``) not inside a longer word; a possessive
# ``'s`` may follow, left out of the mark.
_NAME_WORD = re.compile(rf"(?<![\w'’-])(?:[A-Z]['’])?{_PART}(?:-{_PART})?(?=['’]s\b|[^\w'’-]|$)")


def name_words(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of the capitalized words of `text` whose letters are a census first name or surname."""
    names = census_names()
    out = []
    for m in _NAME_WORD.finditer(text):
        if census_listed(m.group(), names):
            out.append(m.span())
    return out
