"""Privacy by surrogates: real people's e-mail addresses, phone numbers and names become generated ones.

Run on every carrier document before it is stored. What is found, and how reliably:

* **EMAIL** — every e-mail-shaped string (`EMAIL_PATTERN`, the same pattern the privacy test uses);
  complete, so EMAIL is an annotated type of every carrier document.
* **PHONE** — ``phonenumbers.PhoneNumberMatcher`` (region US, leniency STRICT_GROUPING) outside code, and
  there what ``find_phones`` finds (the corpus asset passes the regex baseline's PHONE rules: numbers the
  matcher cannot parse from the US, such as a cued ``Tel: 01 8832063``; they keep their layout and get
  other digits); annotated for those kinds. Code (``kind == "code"``) is not searched: version tuples
  and constants look like numbers.
* **NAME** — where a name is reliably marked: the display name of a ``From``/``To``/``Cc`` header,
  ``Name <addr>`` anywhere, ``Name wrote:`` attribution lines; and (`RUNNING_TEXT_NAMES`, on by
  default), outside code, a person named in running text as a census first name, an optional middle
  initial and a census surname standing alone (`running_text_names`: "courtesy Matt Chisholm.",
  "President, Harry S. Truman, declared"; not "Prime Minister Justin Trudeau", "Harry Fox Agency"). Each
  such name is then also replaced wherever else it occurs in the document (and the first name alone on a
  signature line). A surname alone, a first name alone
  and names off the census lists are *not* found, so NAME is never an annotated type of a carrier
  document.

Each distinct original gets one surrogate per document (the same person stays the same person; an
address's domain maps to one surrogate domain), drawn from a generator seeded by the document id, so
a rebuild is byte-identical. The result's spans mark the surrogates in the new text.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import getaddresses

import phonenumbers
from faker import Faker

from hrm_core.data.census import (
    NOT_FIRST_NAMES,
    NOT_SURNAMES,
    census_first_names,
    census_listed,
    census_surnames,
)

EMAIL_PATTERN = re.compile(
    r"(?<![A-Za-z0-9._%+=-])[A-Za-z0-9][A-Za-z0-9._%+=-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}\b"
)
_NAME = r"[A-Z][a-z'’-]+(?:[ \t]+(?:[A-Z]\.|[A-Z][A-Za-z'’-]+)){1,3}"
_NAME_BEFORE_ADDR = re.compile(rf"(?P<name>{_NAME})[ \t]*[<(]\s*{EMAIL_PATTERN.pattern}")
_WROTE = re.compile(
    rf"^(?:On .{{0,80}}?,[ \t]*)?(?P<name>{_NAME})[ \t]*(?:<[^>\n]*>)?[ \t]+wrote:[ \t]*$", re.M
)
_HEADER = re.compile(r"^(?:From|To|Cc):[ \t]*(?P<value>.+)$", re.M)
_WEBMAIL = frozenset({"yahoo.com", "hotmail.com", "aol.com", "gmail.com", "msn.com", "earthlink.net",
                      "excite.com", "netscape.net", "juno.com", "mail.com", "compuserve.com"})  # fmt: skip
_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "en_IN", "pt_BR", "pl_PL")
_PHONE_KINDS = frozenset({"mail", "prose", "legal", "doc"})
_FORMATS = (phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
# The matcher verifies every digit run it meets ("1945", "10:30", "2.0") unless told a shortest candidate.
# No number it can call valid from the US is shorter than 6 characters: a national one has 10 digits, an
# international one a "+" and at least 6 digits (the shortest country code plus national number in
# phonenumbers' metadata: Austria, Germany, Iran; a test reads the metadata). The floor skips only what could
# never match: on the whole carrier corpus the matcher finds the same 911 numbers in 10.7 s instead of 16.9.
_SHORTEST_PHONE_CANDIDATE = 6


@dataclass
class SurrogateDocument:
    text: str
    spans: list[tuple[str, int, int]]  # (type, start, end) of each surrogate in `text`, sorted
    annotated_types: list[str]
    surrogates: dict[str, str] = field(default_factory=dict)  # original -> surrogate (never stored)


def annotated_types_for(kind: str) -> list[str]:
    """Span types the surrogate pass finds completely in a document of this kind."""
    return ["EMAIL", "PHONE"] if kind in _PHONE_KINDS else ["EMAIL"]


# People named in running text (`running_text_names`) are replaced by default: the project's privacy rule.
# 3 seeds of cpu-small at 540 s against 3 on the unchanged lake, trained one after the other
# (docs/synthetic_data.md, "Surrogates"), scored through the decoder the scanner serves since its clause,
# join, census-neighbour and name-piece rules (`hrm_core.tokens.decoding`): whole presidio set exact span F1
# 0.432 +/- 0.022 vs 0.434 +/- 0.024, overlap 0.658 vs 0.658, NAME overlap F1 0.603 vs 0.575, test split
# exact over its lake's regex baseline +0.010..+0.014 vs +0.012..+0.016. Through the decoder before those
# rules the same checkpoints had 0.373 vs 0.402 (lower on every seed), and it was off.
RUNNING_TEXT_NAMES = True
# A person in running text: First [M.] Last, each written like a name, not inside a longer token.
_PERSON = re.compile(
    r"(?<![\w@.'’/=\"-])(?P<first>[A-Z][a-z]+)(?: [A-Z]\.)? "
    r"(?P<last>(?:Mc|Mac|O['’])?[A-Z][a-z]+(?:-[A-Z][a-z]+)?)(?![\w@/-])(?!['’](?!s\b))"
)
_CAPITAL_BEFORE = re.compile(r"(?:^|[^\w])[A-Z][\w&]*[ ]$")  # "Prime Minister Justin Trudeau"
_CAPITAL_AFTER = re.compile(r"[ ]+[A-Z0-9]")  # "Harry Fox Agency", "John Perry Barlow", "Bradley Hand ITC"


def running_text_names(text: str) -> set[str]:
    """People named in running text: a census first name, an optional middle initial and a census surname
    (`data.census`), each capitalized, with no capitalized word right before or after on the line
    (titles, organisations, longer names and headlines are left alone rather than cut). Precise rather
    than complete: a name off the lists, a surname or first name alone is not found."""
    firsts, lasts = census_first_names(), census_surnames()
    out = set()
    for m in _PERSON.finditer(text):
        first, last = m.group("first"), m.group("last")
        if first in NOT_FIRST_NAMES or last in NOT_SURNAMES:
            continue
        if not (census_listed(first, firsts) and census_listed(last, lasts)):
            continue
        if _CAPITAL_BEFORE.search(text, max(0, m.start() - 40), m.start()):
            continue
        if _CAPITAL_AFTER.match(text, m.end()):
            continue
        out.add(m.group())
    return out


def _looks_like_name(s: str) -> bool:
    words = s.split()
    return 2 <= len(words) <= 4 and not any(ch.isdigit() or ch in "@_" for ch in s)


def _names(text: str, kind: str, running_text: bool) -> set[str]:
    found = {m.group("name") for m in _NAME_BEFORE_ADDR.finditer(text)}
    found |= {m.group("name") for m in _WROTE.finditer(text)}
    if running_text and kind != "code":
        found |= running_text_names(text)
    if kind == "mail":
        for m in _HEADER.finditer(text):
            found |= {n.strip(" \"'") for n, _ in getaddresses([m.group("value")])}
    return {" ".join(n.split()) for n in found if _looks_like_name(n)}


# (start, end) of phone numbers in a text, beyond what phonenumbers' matcher parses from the US.
PhoneFinder = Callable[[str], list[tuple[int, int]]]


class Surrogator:
    """Replaces found contact data with generated values; `seed` and the doc id fix every choice.

    ``find_phones``: more phone numbers to replace (their surrogates keep the layout, with other digits).
    The corpus asset passes the regex baseline's PHONE rules (`hrm_core.rules.regex_baseline.phone_spans`,
    the rules that also mark the model's candidates), which this layer cannot import; None finds no more.
    """

    def __init__(
        self,
        seed: int = 0,
        running_text_names: bool = RUNNING_TEXT_NAMES,
        find_phones: PhoneFinder | None = None,
    ) -> None:
        self.seed = seed
        self.running_text_names = running_text_names
        self.find_phones = find_phones
        self._fakers = {loc: Faker(loc) for loc in _LOCALES}

    def _rng(self, doc_id: str) -> random.Random:
        digest = hashlib.sha256(f"{self.seed}:{doc_id}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def _faker(self, rng: random.Random) -> Faker:
        fk = self._fakers[rng.choice(_LOCALES)]
        fk.seed_instance(rng.getrandbits(32))
        return fk

    def _fake_name(self, rng: random.Random) -> str:
        fk = self._faker(rng)
        return f"{fk.first_name()} {fk.last_name()}"

    def _fake_domain(self, rng: random.Random, original: str) -> str:
        if original.lower() in _WEBMAIL:
            return rng.choice(sorted(_WEBMAIL | {"gmail.com", "outlook.com", "proton.me", "gmx.de"}))
        fk = self._faker(rng)
        return fk.domain_name(levels=rng.choice((1, 1, 2)))

    def _fake_local(self, rng: random.Random, names: dict[str, str], original: str) -> str:
        local = original.lower()
        for real, fake in names.items():  # an address built from a replaced name follows the surrogate
            first, last = real.lower().split()[0], real.lower().split()[-1]
            if first in local and last in local:
                ff, fl = fake.lower().split()[0], fake.lower().split()[-1]
                sep = next((c for c in "._-" if c in original), "")
                return _ascii(f"{ff}{sep}{fl}")
        fk = self._faker(rng)
        return _ascii(fk.user_name()) or f"user{rng.randrange(10**4)}"

    def _fake_phone(self, rng: random.Random, original: phonenumbers.PhoneNumber, raw: str) -> str:
        region = phonenumbers.region_code_for_number(original) or "US"
        fmt = _FORMATS[1] if raw.lstrip().startswith("+") else _FORMATS[0]
        example = phonenumbers.example_number(region) or phonenumbers.example_number("US")
        assert example is not None  # the US always has an example number
        n_digits = len(str(example.national_number))
        for _ in range(200):
            candidate = phonenumbers.PhoneNumber(
                country_code=example.country_code,
                national_number=int(
                    str(rng.randint(2, 9)) + "".join(rng.choices("0123456789", k=n_digits - 1))
                ),
            )
            if phonenumbers.is_valid_number(candidate) and candidate != original:
                return phonenumbers.format_number(candidate, fmt)
        return phonenumbers.format_number(example, fmt)

    def replace(self, doc_id: str, kind: str, text: str) -> SurrogateDocument:
        rng = self._rng(doc_id)
        found: list[tuple[int, int, str, object]] = []  # (start, end, type, payload)
        for m in EMAIL_PATTERN.finditer(text):
            found.append((m.start(), m.end(), "EMAIL", m.group()))
        if kind in _PHONE_KINDS:
            for pm in phonenumbers.PhoneNumberMatcher(
                text,
                "US",
                leniency=phonenumbers.Leniency.STRICT_GROUPING,
                min_candidate_length=_SHORTEST_PHONE_CANDIDATE,
            ):
                found.append((pm.start, pm.end, "PHONE", pm.number))
            # and those the matcher cannot parse from the US (a cued "Tel: 01 8832063"), found by `find_phones`
            # (where the two overlap, the earlier and longer stays)
            if self.find_phones is not None:
                found += [(s, e, "PHONE", None) for s, e in self.find_phones(text)]
        names = sorted(_names(text, kind, self.running_text_names), key=len, reverse=True)
        for name in names:
            for m in re.finditer(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text):
                found.append((m.start(), m.end(), "NAME", name))
        # Earliest first, longer first at one start; anything overlapping a kept span is dropped.
        found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
        kept: list[tuple[int, int, str, object]] = []
        for f in found:
            if not kept or f[0] >= kept[-1][1]:
                kept.append(f)
        name_map: dict[str, str] = {}
        for _, _, typ, payload in kept:  # names first, so addresses can follow their surrogate
            if typ == "NAME" and payload not in name_map:
                name_map[str(payload)] = self._fake_name(rng)
        first_names = {r.split()[0]: f.split()[0] for r, f in name_map.items()}
        kept = _add_signature_first_names(text, kept, first_names)
        mapping: dict[str, str] = {}
        domains: dict[str, str] = {}
        out: list[str] = []
        spans: list[tuple[str, int, int]] = []
        pos = written = 0  # read up to `pos` of text; `written` characters out
        for start, end, typ, payload in kept:
            original = text[start:end]
            key = f"{typ}:{original.lower() if typ == 'EMAIL' else original}"
            if key not in mapping:
                if typ == "NAME":
                    mapping[key] = name_map.get(original) or first_names.get(original) or self._fake_name(rng)
                elif typ == "EMAIL":
                    local, _, domain = original.rpartition("@")
                    dkey = domain.lower()
                    if dkey not in domains:
                        domains[dkey] = self._fake_domain(rng, dkey)
                    mapping[key] = f"{self._fake_local(rng, name_map, local)}@{domains[dkey]}"
                elif payload is None:
                    mapping[key] = _same_layout_digits(rng, original)
                else:
                    mapping[key] = self._fake_phone(rng, payload, original)  # type: ignore[arg-type]
            out.append(text[pos:start])
            new_start = written + start - pos
            out.append(mapping[key])
            spans.append((typ, new_start, new_start + len(mapping[key])))
            pos, written = end, new_start + len(mapping[key])
        out.append(text[pos:])
        return SurrogateDocument(
            text="".join(out),
            spans=spans,
            annotated_types=annotated_types_for(kind),
            surrogates={k.split(":", 1)[1]: v for k, v in mapping.items()},
        )


def _same_layout_digits(rng: random.Random, number: str) -> str:
    """A surrogate for a phone number nothing could parse: the same layout with other digits, except a
    leading ``+`` and its country code and a leading trunk ``0``, which say where it is from, not who."""
    keep = re.match(r"\+\d{1,3}|\(?0", number)
    head = keep.group() if keep else ""
    for _ in range(20):
        tail = re.sub(r"\d", lambda _m: str(rng.randrange(10)), number[len(head) :])
        if head + tail != number:
            return head + tail
    return head + re.sub(r"\d", "0", number[len(head) :])


def _add_signature_first_names(
    text: str, kept: list[tuple[int, int, str, object]], first_names: dict[str, str]
) -> list[tuple[int, int, str, object]]:
    """A line holding only a replaced person's first name (a signature: "Steve", "-- Steve") is a NAME too."""
    if not first_names:
        return kept
    extra = []
    pattern = re.compile(r"^[ \t]*(?:--+[ \t]*)?(?P<n>[A-Z][a-z'’-]+)[ \t]*$", re.M)
    for m in pattern.finditer(text):
        if m.group("n") in first_names:
            s, e = m.span("n")
            if not any(k[0] < e and s < k[1] for k in kept):
                extra.append((s, e, "NAME", m.group("n")))
    return sorted(kept + extra, key=lambda f: f[0])


def _ascii(s: str) -> str:
    import unicodedata

    folded = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9._-]", "", folded.lower())
