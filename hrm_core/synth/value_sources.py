"""Values to plant into carriers, from the ecosystem's generators rather than hand lists.

* names, companies, street addresses: Faker in `LOCALES` (one seeded Faker per locale);
* phone numbers: `phonenumbers`, valid numbers of `PHONE_REGIONS` in national, international or E.164 form;
* SSNs and card numbers: `python-stdnum` validates every value (``stdnum.us.ssn``, ``stdnum.luhn``);
* provider tokens: `TOKEN_FORMATS`, a data table (prefix, alphabet, length) after the public rule sets
  (gitleaks / detect-secrets patterns), plus JWTs and PEM private-key blocks;
* DB URIs: `DB_DIALECTS`, a data table of SQLAlchemy-style schemes with default ports.

`ValueSource(seed)` is deterministic: one `random.Random` drives every choice, and each Faker is
re-seeded from it before each call, so the same seed gives the same sequence of values.
"""

from __future__ import annotations

import random
import string

import phonenumbers
from faker import Faker
from stdnum import luhn
from stdnum.us import ssn as us_ssn

from hrm_core.synth.values import card_digits, group_digits, jwt, private_key_block

LOCALES: tuple[str, ...] = ("en_US", "en_GB", "en_IN", "en_AU", "de_DE", "fr_FR", "es_ES", "es_MX", "it_IT",
                            "nl_NL", "pt_BR", "pl_PL", "sv_SE", "tr_TR", "ja_JP", "zh_CN", "ko_KR", "cs_CZ")  # fmt: skip
PHONE_REGIONS: tuple[str, ...] = ("US", "CA", "GB", "IE", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "SE",
                                  "NO", "DK", "PL", "PT", "BR", "MX", "IN", "JP", "AU", "NZ", "SG", "ZA", "IL",
                                  "KR", "CN", "AR", "TR")  # fmt: skip
_PHONE_FORMATS = (
    phonenumbers.PhoneNumberFormat.NATIONAL,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.E164,
)
_NAME_SUFFIXES = frozenset({"MD", "PhD", "DDS", "DVM", "MBA", "I", "II", "III", "IV", "V", "Jr", "Sr"})
_ALNUM = string.ascii_letters + string.digits
_UPPER_DIGITS = string.ascii_uppercase + string.digits
# provider -> (prefix, alphabet, length of the random part)
TOKEN_FORMATS: dict[str, tuple[str, str, int]] = {
    "aws_access_key_id": ("AKIA", string.ascii_uppercase + "234567", 16),
    "aws_temp_access_key_id": ("ASIA", string.ascii_uppercase + "234567", 16),
    "github_pat_classic": ("ghp_", _ALNUM, 36),
    "github_oauth": ("gho_", _ALNUM, 36),
    "gitlab_pat": ("glpat-", _ALNUM + "-_", 20),
    "slack_bot_token": ("xoxb-", string.digits, 24),
    "slack_user_token": ("xoxp-", string.digits, 24),
    "stripe_live_secret": ("sk_live_", _ALNUM, 24),
    "stripe_restricted": ("rk_live_", _ALNUM, 24),
    "google_api_key": ("AIza", _ALNUM + "-_", 35),
    "openai_project_key": ("sk-proj-", _ALNUM, 48),
    "sendgrid": ("SG.", _ALNUM + "-_", 22),
    "twilio_api_key": ("SK", "0123456789abcdef", 32),
    "npm_token": ("npm_", _ALNUM, 36),
    "pypi_token": ("pypi-AgEIcHlwaS5vcmc", _ALNUM + "-_", 60),
}
# dialect+driver -> default port (SQLAlchemy URL forms)
DB_DIALECTS: dict[str, int] = {
    "postgresql": 5432, "postgresql+psycopg2": 5432, "postgresql+asyncpg": 5432, "mysql": 3306,
    "mysql+pymysql": 3306, "mariadb+mariadbconnector": 3306, "mssql+pyodbc": 1433, "oracle+oracledb": 1521,
    "mongodb": 27017, "mongodb+srv": 0, "redis": 6379, "amqp": 5672, "clickhouse": 8123, "snowflake": 443,
}  # fmt: skip


