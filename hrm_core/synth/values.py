"""Surface forms of the number, secret and legal span types: realistic, varied, and valid where a rule exists.

Every function takes a seeded `random.Random` and returns the exact text that becomes the span.
Names, mailboxes and postal addresses live in `people.py`.
Card numbers are Luhn-valid and SSNs follow the numbering rules, both via `hrm_core.rules.checksums`.
"""

from __future__ import annotations

import base64
import random
import string

from hrm_core.rules.checksums import luhn_check_digit

_UPPER_DIGITS = string.ascii_uppercase + string.digits
_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"
_B64URL = string.ascii_letters + string.digits + "-_"

# ---- payment cards: (network, prefixes, length, grouping) -------------------------------------------------
_CARD_NETWORKS: tuple[tuple[str, tuple[str, ...], int, tuple[int, ...]], ...] = (
    ("visa", ("4",), 16, (4, 4, 4, 4)),
    ("mastercard", ("51", "52", "53", "54", "55", "2221", "2720"), 16, (4, 4, 4, 4)),
    ("amex", ("34", "37"), 15, (4, 6, 5)),
    ("discover", ("6011", "65", "644"), 16, (4, 4, 4, 4)),
    ("jcb", ("3528", "3566", "3589"), 16, (4, 4, 4, 4)),
    ("diners", ("36", "38"), 14, (4, 6, 4)),
)


def card_digits(rng: random.Random) -> str:
    """A Luhn-valid card number (digits only) of a random network."""
    _, prefixes, length, _ = rng.choice(_CARD_NETWORKS)
    prefix = rng.choice(prefixes)
    body = prefix + "".join(rng.choices(string.digits, k=length - len(prefix) - 1))
    return body + str(luhn_check_digit(body))


def group_digits(digits: str, sep: str) -> str:
    """Card digits grouped the way the network prints them (4-4-4-4, Amex 4-6-5, Diners 4-6-4)."""
    groups = {15: (4, 6, 5), 14: (4, 6, 4)}.get(len(digits), (4,) * (len(digits) // 4))
    out, i = [], 0
    for g in groups:
        out.append(digits[i : i + g])
        i += g
    if i < len(digits):
        out.append(digits[i:])
    return sep.join(out)


def pan(rng: random.Random) -> str:
    """A Luhn-valid card number printed with no separator, spaces or dashes."""
    return group_digits(card_digits(rng), rng.choice(("", " ", " ", "-")))


# ---- SSN ------------------------------------------------------------------------------------------------
def ssn_digits(rng: random.Random) -> str:
    """Nine digits that satisfy the SSN numbering rules (area 001-899 but not 666, group != 00, serial != 0000)."""
    area = rng.randrange(1, 900)
    while area == 666:
        area = rng.randrange(1, 900)
    return f"{area:03d}{rng.randrange(1, 100):02d}{rng.randrange(1, 10000):04d}"


def ssn(rng: random.Random) -> str:
    """A valid SSN as 123-45-6789, 123 45 6789 or 123456789."""
    d = ssn_digits(rng)
    sep = rng.choice(("-", "-", "-", " ", ""))
    return f"{d[:3]}{sep}{d[3:5]}{sep}{d[5:]}"


# ---- phone numbers --------------------------------------------------------------------------------------
def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.digits, k=n))


