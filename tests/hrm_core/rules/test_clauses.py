"""The extent of a clause (an NDA value): `rules.clauses.clause_extents`."""

from __future__ import annotations

from hrm_core.rules.clauses import CLAUSE_REACH, clause_extents
from hrm_core.rules.regex_baseline import scan_text


def clauses_of(text: str, words: str) -> list[str]:
    at = text.index(words)
    return [text[s:e] for s, e in clause_extents(text, at, at + len(words))]


def test_a_clause_runs_from_the_last_stop_to_its_own_over_abbreviations_and_wrapped_lines():
    text = (
        "Hi team,\n\nThanks all.\nSection 4 reads: This information is disclosed under the NDA dated July 5, 2023"
        " between Globex Corp. and Acme Inc\u0441. and may not be shared\noutside the deal team. Looping in Ana."
    )
    clause = (
        "This information is disclosed under the NDA dated July 5, 2023 between Globex Corp. and Acme Inc\u0441. "
        "and may not be shared\noutside the deal team."
    )
    assert clauses_of(text, "disclosed") == [clause]
    assert clauses_of(text, "deal team") == [clause]  # the wrapped line's end finds the same clause
    # A closing quote or bracket after the stop belongs to the clause; a comma after an abbreviation
    # does not end it.
    text = (
        'He wrote "the Recipient shall not disclose it." Upon request of Litware S.A., it shall return them.'
    )
    assert clauses_of(text, "disclose") == ['He wrote "the Recipient shall not disclose it."']
    assert clauses_of(text, "return") == ["Upon request of Litware S.A., it shall return them."]


def test_lead_ins_line_breaks_and_reach():
    text = "Reminder of the clause: Neither party shall disclose it.\nJames Adeyemi, 612 Cedar Lane"
    # The lead-in is not part of the clause, a line after a stop is a clause of its own.
    assert clauses_of(text, "of the clause: Neither") == ["Neither party shall disclose it."]
    assert clauses_of(text, "it.\nJames") == [
        "Neither party shall disclose it.",
        "James Adeyemi, 612 Cedar Lane",
    ]
    # A term in a heading alone is still found: the lead-in is then the clause.
    assert clauses_of("Non-Disclosure:\nSee the attached terms.", "Non-Disclosure") == ["Non-Disclosure:"]
    # A blank line ends a clause even before a lower-case word.
    assert clauses_of("shall not disclose\n\nand more", "disclose") == ["shall not disclose"]
    # A sentence with no stop for pages is cut at the reach.
    text = "x " * CLAUSE_REACH + "trade secret " + "y " * CLAUSE_REACH
    (got,) = clauses_of(text, "trade secret")
    assert len(got) < 2 * CLAUSE_REACH + 20 and "trade secret" in got


def test_the_regex_baseline_widens_a_legal_term_to_the_same_clause():
    text = "Reminder of the clause: The Receiving Party shall hold it in strict confidence. Thanks, Ana"
    nda = [(s, e) for kind, s, e in scan_text(text) if kind == "NDA"]
    clause = "The Receiving Party shall hold it in strict confidence."
    assert nda == [(text.index(clause), text.index(clause) + len(clause))]
