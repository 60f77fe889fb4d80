"""The census-name recognizer of the candidate channel (`hrm_core.rules.name_list`)."""

from hrm_core.data.census import SURNAME_RANK_LIMIT, census_names
from hrm_core.rules.name_list import name_words


def _marked(text: str) -> list[str]:
    return [text[s:e] for s, e in name_words(text)]


def test_the_lists_hold_first_names_and_the_surnames_down_to_the_rank_limit():
    names = census_names()
    assert {"JESSICA", "JAMES", "SMITH", "GARCIA", "OBRIEN", "MCDONALD"} <= names
    # 4,275 female and 1,219 male first names (some on both lists) and the first 10,000 surnames.
    assert SURNAME_RANK_LIMIT == 10_000 and 14_000 < len(names) < 15_500
    assert "RODKEY" not in names  # surname rank 20,000: past the limit


def test_capitalized_name_words_are_marked_with_their_form():
    text = "Ask O'Brien, McDonald and Jessica Smith-Jones about Garcia's draft; cc Jessica."
    assert _marked(text) == ["O'Brien", "McDonald", "Jessica", "Smith-Jones", "Garcia", "Jessica"]


def test_words_not_written_as_names_are_not_marked():
    # lower case, all caps, inside a longer word or an identifier, digits, a single capital
    text = "smith SMITH xSmith Smith2 smith_jones J. Smithx JavaScript GitHub"
    assert _marked(text) == []


def test_ordinary_words_on_the_lists_are_marked_too_the_model_weighs_them():
    assert _marked("Will the Long report be ready in May?") == ["Will", "Long", "May"]
