import base64
import random
import re

import pytest

from hrm_core.rules.checksums import luhn_valid, ssn_valid
from hrm_core.synth import obfuscation as ob
from hrm_core.synth import people
from hrm_core.synth import values as v
from hrm_core.synth.body import BodyBuilder
from hrm_core.synth.hard_negatives import KINDS, hard_negative_sentence

SECRET_PATTERNS = [
    r"AKIA[A-Z2-7]{16}",
    r"[A-Za-z0-9/+]{40}",
    r"ghp_[A-Za-z0-9]{36}",
    r"github_pat_11[A-Z0-9]{20}_[A-Za-z0-9]{59}",
    r"sk_live_[A-Za-z0-9]{24}",
    r"xoxb-\d{12}-\d{13}-[A-Za-z0-9]{24}",
    r"AIza[A-Za-z0-9_-]{35}",
    r"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END ([A-Z]+ )?PRIVATE KEY-----",
    r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}",
    r"glpat-[A-Za-z0-9_-]{20}",
    r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
    r"sk-proj-[A-Za-z0-9]{48}",
]
DBURI = re.compile(
    r"((postgres|postgresql|mysql|mongodb\+srv|amqp)://[a-z_]+:[^@\s]+@[\w.-]+|redis://:[^@\s]+@[\w.-]+:6379/0"
    r"|jdbc:(postgresql|mysql)://[\w.-]+:\d+/\w+\?user=\w+&password=\S+)"
)
MATTER = re.compile(
    r"(20\d\d-(LIT|CORP|IP|EMP|REG)-\d{4}|M-\d{6}|MTR-20\d\d-\d{5}|\d{5}-\d{3}|\d\d-cv-\d{5}|LGL-[A-Z]{2}-\d{4})"
)


@pytest.fixture
def rng():
    return random.Random(7)


def test_pans_are_luhn_valid_with_known_networks_and_separators(rng):
    seen_lengths, seen_seps = set(), set()
    for _ in range(500):
        p = v.pan(rng)
        digits = re.sub(r"[ -]", "", p)
        assert digits.isdigit() and luhn_valid(p), p
        seen_lengths.add(len(digits))
        seen_seps.add(" " if " " in p else "-" if "-" in p else "")
        if len(digits) == 15:
            assert digits[:2] in ("34", "37")  # Amex
    assert seen_lengths == {14, 15, 16}
    assert seen_seps == {"", " ", "-"}


def test_amex_grouping_is_4_6_5():
    assert v.group_digits("378282246310005", " ") == "3782 822463 10005"
    assert v.group_digits("4111111111111111", "-") == "4111-1111-1111-1111"


def test_ssns_follow_numbering_rules(rng):
    for _ in range(2000):
        s = v.ssn(rng)
        assert ssn_valid(s), s
        assert re.fullmatch(r"\d{3}([- ]?)\d{2}\1\d{4}", s)


def test_phones_have_plausible_digit_counts_and_several_countries(rng):
    phones = [v.phone(rng) for _ in range(600)]
    for p in phones:
        assert re.fullmatch(r"[+()\d .-]+", p), p
        assert 10 <= sum(c.isdigit() for c in p) <= 13, p
    prefixes = {p.split(" ")[0] for p in phones if p.startswith("+")}
    assert {"+1", "+44", "+49", "+33", "+91", "+81", "+61"} <= prefixes


def test_every_secret_matches_a_provider_format(rng):
    for _ in range(600):
        s = v.secret(rng)
        assert any(re.fullmatch(p, s) for p in SECRET_PATTERNS), s


def test_jwt_payload_is_real_json(rng):
    token = v.jwt(rng)
    payload = token.split(".")[1]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert decoded.startswith(b'{"sub":"') and b'"role":"admin"' in decoded


