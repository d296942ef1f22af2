from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
from billing.adapters.broker import Token
from billing.adapters.trigger_client import cloudevent_headers, post_token
from billing.errors import ValidationFailedError
from billing.http.triggers import TriggerParseError, parse_token

TOKEN = Token(kind="queue", queue_id="q-1", tenant_id="t-1", reason="created")
CE_HEADERS = {
    "ce-specversion": "1.0",
    "ce-id": TOKEN.id,
    "ce-source": "billing/connector",
    "ce-type": "billing.token.queue",
    "Content-Type": "application/json",
}


def test_a_binary_cloudevent_yields_the_token_in_its_body() -> None:
    assert parse_token(CE_HEADERS, TOKEN.to_bytes()) == TOKEN


def test_binary_cloudevent_headers_are_matched_case_insensitively() -> None:
    headers = {key.upper(): value for key, value in CE_HEADERS.items()}
    assert parse_token(headers, TOKEN.to_bytes()) == TOKEN


def test_a_structured_cloudevent_yields_the_token_under_data() -> None:
    event = {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "/rabbitmq",
        "type": "dev.knative.rabbitmq.event",
        "datacontenttype": "application/json",
        "data": json.loads(TOKEN.to_bytes()),
    }
    headers = {"content-type": "application/cloudevents+json; charset=utf-8"}
    assert parse_token(headers, json.dumps(event).encode()) == TOKEN


def test_a_structured_cloudevent_yields_the_token_under_data_base64() -> None:
    event = {
        "specversion": "1.0",
        "id": "evt-2",
        "source": "/rabbitmq",
        "type": "dev.knative.rabbitmq.event",
        "data_base64": base64.b64encode(TOKEN.to_bytes()).decode(),
    }
    headers = {"Content-Type": "application/cloudevents+json"}
    assert parse_token(headers, json.dumps(event).encode()) == TOKEN


def test_a_structured_cloudevent_whose_data_is_json_text_is_decoded() -> None:
    event = {"specversion": "1.0", "id": "e", "source": "s", "type": "t", "data": TOKEN.to_bytes().decode()}
    assert parse_token({"content-type": "application/cloudevents+json"}, json.dumps(event).encode()) == TOKEN


def test_a_plain_json_post_of_a_token_yields_the_token() -> None:
    assert parse_token({"Content-Type": "text/plain", "X-Topic": "billing.overdue"}, TOKEN.to_bytes()) == TOKEN


@pytest.mark.parametrize("body", [b"", b"  \n", b"{}"])
def test_an_empty_plain_post_is_a_cron_tick(body: bytes) -> None:
    token = parse_token({"X-Topic": "cron-function", "X-Connector": "cron-connector"}, body)
    assert token.kind == "tick"
    assert token.reason == "cron"


def test_a_pingsource_event_without_a_token_is_a_tick_named_after_the_event() -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "ping-42",
        "ce-source": "/apis/v1/namespaces/billing/pingsources/sweeper",
        "ce-type": "dev.knative.sources.ping",
        "content-type": "application/json",
    }
    token = parse_token(headers, b'{"message": "Hello world!"}')
    assert (token.kind, token.id, token.reason) == ("tick", "ping-42", "cron")


def test_unknown_token_fields_are_ignored() -> None:
    body = json.dumps({**json.loads(TOKEN.to_bytes()), "future_field": 1}).encode()
    assert parse_token({}, body) == TOKEN


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, b"not json"),
        ({}, b"[1, 2]"),
        ({}, b'{"kind": "explode"}'),
        ({"ce-specversion": "1.0", "ce-id": "x"}, TOKEN.to_bytes()),
        ({"content-type": "application/cloudevents+json"}, b'{"data": {}}'),
        ({"content-type": "application/cloudevents+json"}, b'"a string"'),
        (
            {"content-type": "application/cloudevents+json"},
            b'{"specversion": "1.0", "id": "e", "source": "s", "type": "t", "data_base64": "***"}',
        ),
        ({}, b" " + b"x" * 70_000),
    ],
    ids=[
        "not-json",
        "json-array",
        "unknown-kind",
        "binary-missing-attributes",
        "structured-missing-attributes",
        "structured-not-an-object",
        "bad-base64",
        "too-large",
    ],
)
def test_malformed_triggers_raise_a_validation_error(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(TriggerParseError) as caught:
        parse_token(headers, body)
    assert isinstance(caught.value, ValidationFailedError)


def test_a_missing_cloudevent_attribute_is_named_in_the_error() -> None:
    with pytest.raises(TriggerParseError) as caught:
        parse_token({"ce-specversion": "1.0", "ce-id": "x", "ce-type": "t"}, TOKEN.to_bytes())
    assert caught.value.errors == [{"loc": ["ce-source"], "msg": "required"}]


def test_the_connector_headers_make_a_binary_cloudevent_that_parses_back_to_the_token() -> None:
    assert parse_token(cloudevent_headers(TOKEN), TOKEN.to_bytes()) == TOKEN


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "handled"), (204, "handled"), (500, "retry"), (503, "retry"), (429, "retry"), (400, "poison")],
)
def test_posting_a_token_classifies_the_function_answer(status: int, outcome: str) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    async def post() -> str:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            return await post_token(client, "http://sender.local/", TOKEN)

    assert asyncio.run(post()) == outcome
    assert seen[0].headers["ce-id"] == TOKEN.id
    assert seen[0].headers["ce-type"] == "billing.token.queue"
    assert seen[0].content == TOKEN.to_bytes()


def test_posting_a_token_to_an_unreachable_function_asks_for_a_retry() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def post() -> str:
        async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
            return await post_token(client, "http://sender.local/", TOKEN)

    assert asyncio.run(post()) == "retry"


def test_the_connector_presents_the_trigger_token_when_it_has_one() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    async def go() -> str:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            await post_token(client, "http://sender.local/", TOKEN)
            return await post_token(client, "http://sender.local/", TOKEN, trigger_token="s" * 32)

    assert asyncio.run(go()) == "handled"
    assert "x-billing-trigger-token" not in seen[0].headers
    assert seen[1].headers["x-billing-trigger-token"] == "s" * 32
