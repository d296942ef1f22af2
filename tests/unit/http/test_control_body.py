from __future__ import annotations

import pytest
from billing.errors import (
    MalformedRequestError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)
from billing.http.queues import parse_control_body


@pytest.mark.parametrize("action", ["pause", "resume", "cancel"])
def test_the_three_actions_parse(action: str) -> None:
    body = f'{{"action": "{action}"}}'.encode()
    assert parse_control_body("application/json; charset=utf-8", body).action == action


def test_a_json_suffix_media_type_is_json() -> None:
    assert parse_control_body("application/vnd.erp+json", b'{"action": "pause"}').action == "pause"


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/x-www-form-urlencoded"])
def test_anything_but_json_is_unsupported(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        parse_control_body(content_type, b'{"action": "pause"}')


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"pause"])
def test_unparsable_json_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedRequestError):
        parse_control_body("application/json", raw)


@pytest.mark.parametrize("raw", [b'{"action": "restart"}', b"{}", b"[]", b'"pause"', b'{"action": "pause", "x": 1}'])
def test_well_formed_but_wrong_bodies_are_validation_errors_naming_the_field(raw: bytes) -> None:
    with pytest.raises(ValidationFailedError) as caught:
        parse_control_body("application/json", raw)
    assert not isinstance(caught.value, MalformedRequestError)
    assert caught.value.errors and caught.value.errors[0]["loc"][0] == "body"


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=latin-1", 'application/json; charset="iso-8859-1"']
)
def test_json_in_another_charset_is_unsupported(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        parse_control_body(content_type, b'{"action": "pause"}')


def test_nesting_deeper_than_the_parser_allows_is_malformed_not_a_crash() -> None:
    with pytest.raises(MalformedRequestError):
        parse_control_body("application/json", b"[" * 100_000 + b"]" * 100_000)
