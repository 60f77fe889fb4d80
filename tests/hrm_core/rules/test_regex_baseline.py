"""The regex baseline finds what its rules promise, and stays quiet on the documented near-misses."""

from __future__ import annotations

import itertools
import time

import pytest

from hrm_core.data.contract import validate_example
from hrm_core.rules.regex_baseline import RegexBaseline, scan_text


def found(text: str) -> list[tuple[str, str]]:
    return [(t, text[s:e]) for t, s, e in scan_text(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111 ok", [("PAN", "4111 1111 1111 1111")]),
        ("amex 3782-822463-10005.", [("PAN", "3782-822463-10005")]),
        ("card 4111 1111 1111 1112 (bad Luhn)", []),
        ("SSN 123-45-6789", [("SSN", "123-45-6789")]),
        ("id 666-45-6789 and 900-12-3456", []),  # area 666 and 9xx are never issued
        ("ssn: 078051120", [("SSN", "078051120")]),
        ("ref 078051120", []),  # nine bare digits need an SSN cue
        ("mail bob.smith@corp.example now", [("EMAIL", "bob.smith@corp.example")]),
        (
            "call (415) 555-0132 or +44 20 7946 0958",
            [("PHONE", "(415) 555-0132"), ("PHONE", "+44 20 7946 0958")],
        ),
        ("on 2024-01-15 order 555-123-4567", []),
        ("AKIAQWERTYUIOPASDFGH", [("SECRET", "AKIAQWERTYUIOPASDFGH")]),
        ("AKIAIOSFODNN7EXAMPLE and sk_test_4eC39HqLyjWDarjtT1zdp7dc", []),
        ("glpat-Ab3dE6gH9jK2mN5pQ8sT", [("SECRET", "glpat-Ab3dE6gH9jK2mN5pQ8sT")]),
        ('password = "Xk9#mP2qvL7w"', [("SECRET", "Xk9#mP2qvL7w")]),
        ("password = 'changeme123' and password = $DB_PASSWORD", []),
        (
            "uri postgres://app:S3cr3t!@db.corp.example:5432/prod.",
            [("DBURI", "postgres://app:S3cr3t!@db.corp.example:5432/prod")],
        ),
        (
            "jdbc:mysql://h1:3306/db?user=a&password=b",
            [("DBURI", "jdbc:mysql://h1:3306/db?user=a&password=b")],
        ),
        ("Matter 2024-LIT-0042 update", [("MATTER", "2024-LIT-0042")]),
        ("Ship to 1600 Pennsylvania Avenue NW today", [("ADDR", "1600 Pennsylvania Avenue NW")]),
        ("Dear Ms. Jane Doe, hello", [("NAME", "Jane Doe")]),
    ],
)
def test_rules(text, expected):
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Personal Info:\nPhone:\n467 3395\n", ["467 3395"]),  # a form's cue on the line above
        ("Name: Sieda Batukayev\nPhone: (99) 645-791", ["(99) 645-791"]),
        ("Can someone call me on 9472 7916 please?", ["9472 7916"]),
        ("Mobile: 0341 8387176", ["0341 8387176"]),
        ("reach us on (08) 8747 6301.", ["(08) 8747 6301"]),
        ("Tel/Fax: 44-870-136-7079", ["44-870-136-7079"]),
        ("His cell number is 71-33-52-22.", ["71-33-52-22"]),
        # no phone cue right before: left to the model
        ("They're not answering at 78 651 450", []),
        ("Veronica-Stiebitz-Ring 9712 28064", []),  # "ring" is a cue only as "ring me"
        ("Phone support handled 1234 5678 tickets", []),  # the cue is not right before the number
        ("order number: 123 4567", []),
        ("call ticket #: 1234567", []),  # a not-a-phone word right before wins
        ("Phone: 123-45-6789", []),  # SSN-shaped
        ("Phone: 12 34", []),  # too few digits for a phone
        # a not-a-phone word is a whole word, and a phone cue that ends on it wins
        ("Phone no. 0393 1144137", ["0393 1144137"]),
        ("FAX # (531) 473-1084", ["(531) 473-1084"]),
        ("He said 415-555-0100 works", ["415-555-0100"]),
        ("order # 415-555-0100", []),
        ("Apt. 415-555-0100", []),
    ],
)
def test_a_number_in_its_own_countrys_layout_is_a_phone_after_a_phone_cue(text, expected):
    assert [v for t, v in found(text) if t == "PHONE"] == expected


def test_private_key_jwt_and_nda_clause():
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    nda = "The Receiving Party shall hold all Confidential Information in strict confidence."
    text = f"Hi.\n{key}\ntoken {jwt}\n{nda} Thanks."
    assert found(text) == [("SECRET", key), ("SECRET", jwt), ("NDA", nda)]


