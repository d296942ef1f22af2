"""The Evolution client's reading of every answer shape, through httpx.MockTransport (no server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from billing.adapters.evolution import (
    EvolutionClient,
    GatewayConfig,
    HealthState,
    OutcomeKind,
    SendOutcome,
    close_all_clients,
    get_client,
    parse_error_body,
    parse_retry_after,
)
from billing.errors import GatewayError

CONFIG = GatewayConfig("http://gateway.test", "loja-01", "secret-token-123")


def envelope(status: int, message: Any) -> dict[str, Any]:
    return {"status": status, "error": "Whatever", "response": {"message": message}}


def client_answering(
    status: int, body: Any = None, *, headers: dict[str, str] | None = None, raw: bytes | None = None
) -> tuple[EvolutionClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        content = raw if raw is not None else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers=headers)

    client = EvolutionClient(CONFIG, transport=httpx.MockTransport(handler), sleep=lambda _: None)
    return client, seen


def send_once(status: int, body: Any = None, **kwargs: Any) -> SendOutcome:
    client, _ = client_answering(status, body, **kwargs)
    return client.send_text("+5511999998888", "Olá", retry=False)


SENT_BODY = {
    "key": {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": True, "id": "3EB0FCA6FD5AC08629C2B5"},
    "status": "PENDING",
    "messageTimestamp": 1764412345,
}


def test_a_201_answer_keeps_the_message_id_and_remote_jid() -> None:
    outcome = send_once(201, SENT_BODY)
    assert outcome.kind is OutcomeKind.SENT
    assert outcome.message_id == "3EB0FCA6FD5AC08629C2B5"
    assert outcome.remote_jid == "5511999998888@s.whatsapp.net"


def test_the_request_carries_the_v2_body_and_the_apikey_header() -> None:
    client, seen = client_answering(201, SENT_BODY)
    client.send_text("+55 (11) 99999-8888", "Olá", retry=False)
    request = seen[0]
    assert request.url.path == "/message/sendText/loja-01"
    assert request.headers["apikey"] == "secret-token-123"
    assert json.loads(request.content) == {"number": "5511999998888", "text": "Olá", "delay": 0, "linkPreview": True}


def test_a_v1_instance_sends_the_nested_v1_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=SENT_BODY)

    v1 = GatewayConfig("http://gateway.test", "loja-01", "k", api_version="v1")
    EvolutionClient(v1, transport=httpx.MockTransport(handler)).send_text("+5511999998888", "Oi")
    body = json.loads(seen[0].content)
    assert body["textMessage"] == {"text": "Oi"}
    assert body["options"]["presence"] == "composing"


def test_a_success_without_a_key_is_still_sent_but_says_the_id_is_missing() -> None:
    outcome = send_once(201, {"status": "PENDING"})
    assert outcome.kind is OutcomeKind.SENT
    assert outcome.message_id is None
    assert outcome.error


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            400,
            envelope(400, [{"jid": "5511999998888@s.whatsapp.net", "exists": False, "number": "5511999998888"}]),
            OutcomeKind.INVALID_NUMBER,
        ),
        (
            400,
            envelope(400, [{"exists": False, "jid": "1234@lid", "name": "x", "number": "1234@lid"}]),
            OutcomeKind.INVALID_NUMBER,
        ),
        (401, envelope(401, "Unauthorized"), OutcomeKind.AUTH_FAILED),
        (403, envelope(403, ["Forbidden"]), OutcomeKind.AUTH_FAILED),
        (404, envelope(404, ['The "loja-01" instance does not exist']), OutcomeKind.INSTANCE_DOWN),
        (404, envelope(404, ["Cannot POST /message/sendTxt/loja-01"]), OutcomeKind.REJECTED),
        (400, envelope(400, [['instance requires property "text"']]), OutcomeKind.REJECTED),
        (400, envelope(400, ["Text is required"]), OutcomeKind.REJECTED),
        (500, envelope(500, "Connection Closed"), OutcomeKind.INSTANCE_DOWN),
        (400, envelope(400, ["Error: Connection Closed"]), OutcomeKind.INSTANCE_DOWN),
        (500, envelope(500, ["Error: Connection Closed"]), OutcomeKind.INSTANCE_DOWN),
        (500, envelope(500, "Cannot read properties of undefined (reading 'onWhatsApp')"), OutcomeKind.INSTANCE_DOWN),
        (400, envelope(400, ["Error: Timed Out"]), OutcomeKind.TRANSIENT),
        (429, envelope(429, ["Too many requests"]), OutcomeKind.TRANSIENT),
        (500, envelope(500, "Internal Server Error"), OutcomeKind.TRANSIENT),
        (502, {"unexpected": ["shape", 1, None]}, OutcomeKind.TRANSIENT),
        (503, {"error": "service not activated", "code": "LICENSE_REQUIRED", "message": "..."}, OutcomeKind.REJECTED),
        (422, [1, 2, [3, {"deep": True}]], OutcomeKind.REJECTED),
        (400, None, OutcomeKind.REJECTED),
    ],
)
def test_every_error_shape_is_classified_without_crashing(status: int, body: Any, kind: OutcomeKind) -> None:
    outcome = send_once(status, body)
    assert outcome.kind is kind
    assert outcome.status_code == status


def test_a_non_json_error_body_becomes_a_short_message() -> None:
    outcome = send_once(502, raw=b"<html>Bad Gateway from nginx</html>" * 50)
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert outcome.error is not None
    assert len(outcome.error) <= 200


def test_an_error_message_never_carries_the_full_phone_number() -> None:
    outcome = send_once(500, envelope(500, "failed for 5511999998888@s.whatsapp.net"))
    assert outcome.error is not None
    assert "5511999998888" not in outcome.error


def test_the_not_on_whatsapp_outcome_is_permanent_and_down_outcomes_look_like_disconnection() -> None:
    invalid = send_once(400, envelope(400, [{"jid": "x", "exists": False, "number": "x"}]))
    down = send_once(500, envelope(500, "Connection Closed"))
    assert invalid.is_permanent and not invalid.looks_like_disconnection
    assert down.looks_like_disconnection and not down.is_permanent


def test_parse_error_body_flattens_lists_of_lists_and_reads_boom_objects() -> None:
    assert parse_error_body(json.dumps(envelope(400, [["a", "b"], ["c"]])).encode()).messages == ["a", "b", "c"]
    boom = {"isBoom": True, "output": {"statusCode": 428, "payload": {"message": "Connection Closed"}}}
    assert parse_error_body(json.dumps(boom).encode()).messages == ["Connection Closed"]
    assert parse_error_body(b"").messages == []


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_a_429_outcome_carries_the_retry_after_seconds() -> None:
    outcome = send_once(429, envelope(429, ["slow down"]), headers={"Retry-After": "3"})
    assert outcome.retry_after == 3.0


def raising(exc: Callable[[httpx.Request], Exception]) -> EvolutionClient:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc(request)

    return EvolutionClient(CONFIG, transport=httpx.MockTransport(handler), sleep=lambda _: None)


def test_a_connect_error_is_transient_and_retried_up_to_the_attempt_limit() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("refused", request=request)

    client = EvolutionClient(CONFIG, transport=httpx.MockTransport(handler), max_attempts=4, sleep=lambda _: None)
    outcome = client.send_text("+5511999998888", "Oi")
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert outcome.looks_like_disconnection
    assert len(calls) == 4


def test_a_read_timeout_is_transient_with_unknown_delivery_and_is_not_retried() -> None:
    client = raising(lambda request: httpx.ReadTimeout("slow", request=request))
    outcome = client.send_text("+5511999998888", "Oi")
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert outcome.delivery_unknown


def test_backoff_waits_grow_with_full_jitter_and_honour_retry_after() -> None:
    waits: list[float] = []
    answers = iter(
        [
            httpx.Response(503),
            httpx.Response(503),
            httpx.Response(429, headers={"Retry-After": "2"}),
            httpx.Response(201, json=SENT_BODY),
        ]
    )
    client = EvolutionClient(
        CONFIG,
        transport=httpx.MockTransport(lambda request: next(answers)),
        max_attempts=4,
        deadline_s=60,
        backoff_base_s=1,
        backoff_max_s=4,
        sleep=waits.append,
    )
    assert client.send_text("+5511999998888", "Oi").kind is OutcomeKind.SENT
    assert len(waits) == 3
    assert 0 <= waits[0] <= 1 and 0 <= waits[1] <= 2
    assert waits[2] == 2.0


def test_the_read_timeout_always_exceeds_the_typing_delay() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(201, json=SENT_BODY)

    config = GatewayConfig("http://gateway.test", "loja-01", "k", read_timeout_s=2, typing_delay_ms=12_000)
    EvolutionClient(config, transport=httpx.MockTransport(handler)).send_text("+5511999998888", "Oi")
    assert seen[0]["read"] == 17.0


@pytest.mark.parametrize(
    ("status", "body", "state"),
    [
        (200, {"instance": {"instanceName": "loja-01", "state": "open"}}, HealthState.OPEN),
        (200, {"instance": {"instanceName": "loja-01", "state": "connecting"}}, HealthState.CONNECTING),
        (200, {"instance": {"instanceName": "loja-01", "state": "close"}}, HealthState.CLOSE),
        (200, {"instance": {"instanceName": "loja-01"}}, HealthState.CLOSE),
        (404, envelope(404, ['The "loja-01" instance does not exist']), HealthState.CLOSE),
        (401, envelope(401, "Unauthorized"), HealthState.AUTH_FAILED),
        (200, ["garbage"], HealthState.CLOSE),
    ],
)
def test_health_is_read_from_connection_state(status: int, body: Any, state: HealthState) -> None:
    client, seen = client_answering(status, body)
    assert client.check_health() is state
    assert seen[0].url.path == "/instance/connectionState/loja-01"


def test_health_of_an_unreachable_gateway_is_unreachable() -> None:
    client = raising(lambda request: httpx.ConnectError("refused", request=request))
    assert client.check_health() is HealthState.UNREACHABLE


def test_check_numbers_maps_answers_back_to_the_phones_asked() -> None:
    rows = [
        {"jid": "5511999998888@s.whatsapp.net", "exists": True, "number": "5511999998888"},
        {"jid": "551188887777@s.whatsapp.net", "exists": False, "number": "551188887777"},
    ]
    client, _ = client_answering(200, rows)
    assert client.check_numbers(["+5511999998888", "+551188887777"]) == {
        "+5511999998888": True,
        "+551188887777": False,
    }


def test_check_numbers_raises_a_gateway_error_when_the_gateway_refuses() -> None:
    client, _ = client_answering(400, {"isBoom": True})
    with pytest.raises(GatewayError):
        client.check_numbers(["+5511999998888"])


def test_the_config_repr_hides_the_api_key() -> None:
    assert "secret-token-123" not in repr(CONFIG)


def test_get_client_reuses_one_client_per_instance_and_key() -> None:
    try:
        first = get_client(CONFIG)
        assert get_client(GatewayConfig("http://gateway.test", "loja-01", "secret-token-123")) is first
        assert get_client(GatewayConfig("http://gateway.test", "loja-01", "other-key")) is not first
    finally:
        close_all_clients()


@pytest.mark.parametrize(("timeout_s", "expected"), [(None, 30.0), (10.0, 10.0), (90.0, 30.0)])
def test_a_health_check_waits_the_read_timeout_or_less_when_the_caller_asks(
    timeout_s: float | None, expected: float
) -> None:
    client, seen = client_answering(200, {"instance": {"instanceName": "loja-01", "state": "open"}})
    assert client.check_health(timeout_s=timeout_s) is HealthState.OPEN
    assert seen[0].extensions["timeout"]["read"] == expected


@pytest.mark.parametrize("status", [201, 400, 500])
def test_a_gateway_answer_nested_too_deep_is_read_without_raising(status: int) -> None:
    client, _ = client_answering(status, raw=b"[" * 100_000)
    outcome = client.send_text("+5511999998888", "Oi", retry=False)
    assert outcome.kind in {OutcomeKind.SENT, OutcomeKind.REJECTED, OutcomeKind.TRANSIENT}
    assert (outcome.kind is OutcomeKind.SENT) == (status == 201)
