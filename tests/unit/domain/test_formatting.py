from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from billing.domain.formatting import format_date, format_money, format_number, parse_amount
from billing.errors import InvalidValueError


def test_money_is_formatted_in_brazilian_style_with_a_plain_space() -> None:
    assert format_money(Decimal("1234.56")) == "R$ 1.234,56"
    assert format_money(Decimal("0.5")) == "R$ 0,50"


def test_money_follows_the_locale_and_currency() -> None:
    assert format_money(Decimal("1234.5"), "en_US", "USD") == "$1,234.50"


def test_number_without_currency_symbol_uses_locale_separators() -> None:
    assert format_number(Decimal("1234.5")) == "1.234,50"


def test_dates_use_the_locale_short_form_with_four_digit_years() -> None:
    assert format_date(date(2026, 11, 20)) == "20/11/2026"
    assert format_date(date(2026, 1, 2), "en_US") == "1/2/2026"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("150.90", "150.90"),
        ("150,9", "150.90"),
        (" 42 ", "42.00"),
        (150.9, "150.90"),
        (10, "10.00"),
        (Decimal("0"), "0.00"),
        ("10.005", "10.00"),  # half-even: ties go to the even cent
        ("10.015", "10.02"),
        ("10.0051", "10.01"),
    ],
)
def test_amounts_are_read_as_two_place_decimals_rounded_half_even(raw: object, expected: str) -> None:
    assert parse_amount(raw) == Decimal(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    ["abc", "", "1.234,56", "-1", -0.01, float("nan"), float("inf"), Decimal("NaN"), True, "1e5", None],
)
def test_non_numbers_negatives_nan_and_infinity_are_refused(raw: object) -> None:
    with pytest.raises(InvalidValueError):
        parse_amount(raw)  # type: ignore[arg-type]


def test_absurdly_large_amounts_are_refused() -> None:
    with pytest.raises(InvalidValueError):
        parse_amount("1000000000")
    with pytest.raises(InvalidValueError):
        parse_amount(Decimal("1E+40"))
