"""Deliberate hiding of a sensitive value: each function returns the visible form that replaces it.

The whole visible form becomes one span of the hidden value's type (a base64 blob hiding an SSN is
one SSN span), and the example's ``meta.obfuscations`` lists the kinds used, which sets
``labels.obfuscation`` (see `labels.py`).
"""

from __future__ import annotations

import base64
import random

# Cyrillic and Greek letters that render like Latin ones.
_HOMOGLYPHS: dict[str, str] = {
    "a": "а",
    "e": "е",
    "o": "о",
    "p": "р",
    "c": "с",
    "x": "х",
    "y": "у",
    "i": "і",
    "A": "А",
    "B": "В",
    "E": "Е",
    "H": "Н",
    "K": "К",
    "M": "М",
    "O": "О",
    "P": "Р",
    "T": "Т",
    "X": "Х",
}
_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060")
_LEET = str.maketrans(
    {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "A": "4", "E": "3", "O": "0", "S": "5"}
)
LEET_DIGITS: frozenset[str] = frozenset(_LEET.values())  # the digits `to_leetspeak` writes for letters
_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# Which hiding techniques fit which span types (digit tricks only make sense for number-like values).
KINDS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "PAN": ("base64", "hex", "zero_width", "split_digits", "spelled_digits"),
    "SSN": ("base64", "hex", "zero_width", "split_digits", "spelled_digits"),
    "PHONE": ("base64", "zero_width", "split_digits", "spelled_digits"),
    "SECRET": ("base64", "hex", "zero_width", "homoglyph"),
    "DBURI": ("base64", "zero_width", "homoglyph"),
    # No leetspeak for addresses: "j0hn@m41l.ru" is simply a different, valid address.
    "EMAIL": ("base64", "homoglyph", "zero_width"),
    "NAME": ("homoglyph", "leetspeak", "zero_width"),
    "ADDR": ("leetspeak", "homoglyph"),
    "NDA": ("leetspeak", "homoglyph", "zero_width"),
    "MATTER": ("base64", "hex", "zero_width"),
}
KINDS: tuple[str, ...] = (
    "base64",
    "hex",
    "homoglyph",
    "zero_width",
    "split_digits",
    "spelled_digits",
    "leetspeak",
)


def to_base64(value: str, rng: random.Random) -> str:
    """Standard base64 of the UTF-8 value."""
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


def to_hex(value: str, rng: random.Random) -> str:
    """Lower-case hex of the UTF-8 value, sometimes with a 0x prefix."""
    h = value.encode("utf-8").hex()
    return "0x" + h if rng.random() < 0.3 else h


def to_homoglyphs(value: str, rng: random.Random) -> str:
    """Swap about half of the swappable Latin letters for look-alikes (at least one swap when possible)."""
    chars = list(value)
    idx = [i for i, c in enumerate(chars) if c in _HOMOGLYPHS]
    for k, i in enumerate(idx):
        if k == 0 or rng.random() < 0.5:
            chars[i] = _HOMOGLYPHS[chars[i]]
    return "".join(chars)


def insert_zero_width(value: str, rng: random.Random) -> str:
    """Insert zero-width characters between visible characters, so pattern matchers miss the value."""
    out = [value[0]]
    for c in value[1:]:
        if rng.random() < 0.4:
            out.append(rng.choice(_ZERO_WIDTH))
        out.append(c)
    if len(out) == len(value):  # force at least one
        out.insert(1, _ZERO_WIDTH[0])
    return "".join(out)


def split_digits(value: str, rng: random.Random) -> str:
    """Spread the digits over lines or words: '4532\\n0151\\n...' or '453 then 201 then ...'."""
    digits = [c for c in value if c.isdigit()]
    size = rng.choice((2, 3, 4))
    chunks = ["".join(digits[i : i + size]) for i in range(0, len(digits), size)]
    return rng.choice(("\n", " then ", " / ", " ... ", ", next ")).join(chunks)


def spell_digits(value: str, rng: random.Random) -> str:
    """Digits written out as words ('four five three two ...'); separators become commas or dashes."""
    joiner = rng.choice((" ", "-", " "))
    words = []
    for c in value:
        if c.isdigit():
            words.append(_DIGIT_WORDS[int(c)])
        elif c in "-  ." and words and words[-1] != ",":
            words.append(",")
    return joiner.join(words).replace(f"{joiner},{joiner}", ", ")


def to_leetspeak(value: str, rng: random.Random) -> str:
    """Classic letter-to-digit substitutions (a->4, e->3, o->0, ...)."""
    return value.translate(_LEET)


_APPLY = {
    "base64": to_base64,
    "hex": to_hex,
    "homoglyph": to_homoglyphs,
    "zero_width": insert_zero_width,
    "split_digits": split_digits,
    "spelled_digits": spell_digits,
    "leetspeak": to_leetspeak,
}


def obfuscate(value: str, kind: str, rng: random.Random) -> str:
    """The visible form of `value` hidden with technique `kind` (one of `KINDS`)."""
    hidden = _APPLY[kind](value, rng)
    # Homoglyph/leet on a value with nothing to swap would leave it unchanged: fall back to zero-width.
    return hidden if hidden != value else insert_zero_width(value, rng)
