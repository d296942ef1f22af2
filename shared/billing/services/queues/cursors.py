"""Opaque keyset cursors over a queue's contact positions (status failures, contact pages)."""

from __future__ import annotations

import base64
import binascii

from billing.errors import ValidationFailedError


def encode_cursor(prefix: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{prefix}{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, prefix: str, param: str, detail: str) -> int:
    """The last position already listed (-1: from the start); a cursor we did not issue is a 422 naming
    the query parameter ``param``."""
    if cursor is None:
        return -1
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if not text.startswith(prefix):
            raise ValueError(text)
        position = int(text[len(prefix) :])
        if position < 0 or position > 2**31 - 1:
            raise ValueError(text)
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise ValidationFailedError(detail, [{"loc": ["query", param], "msg": "not a cursor this API issued"}]) from exc
    return position


def storable(value: str) -> bool:
    """False for text PostgreSQL cannot hold or compare (NUL, unpaired surrogates): such a parameter
    names nothing and must be refused as the client's mistake, never reach the database."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
