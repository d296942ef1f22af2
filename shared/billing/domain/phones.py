"""Phone numbers: whatever a person typed -> E.164 -> the gateway's digits-only form.

Brazilian mobiles gained a ninth digit (a leading 9) between 2012 and 2016; old contact lists still
hold 8-digit mobiles. Decision: a Brazilian number with 10 national digits (area code + 8) whose
subscriber part starts with 6, 7, 8 or 9 is a mobile missing its 9, and gets it
(``(11) 9999-8888 -> +5511999998888``). Subscribers starting with 2-5 are landlines and are kept.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from billing.errors import InvalidPhoneError

_E164_RE = re.compile(r"\+[1-9]\d{6,14}\Z")
_ALLOWED_RE = re.compile(r"[\d\s()+\-./]+\Z")
# "0xx11 99999-8888": the old Brazilian way of writing "0 + carrier + area code"; the xx stands for a
# carrier code and is dropped. It is the only place a letter may appear.
_CARRIER_PLACEHOLDER_RE = re.compile(r"\A(\(?)0[xX]{2}(?=\s*\(?\d{2}\D)")
_MIN_DIGITS = 8
_MAX_DIGITS = 17  # 15 for E.164 plus a trunk/carrier prefix such as "0 15"
_BR_MOBILE_FIRST = frozenset("6789")


def _parse(raw: str, region: str) -> phonenumbers.PhoneNumber:
    try:
        return phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneError("not a valid phone number") from exc


def _add_br_ninth_digit(number: phonenumbers.PhoneNumber) -> None:
    national = str(number.national_number)
    if number.country_code == 55 and len(national) == 10 and national[2] in _BR_MOBILE_FIRST:
        number.national_number = int(f"{national[:2]}9{national[2:]}")


def _normalize(raw: str, region: str) -> str:
    text = raw.strip()
    if not text:
        raise InvalidPhoneError("phone number is empty")
    # No other letter is ever part of a number: "99876-XXXX" is a masked number, and the phone library
    # would read letters as keypad digits and message a stranger.
    if not _ALLOWED_RE.match(_CARRIER_PLACEHOLDER_RE.sub(r"\g<1>0", text)):
        raise InvalidPhoneError("phone number contains letters or symbols")
    digits = re.sub(r"\D", "", text)
    if len(digits) < _MIN_DIGITS:
        raise InvalidPhoneError("too short")
    if len(digits) > _MAX_DIGITS:
        raise InvalidPhoneError("too long")
    number = _parse(_CARRIER_PLACEHOLDER_RE.sub(r"\g<1>0", text), region)
    _add_br_ninth_digit(number)
    if not phonenumbers.is_valid_number(number) and not text.startswith("+"):
        # "5511999998888": the country code typed without "+".
        retry = _parse("+" + digits, region)
        _add_br_ninth_digit(retry)
        if phonenumbers.is_valid_number(retry):
            number = retry
    if not phonenumbers.is_valid_number(number):
        reason = phonenumbers.is_possible_number_with_reason(number)
        if reason == phonenumbers.ValidationResult.TOO_SHORT:
            raise InvalidPhoneError("too short")
        if reason == phonenumbers.ValidationResult.TOO_LONG:
            raise InvalidPhoneError("too long")
        raise InvalidPhoneError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=8192)
def normalize_phone(raw: str, default_region: str = "BR") -> str:
    """E.164 (``"+5511999998888"``) or InvalidPhoneError with a human reason; idempotent."""
    return _normalize(raw, default_region.upper())


def to_gateway_number(e164: str) -> str:
    """The digits-only form the gateway expects: ``"+5511999998888" -> "5511999998888"``."""
    if not _E164_RE.match(e164):
        raise InvalidPhoneError("not an E.164 number")
    return e164[1:]


def mask_phone(e164: str) -> str:
    """For logs (LGPD): keep country/area code and the last two digits, ``+55119*******88``."""
    if len(e164) <= 7:
        return "*" * len(e164)
    return e164[:5] + "*" * (len(e164) - 7) + e164[-2:]
