"""Money and date formatting for message text (babel), and parsing of amounts sent by ERPs.

Amounts with more than two decimals are rounded half-even (banker's rounding) to cents, the rounding
that keeps sums of many invoices unbiased: ``10.005 -> 10.00``, ``10.015 -> 10.02``.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache

from babel.dates import format_date as _babel_format_date
from babel.dates import get_date_format
from babel.numbers import format_currency as _babel_format_currency
from babel.numbers import format_decimal as _babel_format_decimal

from billing.errors import InvalidValueError

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999.99")
# Amounts as ERPs write them: "1234.56", "1234,56", "1.234,56", "1,234.56", "1.234.567". The last
# separator is the decimal one when both appear; the other must group thousands. One separator
# followed by exactly three digits ("2.500", "1,234") is refused: it is R$ 2.500 in pt-BR and 2.5 in
# en-US, and guessing would move money.
_AMOUNT_RE = re.compile(r"\+?\d[\d.,]*\Z")
_GROUPED_RE = re.compile(r"\d{1,3}(?:[.,]\d{3})+\Z")
AMOUNT_FORMS = '1234.56, 1234,56, 1.234,56 or 1,234.56'


def _amount_text(text: str) -> Decimal:
    """The value of an amount string, or InvalidValueError naming the accepted forms."""
    if not _AMOUNT_RE.match(text):
        raise InvalidValueError(f"amount {text!r} is not a number; write it as {AMOUNT_FORMS}")
    body = text.lstrip("+")
    separators = [c for c in body if c in ".,"]
    if not separators:
        return Decimal(body)
    decimal_mark = separators[-1]
    grouping = set(separators[:-1])
    if len(separators) == 1 or (grouping and decimal_mark not in grouping):
        whole, _, fraction = body.rpartition(decimal_mark)
        if not fraction:
            raise InvalidValueError(f"amount {text!r} ends in a separator; write it as {AMOUNT_FORMS}")
        if len(separators) == 1 and len(fraction) == 3:
            raise InvalidValueError(
                f"amount {text!r} is ambiguous (thousands or decimals?); write it as {AMOUNT_FORMS}"
            )
        if grouping and not _GROUPED_RE.match(whole):
            raise InvalidValueError(f"amount {text!r} groups its thousands wrongly; write it as {AMOUNT_FORMS}")
        return Decimal(f"{whole.translate(_NO_GROUPING)}.{fraction}")
    # One separator repeated ("1.234.567"): thousands only.
    if not _GROUPED_RE.match(body):
        raise InvalidValueError(f"amount {text!r} is not a number; write it as {AMOUNT_FORMS}")
    return Decimal(body.translate(_NO_GROUPING))


_NO_GROUPING = str.maketrans("", "", ".,")
# Narrow and regular no-break spaces that babel puts between symbol and number.
_NBSP = str.maketrans({"\u00a0": " ", "\u202f": " "})


def _plain_spaces(text: str) -> str:
    return text.translate(_NBSP)


@lru_cache(maxsize=4096)
def format_money(amount: Decimal, locale: str = "pt_BR", currency: str = "BRL") -> str:
    """``Decimal("1234.56") -> "R$ 1.234,56"`` (plain spaces, so the text survives any client)."""
    return _plain_spaces(_babel_format_currency(amount, currency, locale=locale))


@lru_cache(maxsize=4096)
def format_number(amount: Decimal, locale: str = "pt_BR") -> str:
    """The amount with two decimals and no currency symbol: ``"1.234,56"`` in pt-BR."""
    return _plain_spaces(_babel_format_decimal(amount, format="#,##0.00", locale=locale))


@lru_cache(maxsize=64)
def _date_pattern(locale: str) -> str:
    # The locale's short pattern, but always with the full year: "M/d/yy" becomes "M/d/y".
    return re.sub(r"y+", "y", get_date_format("short", locale=locale).pattern)


@lru_cache(maxsize=4096)
def format_date(d: date, locale: str = "pt_BR") -> str:
    """The locale's short date with a four-digit year: ``"20/11/2026"`` in pt-BR."""
    return _babel_format_date(d, format=_date_pattern(locale), locale=locale)


def parse_amount(value: str | int | float | Decimal) -> Decimal:
    """Read an amount as ``Decimal`` with two places; refuse negatives, NaN, infinity and non-numbers."""
    if isinstance(value, bool):
        raise InvalidValueError("amount must be a number, not a boolean")
    if isinstance(value, str):
        number = _amount_text(value.strip())
    elif isinstance(value, float):
        number = Decimal(repr(value))  # shortest repr: 150.9 stays 150.9, not 150.900000000000005684...
    elif isinstance(value, int | Decimal):
        number = Decimal(value)
    else:
        raise InvalidValueError(f"amount must be a number, got {type(value).__name__}")
    if not number.is_finite():
        raise InvalidValueError("amount must be a finite number")
    if number < 0:
        raise InvalidValueError("amount must not be negative")
    try:
        rounded = number.quantize(CENT, rounding=ROUND_HALF_EVEN)
    except InvalidOperation as exc:
        raise InvalidValueError("amount is too large") from exc
    if rounded > MAX_AMOUNT:
        raise InvalidValueError(f"amount must not exceed {MAX_AMOUNT}")
    return rounded
