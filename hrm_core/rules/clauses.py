"""Where a clause begins and ends: the extent of an NDA span, for the regex baseline and the model's decoder.

An NDA value is a whole clause, the sentence that holds the confidentiality term, with its closing
stop: ``The Recipient shall ... those herein.``. A rule that finds the term (the regex baseline) and a
model whose tag run covers part of the clause, or runs on into a lead-in before it (``Reminder of the
clause: The Recipient ...``), both widen or cut to the same sentences here, so that the two are scored
against one convention.

A clause ends at ``.``, ``!`` or ``?`` (closing quotes or brackets included) that is followed by a space
and a word that does not start lower case, or by the end of the text: ``Litware S.A. irreparable`` and
``Inc. and may not`` go on, ``five (5) years. Please`` stops. A colon followed by a space and such a word
ends a lead-in (``Section 4 reads: This information ...``), which is not part of the clause. A line
break ends a clause too, unless the text was wrapped there (no stop before it, a lower-case word after
it).
"""

from __future__ import annotations

import re
import unicodedata

CLAUSE_REACH = 2_000  # characters looked at on each side of a span for its clause's ends
_BREAK = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s)|:(?=\s)|\n")
_STOPS = ".!?:"


def invisible(ch: str) -> bool:
    """Whitespace or a format character (zero-width space / joiners, word joiner, soft hyphen, BOM)."""
    return ch.isspace() or unicodedata.category(ch) == "Cf"


def visible_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` with invisible characters (`invisible`) off both ends."""
    while start < end and invisible(text[start]):
        start += 1
    while end > start and invisible(text[end - 1]):
        end -= 1
    return start, end


def _next_visible(text: str, i: int, hi: int) -> tuple[str, bool]:
    """The first visible character at or after `i` (before `hi`; "" if none) and whether a line break
    comes before it."""
    broken = False
    while i < hi and invisible(text[i]):
        broken = broken or text[i] == "\n"
        i += 1
    return (text[i] if i < hi else ""), broken


def _pieces(text: str, lo: int, hi: int) -> list[tuple[int, int, bool]]:
    """Sentences and lead-ins of ``text[lo:hi]`` as ``(start, end, is_lead_in)``, in order, each with
    invisible characters off its ends; empty ones left out."""
    out: list[tuple[int, int, bool]] = []
    begin = lo
    for m in _BREAK.finditer(text, lo, hi):
        after, blank = _next_visible(text, m.end(), hi)  # blank: after a line break, another
        if m.group() == "\n":
            before = text[begin : m.start()].rstrip()
            wrapped = not blank and after.islower() and bool(before) and before[-1] not in _STOPS
            if wrapped:
                continue
            end, lead_in = m.start(), False
        elif after and after.islower():
            continue  # an abbreviation's stop, or a colon inside the sentence
        else:
            end, lead_in = m.end(), m.group() == ":"
        out.append((begin, end, lead_in))
        begin = m.end()
    out.append((begin, hi, False))
    trimmed = [(*visible_bounds(text, s, e), lead_in) for s, e, lead_in in out]
    return [(s, e, lead_in) for s, e, lead_in in trimmed if s < e]


def clause_extents(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The clauses that ``text[start:end]`` touches, as ``(start, end)`` in order: each whole sentence it
    overlaps, from just after the previous clause's end to its own stop. Lead-ins it touches are left out,
    unless it touches nothing else (then the lead-in is the clause: a term in a heading is still found).
    Ends further than `CLAUSE_REACH` characters away are cut there."""
    lo, hi = max(0, start - CLAUSE_REACH), min(len(text), end + CLAUSE_REACH)
    touched = [(s, e, lead_in) for s, e, lead_in in _pieces(text, lo, hi) if s < end and e > start]
    clauses = [(s, e) for s, e, lead_in in touched if not lead_in]
    return clauses or [(s, e) for s, e, _ in touched]