def test_obfuscated_values_are_found_and_mapped_to_original_offsets():
    zw = "card 4111\u200b 1111 1111 1111 end"
    assert found(zw) == [("PAN", "4111\u200b 1111 1111 1111")]
    b64 = "see MTIzLTQ1LTY3ODk= please"  # base64 of an SSN
    assert found(b64) == [("SSN", "MTIzLTQ1LTY3ODk=")]


def test_spans_sorted_and_non_overlapping():
    text = "Email a@b.co, db mongodb+srv://u:Pa55w0rdX@c0.mongodb.net/x, ssn 123-45-6789, a@b.co again"
    spans = scan_text(text)
    assert [t for t, _, _ in spans] == ["EMAIL", "DBURI", "SSN", "EMAIL"]
    assert all(a[2] <= b[1] for a, b in itertools.pairwise(spans))


def _example(body: str, recipients=(), links=(), channel="email") -> object:
    return validate_example(
        {
            "id": "x",
            "channel": channel,
            "user": {"role": "ENG"},
            "recipients": list(recipients),
            "links": list(links),
            "body": body,
            "meta": {"org_domains": ["corp.example"]},
        }
    )


def test_doc_scores_rise_with_hits_and_exposure_follows_recipients():
    rb = RegexBaseline()
    none = rb.predict(_example("Lunch at noon?")).doc_scores
    one = rb.predict(_example("my card 4111 1111 1111 1111")).doc_scores
    two = rb.predict(_example("card 4111 1111 1111 1111 ssn 123-45-6789")).doc_scores
    assert none["sensitivity"] < 0.1 < one["sensitivity"] < two["sensitivity"]
    assert one["sensitivity"] == pytest.approx(0.9)  # one PAN, severity 0.9, no keywords
    assert two["sensitivity"] == pytest.approx(1 - 0.1 * 0.1)
    assert none["context"] == 0.5
    internal = rb.predict(_example("hi", ["bob@corp.example", "al@eu.corp.example"])).doc_scores["exposure"]
    webmail = rb.predict(_example("hi", ["bob@gmail.com"])).doc_scores["exposure"]
    paste = rb.predict(_example("hi", ["bob@corp.example"], ["https://pastebin.com/abc"])).doc_scores[
        "exposure"
    ]
    assert internal == pytest.approx(0.02) and webmail > 0.9 and paste > 0.85


def test_obfuscation_head():
    rb = RegexBaseline()
    plain = rb.predict(_example("Quarterly numbers attached.")).doc_scores["obfuscation"]
    hidden = rb.predict(_example("see MTIzLTQ1LTY3ODk= ok")).doc_scores["obfuscation"]
    homoglyph = rb.predict(_example("the pаssword is here")).doc_scores["obfuscation"]  # Cyrillic а
    spelled = rb.predict(_example("it is four one one one two two two two")).doc_scores["obfuscation"]
    assert plain == pytest.approx(0.01)
    assert hidden > 0.8 and homoglyph > 0.8 and spelled > 0.7


def test_scan_is_fast_on_a_2kb_message():
    para = "Following up on the planning review; the roadmap covers billing and onboarding changes. "
    text = (para * 25)[:1950] + " Call (415) 555-0132."
    scan_text(text)
    t0 = time.perf_counter()
    for _ in range(20):
        scan_text(text)
    per_message_ms = (time.perf_counter() - t0) / 20 * 1000
    assert per_message_ms < 20  # generous on a shared 2-core box; about 1.5 ms when idle


def test_ascii_text_takes_the_short_path_to_the_same_spans():
    from hrm_core.rules import regex_baseline as rb

    # The short path rests on this: nothing the normalizer folds or drops is ASCII.
    assert not any(c.isascii() for c in rb._ZERO_WIDTH + "".join(rb._CONFUSABLE_CHARS))
    assert not any(chr(k).isascii() for k in rb._HOMOGLYPHS)
    from hrm_core.serve.bench import make_message

    texts = [make_message(2048, seed=i)["body"] for i in range(4)] + [
        "Card 4111 1111 1111 1111, SSN 123-45-6789, mail ann.lee@corp.example, call +1 415 555 0100.",
        "key: QUtJQUlPU0ZPRE5ON0VYQU1QTEU= and one two three four five six seven eight nine",
    ]
    for text in texts:
        assert text.isascii()
        # The same text made non-ASCII after its end takes the general path (fold, map back).
        spans, obf = rb._scan(text)
        general, general_obf = rb._scan(text + "\n\u00e9")
        assert spans == general and obf == general_obf, text


def test_gates_admit_github_fine_grained_tokens_and_strictest_confidence():
    # A gate is a cheap substring test that must hold wherever its rule can match: these two alternatives
    # were once behind gates they did not contain.
    pat = "github_pat_11ABCDEFX0123456789_" + "abcdefxyzklmnopqrstuvwxyz" * 2 + "ABCDEFXYZ0"
    assert found(f"use {pat} here") == [("SECRET", pat)]  # no "gh" anywhere in the text
    text = "Please keep this in strictest confidence until Monday."
    assert found(text) == [("NDA", text)]