def test_db_uris_carry_credentials_and_cover_schemes(rng):
    uris = [v.db_uri(rng, "acme.example") for _ in range(400)]
    for u in uris:
        assert DBURI.match(u) and not any(c.isspace() for c in u), u  # credentials up front, one token
    schemes = {u.split("://")[0] for u in uris}
    assert schemes == {
        "postgres",
        "postgresql",
        "mysql",
        "mongodb+srv",
        "redis",
        "jdbc:postgresql",
        "jdbc:mysql",
        "amqp",
    }


def test_matter_ids_and_nda_clauses(rng):
    for _ in range(300):
        assert MATTER.fullmatch(v.matter_id(rng))
        clause = v.nda_clause(rng)
        assert "{" not in clause and clause.endswith(".")
        assert re.search(r"confiden|disclos", clause, re.IGNORECASE)


def test_names_and_addresses_vary(rng):
    names = {people.person_name(rng) for _ in range(300)}
    addresses = [people.postal_address(rng) for _ in range(400)]
    assert len(names) > 200
    assert any(", " in n and n.split(", ")[0] in people.LAST_NAMES for n in names)  # "Last, First"
    for city in ("Berlin", "Paris", "Tokyo", "Sydney", "Toronto", "London"):
        assert any(city in a for a in addresses), city


def test_mailbox_is_ascii(rng):
    assert people.mailbox("Chloé", "Wiśniewski", random.Random(0)).isascii()
    assert people.mailbox("Björn", "Müller", random.Random(0)).isascii()


def test_obfuscations_are_reversible_to_the_original(rng):
    ssn = "123-45-6789"
    assert base64.b64decode(ob.to_base64(ssn, rng)).decode() == ssn
    assert bytes.fromhex(ob.to_hex(ssn, random.Random(1)).removeprefix("0x")).decode() == ssn
    zw = ob.insert_zero_width(ssn, rng)
    assert zw != ssn and "".join(c for c in zw if c not in "\u200b\u200c\u200d\u2060") == ssn
    split = ob.split_digits("4111 1111 1111 1111", rng)
    assert "".join(c for c in split if c.isdigit()) == "4111111111111111" and split != "4111111111111111"
    spelled = ob.spell_digits("123-45-6789", rng)
    words = re.findall(r"[a-z]+", spelled)
    assert [
        (["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]).index(w)
        for w in words
    ] == list(range(1, 10))
    assert ob.to_leetspeak("Confidential", rng) == "C0nf1d3n714l"
    homo = ob.to_homoglyphs("postgres", rng)
    assert homo != "postgres" and len(homo) == 8 and not homo.isascii()


def test_obfuscate_always_changes_the_value(rng):
    for kind in ob.KINDS:
        assert ob.obfuscate("4111111111111111", kind, rng) != "4111111111111111"


@pytest.mark.parametrize("kind", KINDS)
def test_hard_negative_sentences_are_not_what_they_imitate(kind, rng):
    for _ in range(50):
        s = hard_negative_sentence(kind, rng)
        if kind == "luhn_invalid_number":
            number = re.search(r"\d[\d -]{14,}\d", s).group()
            assert len(re.sub(r"\D", "", number)) == 16 and not luhn_valid(number)
        if kind == "invalid_ssn":
            number = re.search(r"\d{3}-\d{2}-\d{4}", s).group()
            assert not ssn_valid(number)
            assert not (number.startswith("9") and int(number[4:6]) >= 50)  # never a valid ITIN group


def test_body_builder_offsets_cover_exactly_the_values():
    b = BodyBuilder().text("Card: ").value("PAN", "4111 1111 1111 1111")
    b.template(" and {n} at {p}.", {"n": ("NAME", "Ana Silva"), "p": ("PHONE", "+44 20 7946 0958")})
    body = b.build()
    assert [(s["type"], body[s["start"] : s["end"]]) for s in b.spans] == [
        ("PAN", "4111 1111 1111 1111"),
        ("NAME", "Ana Silva"),
        ("PHONE", "+44 20 7946 0958"),
    ]
    assert body == "Card: 4111 1111 1111 1111 and Ana Silva at +44 20 7946 0958."
