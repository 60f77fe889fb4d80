"""Census name lists as a recognizer: capitalized words that are common US first names or surnames.

The lists are the 1990 US Census first names (female and male) and surnames shipped by the `names`
package (MIT; the data are public domain): aggregate frequencies, nobody's record. A word is marked
when it is written like a name (a capital, then lower-case letters: ``Smith``, ``O'Brien``,
``McDonald``; a hyphenated name when one of its parts is on a list) and its letters, upper-cased, are
on a list. Surnames are kept down to rank `SURNAME_RANK_LIMIT` (71 % of the population by the file's
cumulative frequency; the long tail is mostly rare names, and every kept rank adds ordinary words such
as ``Long`` or ``Page``).

It is a mark for the model to weigh, not a verdict: ``Will``, ``May``, ``Grant`` and ``Young`` are on
the lists. The candidate channel (`hrm_core.tokens.features.candidate_tags`) carries it; the regex
baseline does not use it, so that baseline stays the rules-only comparison it was.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

SURNAME_RANK_LIMIT = 10_000
_FIRST_NAME_FILES = ("dist.female.first", "dist.male.first")
_SURNAME_FILE = "dist.all.last"
_PART = r"[A-Z][a-z]+(?:[A-Z][a-z]+)?"  # McDonald, DeVito: one word
# A name-like word (``Smith``, ``O'Brien``, ``Smith-Jones``) not inside a longer word; a possessive
# ``'s`` may follow, left out of the mark.
_NAME_WORD = re.compile(rf"(?<![\w'’-])(?:[A-Z]['’])?{_PART}(?:-{_PART})?(?=['’]s\b|[^\w'’-]|$)")


def _read(name: str, limit: int | None = None) -> list[str]:
    """Upper-case names of one census file (lines ``NAME FREQ CUMFREQ RANK``), in rank order."""
    text = resources.files("names").joinpath(name).read_text(encoding="ascii")
    rows = [line.split()[0] for line in text.splitlines() if line.strip()]
    return rows[:limit] if limit is not None else rows


@lru_cache(maxsize=1)
def census_names() -> frozenset[str]:
    """Every first name and the surnames up to `SURNAME_RANK_LIMIT`, upper-case, letters only."""
    out = {n for f in _FIRST_NAME_FILES for n in _read(f)}
    out.update(_read(_SURNAME_FILE, SURNAME_RANK_LIMIT))
    return frozenset(out)


def name_words(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of the capitalized words of `text` whose letters are a census first name or surname."""
    names = census_names()
    out = []
    for m in _NAME_WORD.finditer(text):
        parts = [re.sub(r"['’]", "", part).upper() for part in m.group().split("-")]
        if "".join(parts) in names or any(part in names for part in parts):
            out.append(m.span())
    return out
