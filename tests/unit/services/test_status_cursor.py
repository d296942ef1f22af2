from __future__ import annotations

import uuid

import pytest
from billing.errors import NotFoundError, ValidationFailedError
from billing.services.queues.status import decode_cursor, encode_cursor, parse_queue_id, pending_of
from hypothesis import given
from hypothesis import strategies as st


@given(st.integers(0, 2**31 - 1))
def test_a_cursor_decodes_to_the_position_it_was_made_from(position: int) -> None:
    cursor = encode_cursor(position)
    assert cursor.isascii() and "=" not in cursor
    assert decode_cursor(cursor) == position


def test_no_cursor_starts_before_the_first_position() -> None:
    assert decode_cursor(None) == -1


@given(st.text(max_size=40))
def test_any_other_text_is_refused_as_a_validation_error_never_a_crash(text: str) -> None:
    try:
        position = decode_cursor(text)
    except ValidationFailedError as exc:
        assert exc.errors[0]["loc"] == ["query", "failures_cursor"]
    else:
        assert 0 <= position <= 2**31 - 1  # whatever is accepted names a real position


@pytest.mark.parametrize("raw", ["", "x", "123", "5f0c6c1e", "../etc", "\x00"])
def test_a_queue_id_that_is_not_a_uuid_names_no_queue(raw: str) -> None:
    with pytest.raises(NotFoundError):
        parse_queue_id(raw)


def test_a_uuid_in_any_spelling_is_accepted() -> None:
    value = uuid.uuid4()
    assert parse_queue_id(str(value).upper()) == value


class _Row:
    total, sent, failed, cancelled, unknown, expired, skipped = 100, 40, 3, 5, 1, 2, 4


def test_pending_is_the_total_less_every_terminal_counter() -> None:
    assert pending_of(_Row()) == 45