def phone(rng: random.Random) -> str:
    """A phone number in one of several US and international formats."""
    area, exch, line = rng.randrange(201, 990), rng.randrange(200, 1000), rng.randrange(0, 10000)
    form = rng.randrange(12)
    if form == 0:
        return f"({area}) {exch}-{line:04d}"
    if form == 1:
        return f"{area}-{exch}-{line:04d}"
    if form == 2:
        return f"{area}.{exch}.{line:04d}"
    if form == 3:
        return f"+1 {area} {exch} {line:04d}"
    if form == 4:
        return f"+1-{area}-{exch}-{line:04d}"
    if form == 5:
        return f"+44 20 {_digits(rng, 4)} {_digits(rng, 4)}"
    if form == 6:
        return f"+44 7{_digits(rng, 3)} {_digits(rng, 6)}"
    if form == 7:
        return f"+49 30 {_digits(rng, 7)}"
    if form == 8:
        return f"+33 {rng.randrange(1, 8)} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)}"
    if form == 9:
        return f"+91 9{_digits(rng, 4)} {_digits(rng, 5)}"
    if form == 10:
        return f"+81 3-{_digits(rng, 4)}-{_digits(rng, 4)}"
    return f"+61 2 {_digits(rng, 4)} {_digits(rng, 4)}"


# ---- secrets --------------------------------------------------------------------------------------------
def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choices(alphabet, k=n))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def jwt(rng: random.Random) -> str:
    """A signed-looking JWT: base64url header.payload.signature with real JSON inside."""
    header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    sub, iat = rng.randrange(10**5, 10**7), rng.randrange(1_600_000_000, 1_800_000_000)
    payload = _b64url(f'{{"sub":"{sub}","role":"admin","iat":{iat}}}'.encode())
    return f"{header}.{payload}.{_rand(rng, _B64URL, 43)}"


