"""The 1990 US Census name lists: the one home of which words count as common first names and surnames.

The first names (female and male) and surnames shipped by the `names` package (MIT; the data are public
domain): aggregate frequencies, nobody's record. Surnames are kept down to rank `SURNAME_RANK_LIMIT` (71 %
of the population by the file's cumulative frequency; the long tail is mostly rare names, and every kept
rank adds ordinary words such as ``Long`` or ``Page``). Three readers: the census-name mark of the
candidate channel (`hrm_core.rules.name_list`), the surrogate pass's people in running text
(`hrm_core.data.corpus.surrogate.running_text_names`) and the decoder's NAME neighbours
(`hrm_core.tokens.decoding`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

SURNAME_RANK_LIMIT = 10_000
# Words on the lists that are mostly something else where a first name would stand, before another name
# ("In May", "Dear Clara", "Call Smith", "Friday Smith"), and where a surname would stand, after one
# ("Coral Way", "Victoria Park", "Smith Monday"). Read by the surrogate pass's people in running text and
# the decoder's NAME neighbours (`hrm_core.tokens.decoding`).
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NOT_FIRST_NAMES = frozenset({"An", "And", "As", "At", "By", "Do", "For", "In", "My", "No", "Of", "On", "Or", "So",
                             "The", "To", "Up", "We", "Will", "May", "Dear", "Best", "Love", "Call", "Ping", "Via",
                             *_DAYS})  # fmt: skip
NOT_SURNAMES = frozenset({"Avenue", "Bank", "Church", "Forest", "Kong", "Lane", "Park", "Place", "Road", "Square",
                          "Street", "Way", *_DAYS})  # fmt: skip
_FIRST_NAME_FILES = ("dist.female.first", "dist.male.first")
_SURNAME_FILE = "dist.all.last"


def _read(name: str, limit: int | None = None) -> list[str]:
    """Upper-case names of one census file (lines ``NAME FREQ CUMFREQ RANK``), in rank order."""
    text = resources.files("names").joinpath(name).read_text(encoding="ascii")
    rows = [line.split()[0] for line in text.splitlines() if line.strip()]
    return rows[:limit] if limit is not None else rows


@lru_cache(maxsize=1)
def census_first_names() -> frozenset[str]:
    """Every census first name (female and male), upper-case, letters only."""
    return frozenset(n for f in _FIRST_NAME_FILES for n in _read(f))


@lru_cache(maxsize=1)
def census_surnames() -> frozenset[str]:
    """The census surnames up to `SURNAME_RANK_LIMIT`, upper-case, letters only."""
    return frozenset(_read(_SURNAME_FILE, SURNAME_RANK_LIMIT))


@lru_cache(maxsize=1)
def census_names() -> frozenset[str]:
    """Every first name and the surnames up to `SURNAME_RANK_LIMIT`, upper-case, letters only."""
    return census_first_names() | census_surnames()


def census_letters(word: str) -> str:
    """How a name-like word is looked up in the lists: apostrophes dropped, upper case (``O'Brien`` ->
    ``OBRIEN``)."""
    return re.sub(r"['’]", "", word).upper()


def census_listed(word: str, names: frozenset[str]) -> bool:
    """Is a name-like word on ``names``: its letters (`census_letters`), or, for a hyphenated name, the parts
    joined or any one part (``Smith-Jones``)."""
    parts = [census_letters(part) for part in word.split("-")]
    return "".join(parts) in names or any(part in names for part in parts)
