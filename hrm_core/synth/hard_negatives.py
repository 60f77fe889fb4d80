"""Hard negatives: text that looks sensitive to a pattern matcher but is not, and carries no span.

Each kind returns a full sentence. Decisions (documented in docs/synthetic_data.md):
* role addresses of public companies (support@, press@, info@) are published contact points, not
  personal data, so they are not EMAIL spans;
* SSN-like numbers that break the numbering rules use area 000, 666 or 9xx; for 9xx the group stays
  below 50 so the number is not a valid ITIN (ITIN groups are 50-65, 70-88, 90-92, 94-99);
* documentation example keys are the providers' published placeholders.
"""

from __future__ import annotations

import random
import string

from hrm_core.rules.checksums import luhn_check_digit
from hrm_core.synth.domains import PUBLIC_ROLE_ADDRESSES
from hrm_core.synth.values import group_digits

_DOC_KEYS: tuple[str, ...] = (
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "sk_test_XXXXXXXXXXXXXXXXXXXXXXXX",
    "your-api-key-here",
    "<YOUR_GITHUB_TOKEN>",
    "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xoxb-your-bot-token",
    "postgres://user:password@localhost:5432/mydb",
    "mysql://USERNAME:PASSWORD@HOST:3306/DATABASE",
)

KINDS: tuple[str, ...] = (
    "luhn_invalid_number",
    "order_number",
    "tracking_number",
    "uuid",
    "commit_hash",
    "doc_example_key",
    "public_contact",
    "nda_general",
    "invalid_ssn",
)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.digits, k=n))


def luhn_invalid_number(rng: random.Random) -> str:
    body = "4" + _digits(rng, 14)
    bad = (luhn_check_digit(body) + rng.randrange(1, 10)) % 10  # any digit but the valid one
    ref = group_digits(body + str(bad), rng.choice(("", " ", "-")))
    return rng.choice(
        (
            f"Your support case reference is {ref}.",
            f"Invoice batch {ref} was reconciled this morning.",
            f"The device serial on the RMA form is {ref}.",
        )
    )


def order_number(rng: random.Random) -> str:
    ref = rng.choice(
        (
            f"{_digits(rng, 3)}-{_digits(rng, 7)}-{_digits(rng, 7)}",
            f"PO-{rng.randrange(2019, 2027)}-{_digits(rng, 5)}",
            f"SO{_digits(rng, 8)}",
        )
    )
    return rng.choice((f"Order #{ref} shipped yesterday.", f"Can you check the status of order {ref}?"))


def tracking_number(rng: random.Random) -> str:
    ref = rng.choice(
        (
            "1Z" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=16)),
            f"9400 {_digits(rng, 4)} {_digits(rng, 4)} {_digits(rng, 4)} {_digits(rng, 4)} {_digits(rng, 2)}",
            f"JD{_digits(rng, 18)}",
        )
    )
    return f"The tracking number for the replacement monitor is {ref}."


def uuid(rng: random.Random) -> str:
    h = "".join(rng.choices("0123456789abcdef", k=32))
    u = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{rng.choice('89ab')}{h[17:20]}-{h[20:]}"
    return rng.choice((f"Request id {u} failed with a 502.", f"The tenant id is {u}, see the dashboard."))


def commit_hash(rng: random.Random) -> str:
    h = "".join(rng.choices("0123456789abcdef", k=40))
    return rng.choice(
        (
            f"Reverted in {h}.",
            f"Bisect points at commit {h[:7]}.",
            f"Cherry-pick {h} onto the release branch.",
        )
    )


def doc_example_key(rng: random.Random) -> str:
    key = rng.choice(_DOC_KEYS)
    return rng.choice(
        (
            f"The README example uses {key} as a placeholder, replace it with your own.",
            f"Docs snippet: set API_KEY={key} in .env.example.",
            f"Don't worry, {key} is the sample value from the vendor docs.",
        )
    )


def public_contact(rng: random.Random) -> str:
    addr = rng.choice(PUBLIC_ROLE_ADDRESSES)
    return rng.choice((f"I opened a ticket with {addr} about it.", f"Their press team is at {addr}."))


def nda_general(rng: random.Random) -> str:
    return rng.choice(
        (
            "We should sign an NDA before the call.",
            "Is there a mutual NDA in place with them yet?",
            "Legal has a standard NDA template on the wiki if the vendor asks.",
            "Let's keep the demo high level until the NDA is countersigned.",
        )
    )


def invalid_ssn(rng: random.Random) -> str:
    area = rng.choice(("000", "666", f"9{rng.randrange(0, 100):02d}"))
    number = f"{area}-{rng.randrange(1, 50):02d}-{rng.randrange(1, 10000):04d}"
    return rng.choice(
        (
            f"The form's sample field shows {number}, which is not a real number.",
            f"Validation correctly rejects test input {number}.",
        )
    )


_MAKERS = {
    "luhn_invalid_number": luhn_invalid_number,
    "order_number": order_number,
    "tracking_number": tracking_number,
    "uuid": uuid,
    "commit_hash": commit_hash,
    "doc_example_key": doc_example_key,
    "public_contact": public_contact,
    "nda_general": nda_general,
    "invalid_ssn": invalid_ssn,
}


def hard_negative_sentence(kind: str, rng: random.Random) -> str:
    """One sentence of hard-negative `kind` (one of `KINDS`)."""
    return _MAKERS[kind](rng)