def private_key_block(rng: random.Random) -> str:
    """A PEM private-key block (RSA, EC, OpenSSH or PKCS#8 header) with a few base64 lines."""
    kind = rng.choice(("RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "PRIVATE KEY"))
    alphabet = string.ascii_letters + string.digits + "+/"
    lines = ["MIIEowIBAAKCAQEA" + _rand(rng, alphabet, 48)]
    lines += [_rand(rng, alphabet, 64) for _ in range(rng.randrange(2, 5))]
    lines.append(_rand(rng, alphabet, rng.randrange(12, 40)) + "==")
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----"


def secret(rng: random.Random) -> str:
    """An API key, token or private key of a cloud, VCS, payment or messaging provider."""
    form = rng.randrange(12)
    if form == 0:
        return "AKIA" + _rand(rng, string.ascii_uppercase + "234567", 16)
    if form == 1:
        return _rand(rng, string.ascii_letters + string.digits + "/+", 40)  # AWS secret access key
    if form == 2:
        return "ghp_" + _rand(rng, _ALNUM, 36)
    if form == 3:
        return "github_pat_11" + _rand(rng, _UPPER_DIGITS, 20) + "_" + _rand(rng, _ALNUM, 59)
    if form == 4:
        return "sk_live_" + _rand(rng, _ALNUM, 24)
    if form == 5:
        return f"xoxb-{_digits(rng, 12)}-{_digits(rng, 13)}-{_rand(rng, _ALNUM, 24)}"
    if form == 6:
        return "AIza" + _rand(rng, _ALNUM + "-_", 35)  # GCP API key
    if form == 7:
        return private_key_block(rng)
    if form == 8:
        return jwt(rng)
    if form == 9:
        return "glpat-" + _rand(rng, _ALNUM + "-_", 20)
    if form == 10:
        return f"SG.{_rand(rng, _ALNUM + '-_', 22)}.{_rand(rng, _ALNUM + '-_', 43)}"
    return "sk-proj-" + _rand(rng, _ALNUM, 48)


# ---- database URIs --------------------------------------------------------------------------------------
_DB_USERS = ("admin", "app_rw", "svc_billing", "postgres", "root", "etl_user", "reporting", "api")
_DB_HOSTS = ("db-prod-01", "pg-main", "billing-db", "mysql-replica-2", "analytics", "orders-db", "cache-01")
_DB_NAMES = ("orders", "billing", "customers", "prod", "analytics", "payments", "hr_core")


def db_uri(rng: random.Random, org: str) -> str:
    """A database connection string with credentials, in one of several schemes."""
    user, pw = rng.choice(_DB_USERS), _rand(rng, _ALNUM + "!#%*", rng.randrange(10, 20))
    host, db = f"{rng.choice(_DB_HOSTS)}.internal.{org}", rng.choice(_DB_NAMES)
    form = rng.randrange(8)
    if form == 0:
        return f"postgres://{user}:{pw}@{host}:5432/{db}"
    if form == 1:
        return f"postgresql://{user}:{pw}@{host}:5432/{db}?sslmode=require"
    if form == 2:
        return f"mysql://{user}:{pw}@{host}:3306/{db}"
    if form == 3:
        return f"mongodb+srv://{user}:{pw}@cluster0.{_rand(rng, 'abcdefghijklmnop0123456789', 5)}.mongodb.net/{db}"
    if form == 4:
        return f"redis://:{pw}@{host}:6379/0"
    if form == 5:
        return f"jdbc:postgresql://{host}:5432/{db}?user={user}&password={pw}"
    if form == 6:
        return f"jdbc:mysql://{host}:3306/{db}?user={user}&password={pw}"
    return f"amqp://{user}:{pw}@{host}:5672/vhost"


# ---- legal ----------------------------------------------------------------------------------------------
_NDA_CLAUSES: tuple[str, ...] = (
    "The Receiving Party shall hold all Confidential Information in strict confidence and shall not disclose it to any third party without the prior written consent of {party}.",
    "Confidential Information shall be used solely for the purpose of evaluating the Proposed Transaction and for no other purpose whatsoever.",
    "The obligations of confidentiality set out herein shall survive termination of this Agreement for a period of five (5) years.",
    "Upon written request of {party}, the Recipient shall promptly return or destroy all documents containing Confidential Information, including all copies thereof.",
    "Neither party shall disclose the existence or terms of this Agreement, or the fact that discussions are taking place, except as required by law.",
    "The Recipient shall restrict access to Confidential Information to those of its employees who have a need to know and who are bound by obligations no less protective than those herein.",
    "Any breach of this confidentiality obligation will cause {party} irreparable harm for which monetary damages would be an inadequate remedy.",
    "This information is disclosed under the Mutual Non-Disclosure Agreement dated {date} between {party} and {other} and may not be shared outside the deal team.",
)
_PARTIES = (
    "Acme Holdings Inc.",
    "Northwind Traders Ltd.",
    "Globex Corporation",
    "Fabrikam GmbH",
    "Tailspin Toys LLC",
    "Litware S.A.",
)
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def nda_clause(rng: random.Random) -> str:
    """A confidentiality clause of a non-disclosure agreement, with parties and dates filled in."""
    party, other = rng.sample(_PARTIES, 2)
    date = f"{rng.choice(_MONTHS)} {rng.randrange(1, 29)}, {rng.randrange(2019, 2026)}"
    return rng.choice(_NDA_CLAUSES).format(party=party, other=other, date=date)


def matter_id(rng: random.Random) -> str:
    """A legal matter number in one of several docketing formats (2024-LIT-0042, M-123456, ...)."""
    year = rng.randrange(2018, 2027)
    form = rng.randrange(6)
    if form == 0:
        return f"{year}-{rng.choice(('LIT', 'CORP', 'IP', 'EMP', 'REG'))}-{rng.randrange(1, 10000):04d}"
    if form == 1:
        return f"M-{rng.randrange(100000, 1000000)}"
    if form == 2:
        return f"MTR-{year}-{rng.randrange(1, 100000):05d}"
    if form == 3:
        return f"{rng.randrange(10000, 100000)}-{rng.randrange(1, 1000):03d}"  # client-matter
    if form == 4:
        return f"{year % 100}-cv-{rng.randrange(100, 10000):05d}"  # court docket
    return f"LGL-{rng.choice(string.ascii_uppercase)}{rng.choice(string.ascii_uppercase)}-{rng.randrange(1000, 10000)}"