class ValueSource:
    """Seeded generators of plantable values; each method returns the exact text of one span."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self._fakers = {loc: Faker(loc) for loc in LOCALES}

    def faker(self, locale: str | None = None) -> Faker:
        fk = self._fakers[locale or self.rng.choice(LOCALES)]
        fk.seed_instance(self.rng.getrandbits(32))
        return fk

    def name(self) -> str:
        fk = self.faker()
        return f"{fk.first_name()} {fk.last_name()}" if self.rng.random() < 0.8 else fk.name()

    def mention(self, name: str) -> str:
        """How running text refers to a person named `name`: the full name half the time, else the first
        name or the surname alone, lower case (chat), or with a middle initial. Titles and suffixes of
        Faker's ``name()`` (``Dr.``, ``Jr.``, ``MD``) never start or end a shortened mention."""
        parts = [w for w in name.split() if not w.endswith(".") and w not in _NAME_SUFFIXES] or name.split()
        first, last = parts[0], parts[-1]
        r = self.rng.random()
        if r < 0.5 or len(parts) == 1:
            return name
        if r < 0.7:
            return first
        if r < 0.85:
            return last
        if r < 0.95:
            return self.rng.choice((f"{first} {last}", first)).lower()
        return f"{first} {self.rng.choice(string.ascii_uppercase)}. {last}"

    def company(self) -> str:
        return self.faker().company()

    def address(self) -> str:
        return (
            " ".join(self.faker().address().split("\n"))
            if self.rng.random() < 0.5
            else self.faker().address()
        )

    def email(self, name: str | None = None) -> str:
        fk = self.faker("en_US")
        if name and self.rng.random() < 0.7:
            parts = [
                p for p in "".join(c for c in name.lower() if c.isalpha() or c == " ").split() if p.isascii()
            ]
            if len(parts) >= 2:
                sep = self.rng.choice((".", "_", "", "-"))
                local = self.rng.choice((f"{parts[0]}{sep}{parts[-1]}", f"{parts[0][0]}{parts[-1]}"))
                return f"{local}@{self.rng.choice((fk.free_email_domain(), fk.domain_name()))}"
        # Faker's own email() uses example.* domains: those read as documentation placeholders.
        domain = (
            fk.free_email_domain() if self.rng.random() < 0.4 else fk.domain_name(self.rng.choice((1, 2)))
        )
        return f"{fk.user_name()}@{domain}"

    def phone(self, region: str | None = None) -> str:
        region = region or self.rng.choice(PHONE_REGIONS)
        example = phonenumbers.example_number(region)
        assert example is not None
        width = len(str(example.national_number))
        for _ in range(100):
            digits = str(self.rng.randint(1, 9)) + "".join(self.rng.choices(string.digits, k=width - 1))
            num = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(digits))
            if phonenumbers.is_valid_number(num):
                return phonenumbers.format_number(num, self.rng.choice(_PHONE_FORMATS))
        return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)

    def ssn(self) -> str:
        while True:
            area, group, serial = self.rng.randint(1, 899), self.rng.randint(1, 99), self.rng.randint(1, 9999)
            value = f"{area:03d}{group:02d}{serial:04d}"
            if us_ssn.is_valid(value):
                return self.rng.choice(
                    (us_ssn.format(value), value, value[:3] + " " + value[3:5] + " " + value[5:])
                )

    def card(self) -> str:
        digits = card_digits(self.rng)
        assert luhn.is_valid(digits)
        return group_digits(digits, self.rng.choice((" ", "-", "")))

    def token(self, provider: str | None = None) -> str:
        provider = provider or self.rng.choice((*TOKEN_FORMATS, "jwt", "pem"))
        if provider == "jwt":
            return jwt(self.rng)
        if provider == "pem":
            return private_key_block(self.rng)
        prefix, alphabet, n = TOKEN_FORMATS[provider]
        body = "".join(self.rng.choices(alphabet, k=n))
        if provider.startswith("slack"):
            body = f"{body[:12]}-{body[12:]}-{''.join(self.rng.choices(_ALNUM, k=24))}"
        if provider == "sendgrid":
            body += "." + "".join(self.rng.choices(_ALNUM + "-_", k=43))
        return prefix + body

    def password(self) -> str:
        return self.faker().password(length=self.rng.randint(10, 20), special_chars=self.rng.random() < 0.6)

    def db_uri(self) -> str:
        dialect = self.rng.choice(tuple(DB_DIALECTS))
        fk = self.faker("en_US")
        user = self.rng.choice((fk.user_name(), "app_rw", "svc_" + fk.word(), "admin", "etl"))
        pw = "".join(self.rng.choices(_ALNUM + "!*%", k=self.rng.randint(10, 22)))
        host = self.rng.choice(
            (f"db-{fk.word()}-{self.rng.randint(1, 9)}.{fk.domain_name()}", fk.ipv4_private())
        )
        port = DB_DIALECTS[dialect]
        netloc = f"{host}:{port}" if port and self.rng.random() < 0.7 else host
        return f"{dialect}://{user}:{pw}@{netloc}/{fk.word()}"
