"""Surrogates: no real contact data survives, every surrogate is labelled, one person stays one person."""

from __future__ import annotations

import re

from hrm_core.data.corpus.surrogate import EMAIL_PATTERN, Surrogator, running_text_names
from hrm_core.rules.regex_baseline import phone_spans

from .conftest import REAL_MAIL, REAL_ORIGINALS


def test_real_contact_data_is_gone_and_every_email_is_a_labelled_surrogate():
    doc = Surrogator(seed=0).replace("t:1", "mail", REAL_MAIL)
    for original in REAL_ORIGINALS:
        assert original not in doc.text
    email_spans = {doc.text[s:e] for t, s, e in doc.spans if t == "EMAIL"}
    assert {m.group() for m in EMAIL_PATTERN.finditer(doc.text)} == email_spans
    assert email_spans <= set(doc.surrogates.values())
    assert doc.annotated_types == ["EMAIL", "PHONE"]  # NAME cannot be found completely in mail


def test_one_original_one_surrogate_within_a_document():
    doc = Surrogator(seed=0).replace("t:1", "mail", REAL_MAIL)
    texts = [(t, doc.text[s:e]) for t, s, e in doc.spans]
    fake_wendell = doc.surrogates["Wendell Okafor"]
    assert texts.count(("NAME", fake_wendell)) == 2  # From header and the "wrote:" line
    assert texts.count(("EMAIL", doc.surrogates["wendell_okafor@quarry-systems.test"])) == 2
    # the signature's first name follows the surrogate, and the address follows the surrogate name
    assert ("NAME", fake_wendell.split()[0]) in texts
    local = doc.surrogates["wendell_okafor@quarry-systems.test"].split("@")[0]
    assert local.replace("_", " ").split() == fake_wendell.lower().split() or "_" in local
    types = [t for t, _ in texts]
    assert types.count("PHONE") == 2 and types.count("NAME") == 5


def test_spans_are_sorted_disjoint_and_deterministic():
    a = Surrogator(seed=3).replace("t:9", "mail", REAL_MAIL)
    b = Surrogator(seed=3).replace("t:9", "mail", REAL_MAIL)
    assert a.text == b.text and a.spans == b.spans
    ends = [-1] + [e for _, _, e in a.spans]
    assert all(s >= ends[i] for i, (_, s, _) in enumerate(a.spans))
    assert Surrogator(seed=4).replace("t:9", "mail", REAL_MAIL).text != a.text


def test_cued_phones_the_us_matcher_cannot_parse_keep_their_layout_with_other_digits():
    text = (
        "RFC Networks   tel: 01 8832063\n fax: 01 8832041\nMobile: +353 87 123 4567\nCall (212) 555-0187.\n"
    )
    doc = Surrogator(seed=0, find_phones=phone_spans).replace("t:p", "mail", text)
    phones = [doc.text[s:e] for t, s, e in doc.spans if t == "PHONE"]
    assert len(phones) == 4
    for original in ("01 8832063", "01 8832041", "353 87 123 4567", "555-0187"):
        assert original not in doc.text
    assert [re.sub(r"\d", "9", p) for p in phones[:2]] == ["99 9999999", "99 9999999"]  # the rules' finds
    assert phones[0][0] == phones[1][0] == "0"  # the trunk prefix stays
    assert phones[2].startswith("+353 ")  # the matcher parses this one: a valid Irish surrogate
    assert doc.text.count("tel: ") == doc.text.count("fax: ") == 1 and doc.text.endswith(".\n")
    matcher_only = Surrogator(seed=0).replace("t:p", "mail", text).text  # no finder: the matcher's alone
    assert "tel: 01 8832063" in matcher_only and "555-0187" not in matcher_only


def test_code_is_not_searched_for_phone_numbers():
    code = "VERSION = (2025, 550, 1234)\nTIMEOUT = 2025550143  # maintainer: Quentin Marlowe <qmarlowe@pyfixture.test>\n"
    doc = Surrogator().replace("t:c", "code", code)
    assert [t for t, _, _ in doc.spans] == ["NAME", "EMAIL"] and "2025550143" in doc.text
    assert doc.annotated_types == ["EMAIL"]


def test_people_named_in_running_text_are_found_and_titles_organisations_and_places_are_not():
    found = running_text_names(
        "Pull request courtesy Matt Chisholm. Thanks to Danny O'Brien's essay and to Mary Smith-Jones, "
        "and to a great American President, Harry S. Truman, who declared this.\n"
        "Prime Minister Justin Trudeau met the Harry Fox Agency; John Perry Barlow wrote it.\n"
        "In May we met at Victoria Park. matt chisholm and Zqxw Chisholm stay."
    )
    assert found == {"Matt Chisholm", "Danny O'Brien", "Mary Smith-Jones", "Harry S. Truman"}


def test_running_text_names_get_one_surrogate_each_everywhere_but_in_code_unless_turned_off():
    prose = (
        "The committee heard from Matt Chisholm on Tuesday. Later Matt Chisholm said the plan was sound,\n"
        "and Rosa Delgado agreed with him.\n"
    )
    assert Surrogator(seed=0, running_text_names=False).replace("t:p", "prose", prose).text == prose  # off
    doc = Surrogator(seed=0).replace("t:p", "prose", prose)  # on by default
    for original in ("Matt Chisholm", "Rosa Delgado"):
        assert original not in doc.text
    names = [doc.text[s:e] for t, s, e in doc.spans if t == "NAME"]
    assert names == [doc.surrogates["Matt Chisholm"]] * 2 + [doc.surrogates["Rosa Delgado"]]
    assert doc.surrogates["Matt Chisholm"] != doc.surrogates["Rosa Delgado"]
    assert doc.annotated_types == ["EMAIL", "PHONE"]  # a name off the lists may still be there
    code = "# heard from Matt Chisholm on Tuesday\nVALUE = 3\n"
    assert Surrogator(seed=0).replace("t:c", "code", code).text == code


def test_the_matchers_candidate_floor_is_below_every_number_phonenumbers_can_call_valid():
    import phonenumbers
    from phonenumbers import PhoneMetadata

    from hrm_core.data.corpus.surrogate import _SHORTEST_PHONE_CANDIDATE

    def shortest(md, cc: int) -> int:  # country code digits plus the shortest national number
        return len(str(cc)) + min(n for n in md.general_desc.possible_length if n > 0)

    regions = [PhoneMetadata.metadata_for_region(r) for r in phonenumbers.SUPPORTED_REGIONS]
    lengths = [shortest(md, md.country_code) for md in regions if md.general_desc.possible_length]
    lengths += [
        shortest(PhoneMetadata.metadata_for_nongeo_region(cc), cc)
        for cc in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
    ]
    # written internationally a valid number is "+" and at least these digits; from the US, 10 digits
    assert min(lengths) >= _SHORTEST_PHONE_CANDIDATE
    assert min(PhoneMetadata.metadata_for_region("US").general_desc.possible_length) == 10
    # the shortest numbers there are (7 characters written without spaces) are still replaced
    text = "Wien +431110 or Berlin +491640 or +49 30 123456, born 1945, at 10:30, version 2.0.1"
    doc = Surrogator(seed=0).replace("t:f", "mail", text)
    assert [t for t, _, _ in doc.spans] == ["PHONE"] * 3
    for original in ("+431110", "+491640", "+49 30 123456"):
        assert original not in doc.text
    assert "born 1945, at 10:30, version 2.0.1" in doc.text
