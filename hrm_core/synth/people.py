"""People: diverse person names, the mailboxes made from them, and postal addresses of eight countries.

Every function takes a seeded `random.Random`; the text returned becomes a NAME, EMAIL or ADDR span.
"""

from __future__ import annotations

import functools
import random
import string
import unicodedata

FIRST_NAMES: tuple[str, ...] = (
    "Maria",
    "James",
    "Aisha",
    "Wei",
    "Oluwaseun",
    "Priya",
    "Santiago",
    "Yuki",
    "Fatima",
    "Dmitri",
    "Chloé",
    "Mateo",
    "Ngozi",
    "Hiroshi",
    "Sofia",
    "Arjun",
    "Leila",
    "Kwame",
    "Ingrid",
    "Tomás",
    "Mei-Ling",
    "Olga",
    "Rahul",
    "Amara",
    "Liam",
    "Zeynep",
    "Jamal",
    "Ana",
    "Björn",
    "Thanh",
    "Emily",
    "Mohammed",
    "Camille",
    "Kofi",
    "Siobhan",
    "Ravi",
    "Luca",
    "Hana",
    "Diego",
    "Nadia",
)
LAST_NAMES: tuple[str, ...] = (
    "García",
    "Okafor",
    "Chen",
    "Nakamura",
    "Patel",
    "Müller",
    "Johansson",
    "O'Brien",
    "Kowalski",
    "Nguyen",
    "Rossi",
    "Haddad",
    "Mensah",
    "Ivanova",
    "Fernández",
    "Kim",
    "Singh",
    "Dubois",
    "Adeyemi",
    "Schmidt",
    "Yilmaz",
    "Tanaka",
    "Novak",
    "Silva",
    "Murphy",
    "Cohen",
    "Abebe",
    "Larsen",
    "Gupta",
    "Moreau",
    "Papadopoulos",
    "Wiśniewski",
    "Zhang",
    "Alvarez",
    "Brennan",
    "Hoang",
    "Bianchi",
    "Osei",
    "Lindqvist",
    "Ruiz",
)


def person_name(rng: random.Random) -> str:
    """A person's name: 'First Last', 'First M. Last' or 'Last, First'."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    form = rng.random()
    if form < 0.7:
        return f"{first} {last}"
    if form < 0.88:
        return f"{first} {rng.choice(string.ascii_uppercase)}. {last}"
    return f"{last}, {first}"


def mailbox(first: str, last: str, rng: random.Random) -> str:
    """The local part of an address for a person, ASCII-folded ('maria.garcia', 'mgarcia', 'maria_g42')."""
    f = _ascii_fold(first).lower().replace("'", "").replace("-", "")
    la = _ascii_fold(last).lower().replace("'", "").replace("-", "")
    form = rng.randrange(4)
    if form == 0:
        return f"{f}.{la}"
    if form == 1:
        return f"{f[0]}{la}"
    if form == 2:
        return f"{f}_{la[0]}{rng.randrange(10, 99)}"
    return f"{la}.{f}"


# Letters NFKD does not decompose; everything else loses its accent through decomposition.
_FOLD = str.maketrans({"ł": "l", "ø": "o", "ß": "ss", "đ": "d"})


@functools.lru_cache(maxsize=512)  # names come from small pools
def _ascii_fold(s: str) -> str:
    decomposed = unicodedata.normalize("NFKD", s.translate(_FOLD))
    return "".join(c for c in decomposed if c.isascii())


# ---- postal addresses -----------------------------------------------------------------------------------
_US_STREETS = (
    "Elm Street",
    "Oak Avenue",
    "Maple Drive",
    "Cedar Lane",
    "Washington Blvd",
    "Lakeview Road",
    "Pine Court",
)
_US_CITIES = (
    ("Springfield", "IL", "627"),
    ("Austin", "TX", "787"),
    ("Portland", "OR", "972"),
    ("Columbus", "OH", "432"),
    ("Raleigh", "NC", "276"),
)


def postal_address(rng: random.Random) -> str:
    """A postal address from one of eight countries, in that country's usual order."""
    form = rng.randrange(8)
    n = rng.randrange(1, 2500)
    if form == 0:
        city, st, z = rng.choice(_US_CITIES)
        apt = f", Apt {rng.randrange(1, 40)}" if rng.random() < 0.3 else ""
        return f"{n} {rng.choice(_US_STREETS)}{apt}, {city}, {st} {z}{rng.randrange(10, 100)}"
    if form == 1:
        return f"{rng.randrange(1, 300)} {rng.choice(('Baker Street', 'Kings Road', 'Mill Lane'))}, {rng.choice(('London', 'Leeds', 'Bristol'))} {rng.choice(('NW1', 'LS2', 'BS8'))} {rng.randrange(1, 10)}{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRSTU')}"
    if form == 2:
        return f"{rng.choice(('Hauptstraße', 'Lindenweg', 'Bahnhofstraße'))} {rng.randrange(1, 200)}, {rng.randrange(10000, 99999)} {rng.choice(('Berlin', 'München', 'Hamburg'))}"
    if form == 3:
        return f"{rng.randrange(1, 150)} rue {rng.choice(('de Rivoli', 'Victor Hugo', 'des Lilas'))}, {rng.randrange(10, 96):02d}00{rng.randrange(1, 10)} {rng.choice(('Paris', 'Lyon', 'Lille'))}"
    if form == 4:
        return f"{n} {rng.choice(('Bay St', 'Queen St W', 'Granville St'))}, {rng.choice(('Toronto, ON', 'Vancouver, BC'))} {rng.choice('MVK')}{rng.randrange(1, 10)}{rng.choice('ABCEGH')} {rng.randrange(1, 10)}{rng.choice('JKLMNP')}{rng.randrange(1, 10)}"
    if form == 5:
        return f"{rng.randrange(1, 5)}-{rng.randrange(1, 30)}-{rng.randrange(1, 20)} {rng.choice(('Shibuya', 'Jingumae', 'Umeda'))}, {rng.choice(('Shibuya-ku, Tokyo', 'Kita-ku, Osaka'))} {rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}"
    if form == 6:
        return f"{rng.randrange(1, 400)} {rng.choice(('George Street', 'Collins Street'))}, {rng.choice(('Sydney NSW 2000', 'Melbourne VIC 3000'))}"
    return f"{rng.randrange(1, 200)}, {rng.choice(('MG Road', 'Linking Road', 'Park Street'))}, {rng.choice(('Bengaluru 5600', 'Mumbai 4000', 'Kolkata 7000'))}{rng.randrange(10, 99)}"
