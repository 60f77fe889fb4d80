"""Check-digit and numbering rules shared by the generator (to make valid values) and the regex baseline."""

from __future__ import annotations

import re


def luhn_check_digit(digits: str) -> int:
    """The Luhn digit that makes `digits + str(d)` valid."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # doubled positions, counted from the (future) check digit
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return (10 - total % 10) % 10


# A phone number has at least 7 digits (a subscriber number with the shortest area codes) and at most
# E.164's 15; the regex baseline's recognizers and the decoding of a model's PHONE spans both hold to it.
PHONE_DIGITS = (7, 15)


def phone_digit_count_ok(number: str) -> bool:
    """True when `number` has `PHONE_DIGITS` digits, separators and other characters ignored."""
    lo, hi = PHONE_DIGITS
    return lo <= sum(c.isdigit() for c in number) <= hi


# A card or SSN written in digits has at least 4 of them: the last four a masked form keeps ("ending 4242");
# the decoding of a model's PAN and SSN spans holds to it (a run over an age, ``29``, is no SSN).
ID_MIN_DIGITS = 4


def id_digit_count_ok(number: str) -> bool:
    """True when `number` has at least `ID_MIN_DIGITS` digits, separators and other characters ignored."""
    return sum(c.isdigit() for c in number) >= ID_MIN_DIGITS


# Digits written as words, as a spelled-out number has them ("five five five, oh one nine nine").
DIGIT_WORDS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
               "seven": "7", "eight": "8", "nine": "9"}  # fmt: skip
DIGIT_WORD = "(?:" + "|".join(DIGIT_WORDS) + ")"  # one of them, as a pattern (match it case-insensitively)
_DIGIT_WORD_ALONE = re.compile(rf"(?i)(?<![^\W\d_]){DIGIT_WORD}(?![^\W\d_])")


def writes_digits(value: str) -> bool:
    """True when `value` has a digit (of any script) or a digit written as a word: what any phone number,
    card or account number needs, however it is disguised (``Desaulniers`` has neither)."""
    return any(c.isdigit() for c in value) or _DIGIT_WORD_ALONE.search(value) is not None


def luhn_valid(number: str) -> bool:
    """True when the digits of `number` (separators ignored) pass the Luhn check; needs 12-19 digits."""
    digits = "".join(c for c in number if c.isdigit())
    if not 12 <= len(digits) <= 19:
        return False
    return luhn_check_digit(digits[:-1]) == int(digits[-1])


def ssn_valid(number: str) -> bool:
    """US SSN numbering rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) != 9:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"
