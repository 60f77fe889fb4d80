from hrm_core.rules.checksums import (
    luhn_check_digit,
    luhn_valid,
    phone_digit_count_ok,
    ssn_valid,
    writes_digits,
)


def test_luhn_known_numbers():
    assert luhn_valid("4111 1111 1111 1111")
    assert luhn_valid("5500-0000-0000-0004")
    assert luhn_valid("378282246310005")  # Amex, 15 digits
    assert not luhn_valid("4111 1111 1111 1112")
    assert not luhn_valid("1234")  # too short to be a card


def test_luhn_check_digit_completes_a_valid_number():
    for prefix in ("411111111111111", "37828224631000", "601100000000000"):
        assert luhn_valid(prefix + str(luhn_check_digit(prefix)))


def test_ssn_rules():
    assert ssn_valid("123-45-6789")
    assert not ssn_valid("000-12-3456")
    assert not ssn_valid("666-12-3456")
    assert not ssn_valid("912-12-3456")
    assert not ssn_valid("123-00-6789")
    assert not ssn_valid("123-45-0000")


def test_phone_digit_count():
    assert phone_digit_count_ok("467 3395") and phone_digit_count_ok("+44 20 7946 0958 123")  # 7, 15
    assert not phone_digit_count_ok("655 437") and not phone_digit_count_ok("+44 20 7946 0958 1234")  # 6, 16
    assert not phone_digit_count_ok("five five five")


def test_writes_digits_in_any_script_or_as_words_but_not_inside_other_words():
    assert writes_digits("415-555-0199") and writes_digits("\uff14\uff11\uff15")  # full-width digits
    assert writes_digits("five five five") and writes_digits("Oh-Seven")
    assert not writes_digits("Desaulniers") and not writes_digits("someone ninety")  # "one" inside a word
    assert not writes_digits("")
