"""What a trigger function answers before any token is handled: bounded reads, malformed tokens."""

from __future__ import annotations

import io
import json

import pytest
from billing.adapters.broker import Token
from billing.http.entry import trigger
from billing.http.triggers import MAX_TRIGGER_BYTES
from flask import Request
from werkzeug.test import EnvironBuilder


def post(body: bytes, *, chunked: bool = False) -> Request:
    environ = EnvironBuilder(method="POST", path="/", input_stream=io.BytesIO(body)).get_environ()
    if chunked:
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = str(len(body))
    return Request(environ)


def never(token: Token) -> bool:
    raise AssertionError(f"{token} should not have been handled")


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_token_limit_is_a_bad_request_and_is_not_handled(chunked: bool) -> None:
    response = trigger(post(b" " * (MAX_TRIGGER_BYTES + 1), chunked=chunked), never)
    assert response.status_code == 400
    assert json.loads(response.get_data())["detail"] == f"trigger body is larger than {MAX_TRIGGER_BYTES} bytes"


def test_a_token_within_the_limit_is_handled() -> None:
    seen: list[Token] = []
    token = Token(kind="check_stale", reason="test")
    response = trigger(post(token.to_bytes()), lambda t: seen.append(t) or True)
    assert response.status_code == 200 and seen == [token]


@pytest.mark.parametrize("content_type", ["application/json", "application/cloudevents+json"])
def test_deeply_nested_json_is_a_bad_request_not_a_crash(content_type: str) -> None:
    environ = EnvironBuilder(
        method="POST", path="/", data=b"[" * 30_000, headers={"Content-Type": content_type}
    ).get_environ()
    response = trigger(Request(environ), never)
    assert response.status_code == 400
