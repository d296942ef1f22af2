"""What a trigger function answers before any token is handled: bounded reads, malformed tokens."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

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
    token = Token(kind="check_recovery", instance_id="i-1", reason="test")
    response = trigger(post(token.to_bytes()), lambda t: seen.append(t) or True)
    assert response.status_code == 200 and seen == [token]


@pytest.mark.parametrize("content_type", ["application/json", "application/cloudevents+json"])
def test_deeply_nested_json_is_a_bad_request_not_a_crash(content_type: str) -> None:
    environ = EnvironBuilder(
        method="POST", path="/", data=b"[" * 30_000, headers={"Content-Type": content_type}
    ).get_environ()
    response = trigger(Request(environ), never)
    assert response.status_code == 400


TOKEN_VALUE = "t" * 32


@pytest.fixture
def trigger_token(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from billing.config import reset_settings_cache

    monkeypatch.setenv("BILLING_TRIGGER_TOKEN", TOKEN_VALUE)
    reset_settings_cache()
    yield TOKEN_VALUE
    monkeypatch.delenv("BILLING_TRIGGER_TOKEN")
    reset_settings_cache()


class Unread(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("the body was read before the token was checked")


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Billing-Trigger-Token": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN_VALUE}],
)
def test_with_a_trigger_token_strangers_are_refused_before_the_body_is_read(
    trigger_token: str, headers: dict[str, str]
) -> None:
    environ = EnvironBuilder(method="POST", path="/", input_stream=Unread(b"{}"), headers=headers).get_environ()
    environ["CONTENT_LENGTH"] = "2"
    response = trigger(Request(environ), never)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["X-Billing-Trigger-Token", "Authorization"])
def test_the_trigger_token_lets_the_connector_in(trigger_token: str, header: str) -> None:
    seen: list[Token] = []
    value = trigger_token if header != "Authorization" else f"Bearer {trigger_token}"
    environ = EnvironBuilder(method="POST", path="/", data=b"{}", headers={header: value}).get_environ()
    response = trigger(Request(environ), lambda t: seen.append(t) or True)
    assert response.status_code == 200 and [t.kind for t in seen] == ["tick"]


def test_probes_stay_open_and_metrics_need_the_metrics_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from billing.config import reset_settings_cache

    monkeypatch.setenv("BILLING_METRICS_TOKEN", "m" * 32)
    reset_settings_cache()
    try:
        health = trigger(Request(EnvironBuilder(method="GET", path="/healthz").get_environ()), never)
        metrics = trigger(Request(EnvironBuilder(method="GET", path="/metrics").get_environ()), never)
    finally:
        monkeypatch.delenv("BILLING_METRICS_TOKEN")
        reset_settings_cache()
    assert health.status_code == 200 and metrics.status_code == 401
