from __future__ import annotations

import pytest
from billing.domain.phones import mask_phone, normalize_phone, to_gateway_number
from billing.errors import InvalidPhoneError
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize(
    "typed",
    [
        "(11) 99999-8888",
        "011 9 9999 8888",
        "+55 11 99999-8888",
        "5511999998888",
        "+5511999998888",
        "11999998888",
        "0xx11 99999-8888",
        "  +55 (11) 9 9999.8888 ",
    ],
)
def test_what_people_type_becomes_e164(typed: str) -> None:
    assert normalize_phone(typed) == "+5511999998888"


def test_brazilian_mobiles_without_the_ninth_digit_get_it() -> None:
    assert normalize_phone("(11) 9999-8888") == "+5511999998888"
    assert normalize_phone("+55 21 8765-4321") == "+5521987654321"
    assert normalize_phone("55 11 6999-8888") == "+5511969998888"


def test_brazilian_landlines_keep_eight_digits() -> None:
    assert normalize_phone("(11) 3333-4444") == "+551133334444"
    assert normalize_phone("+55 51 2345-6789") == "+555123456789"


def test_other_countries_work_with_a_plus_or_their_default_region() -> None:
    assert normalize_phone("+1 650-253-0000") == "+16502530000"
    assert normalize_phone("650-253-0000", "US") == "+16502530000"
    assert normalize_phone("+351 912 345 678") == "+351912345678"


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("123", "too short"),
        ("9999-8888", "not a valid phone number"),
        ("(00) 99999-8888", "not a valid phone number"),
        ("+55 11 99999-8888 99999", "too long"),
        ("ligar para Maria", "letters"),
        ("11 99999-8888 ramal 2", "letters"),
        # A masked number is not a number: the phone library would read X as a keypad digit (9).
        ("+55 21 99876-XXXX", "letters"),
        ("+55 21 99876-xxxx", "letters"),
        ("(21) 9xx76-1234", "letters"),
        ("11 0xx99999-8888", "letters"),
        ("1-800-FLOWERS", "letters"),
    ],
)
def test_invalid_numbers_are_rejected_with_a_human_reason(typed: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneError) as info:
        normalize_phone(typed)
    assert reason in info.value.reason


def test_gateway_form_is_digits_only() -> None:
    assert to_gateway_number("+5511999998888") == "5511999998888"
    with pytest.raises(InvalidPhoneError):
        to_gateway_number("5511999998888")


def test_masked_phones_hide_the_subscriber() -> None:
    assert mask_phone("+5511999998888") == "+5511*******88"


brazilian = st.builds(
    lambda area, first, rest, style: style.format(area=area, first=first, rest=rest),
    st.sampled_from(["11", "21", "31", "41", "51", "61", "71", "81", "91", "19", "27", "85"]),
    st.sampled_from(["2", "3", "4", "5", "6", "7", "8", "9", "99", "98"]),
    st.integers(0, 9_999_999).map(lambda n: f"{n:07d}"),
    st.sampled_from(
        ["({area}) {first}{rest}", "+55{area}{first}{rest}", "55 {area} {first} {rest}", "0{area}{first}{rest}"]
    ),
)


@settings(deadline=None)
@given(st.one_of(brazilian, st.text(alphabet="0123456789 +()-", max_size=20)))
def test_normalize_phone_is_idempotent_on_its_output(typed: str) -> None:
    try:
        e164 = normalize_phone(typed)
    except InvalidPhoneError:
        return
    assert e164.startswith("+") and e164[1:].isdigit()
    assert normalize_phone(e164) == e164
