from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from billing.domain.formatting import format_date, format_money, format_number, parse_amount
from billing.errors import InvalidValueError
from hypothesis import given
from hypothesis import strategies as st


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
        (10.005, "10.00"),  # half-even: ties go to the even cent
        (Decimal("10.015"), "10.02"),
        ("10.0051", "10.01"),
        ("1234,56", "1234.56"),
        ("1.234,56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("1.234.567,8", "1234567.80"),
        ("1,234,567.89", "1234567.89"),
        ("1.234.567", "1234567.00"),
        ("+2,5", "2.50"),
        ("2.50", "2.50"),
        ("2.5000", "2.50"),
    ],
)
def test_amounts_are_read_as_two_place_decimals_rounded_half_even(raw: object, expected: str) -> None:
    assert parse_amount(raw) == Decimal(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "",
        "-1",
        -0.01,
        float("nan"),
        float("inf"),
        Decimal("NaN"),
        True,
        "1e5",
        None,
        "5.",
        ".5",
        "1,2.34",
        "12.34.5",
        "1.234,567.89",
        "R$ 10",
    ],
)
def test_non_numbers_negatives_nan_and_infinity_are_refused(raw: object) -> None:
    with pytest.raises(InvalidValueError):
        parse_amount(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", ["2.500", "1,234", "999.000", "+1.000"])
def test_one_separator_before_exactly_three_digits_is_ambiguous_and_refused(raw: str) -> None:
    """R$ 2.500 in Brazil is two and a half thousand; read as 2.50 it would bill R$ 2,50."""
    with pytest.raises(InvalidValueError, match="ambiguous") as caught:
        parse_amount(raw)
    assert "1.234,56" in str(caught.value) and "1,234.56" in str(caught.value)


@given(st.decimals(min_value=0, max_value=Decimal("999999999.99"), places=2, allow_nan=False))
def test_an_amount_formatted_by_either_convention_reads_back_the_same(amount: Decimal) -> None:
    brazilian = f"{amount:,.2f}".translate(str.maketrans(",.", ".,"))
    for written in (f"{amount:.2f}", f"{amount:,.2f}", brazilian, f"{amount:.2f}".replace(".", ",")):
        assert parse_amount(written) == amount, written


def test_absurdly_large_amounts_are_refused() -> None:
    with pytest.raises(InvalidValueError):
        parse_amount("1000000000")
    with pytest.raises(InvalidValueError):
        parse_amount(Decimal("1E+40"))
