"""The Evolution client against the simulator over real HTTP: every outcome, retries, timeouts, logs."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from billing.adapters.evolution import EvolutionClient, GatewayConfig, HealthState, OutcomeKind
from billing.sim.control import SimulatorClient
from billing.sim.server import SimulatorHandle, running_simulator

TOKEN = "instance-token-9f8e7d"
PHONE = "+5511999998888"
DIGITS = "5511999998888"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    with running_simulator() as handle:
        yield handle


@pytest.fixture
def sim(simulator: SimulatorHandle) -> SimulatorClient:
    simulator.client.reset()
    simulator.client.add_instance("loja-01", TOKEN)
    return simulator.client


def make_client(simulator: SimulatorHandle, *, api_key: str = TOKEN, **options: Any) -> EvolutionClient:
    timeouts = {k: options.pop(k) for k in ("read_timeout_s", "typing_delay_ms") if k in options}
    config = GatewayConfig(simulator.base_url, options.pop("instance", "loja-01"), api_key, **timeouts)
    options.setdefault("backoff_base_s", 0.01)
    return EvolutionClient(config, **options)


def test_a_sent_message_is_recorded_by_the_gateway_with_the_id_the_client_got(
    simulator: SimulatorHandle, sim: SimulatorClient
) -> None:
    outcome = make_client(simulator).send_text(PHONE, "Olá Maria")
    assert outcome.kind is OutcomeKind.SENT
    assert outcome.message_id is not None and outcome.message_id.startswith("3EB0")
    assert outcome.remote_jid == f"{DIGITS}@s.whatsapp.net"
    [message] = sim.messages()
    assert (message["number"], message["text"], message["message_id"]) == (DIGITS, "Olá Maria", outcome.message_id)


def test_a_number_not_on_whatsapp_is_invalid_and_never_retried(
    simulator: SimulatorHandle, sim: SimulatorClient
) -> None:
    sim.mark_not_on_whatsapp([DIGITS])
    outcome = make_client(simulator).send_text(PHONE, "Oi")
    assert outcome.kind is OutcomeKind.INVALID_NUMBER
    assert sim.send_requests() == 1
    assert sim.messages() == []


def test_a_wrong_api_key_is_auth_failed_with_401_and_never_retried(
    simulator: SimulatorHandle, sim: SimulatorClient
) -> None:
    outcome = make_client(simulator, api_key="wrong").send_text(PHONE, "Oi")
    assert (outcome.kind, outcome.status_code) == (OutcomeKind.AUTH_FAILED, 401)
    assert sim.send_requests() == 1


def test_an_unknown_instance_is_down_even_with_a_wrong_key(simulator: SimulatorHandle, sim: SimulatorClient) -> None:
    outcome = make_client(simulator, api_key="wrong", instance="nope").send_text(PHONE, "Oi")
    assert (outcome.kind, outcome.status_code) == (OutcomeKind.INSTANCE_DOWN, 404)


def test_an_instance_going_down_mid_sequence_turns_sends_into_instance_down(
    simulator: SimulatorHandle, sim: SimulatorClient
) -> None:
    client = make_client(simulator)
    kinds = [client.send_text(f"+55119999900{i:02d}", "Oi").kind for i in range(3)]
    sim.set_state("loja-01", "close")
    down = [client.send_text("+5511999990000", "Oi"), client.send_text("+5511999990099", "Oi")]
    sim.set_state("loja-01", "open")
    after = client.send_text("+5511999990001", "Oi")
    assert kinds == [OutcomeKind.SENT] * 3
    assert [o.kind for o in down] == [OutcomeKind.INSTANCE_DOWN] * 2
    # a number the gateway already knows fails inside the send (400), a new one in the lookup (500)
    assert [o.status_code for o in down] == [400, 500]
    assert all(o.looks_like_disconnection for o in down)
    assert after.kind is OutcomeKind.SENT
    assert len(sim.messages()) == 4


def test_a_connecting_instance_reports_its_state_and_refuses_sends(
    simulator: SimulatorHandle, sim: SimulatorClient
) -> None:
    sim.set_state("loja-01", "connecting")
    client = make_client(simulator)
    assert client.check_health() is HealthState.CONNECTING
    assert client.send_text(PHONE, "Oi").kind is OutcomeKind.INSTANCE_DOWN


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (500, "Connection Closed", OutcomeKind.INSTANCE_DOWN),
        (400, ["Error: Connection Closed"], OutcomeKind.INSTANCE_DOWN),
        (400, [['instance requires property "text"']], OutcomeKind.REJECTED),
        (400, [{"jid": f"{DIGITS}@s.whatsapp.net", "exists": False, "number": DIGITS}], OutcomeKind.INVALID_NUMBER),
        (403, "Forbidden", OutcomeKind.AUTH_FAILED),
        (500, {"totally": "unexpected"}, OutcomeKind.TRANSIENT),
        (502, None, OutcomeKind.TRANSIENT),
    ],
)
def test_every_error_body_shape_from_the_gateway_is_classified(
    simulator: SimulatorHandle, sim: SimulatorClient, status: int, message: Any, kind: OutcomeKind
) -> None:
    sim.fail_next(status=status, body={"status": status, "error": "x", "response": {"message": message}})
    outcome = make_client(simulator).send_text(PHONE, "Oi", retry=False)
    assert (outcome.kind, outcome.status_code) == (kind, status)


def test_garbage_bodies_are_transient_for_5xx(simulator: SimulatorHandle, sim: SimulatorClient) -> None:
    sim.fail_next(status=503, body="<html>upstream down</html>")
    outcome = make_client(simulator).send_text(PHONE, "Oi", retry=False)
    assert outcome.kind is OutcomeKind.TRANSIENT


def test_a_gateway_slower_than_the_read_timeout_is_transient_with_unknown_delivery(
    simulator: SimulatorHandle, sim: SimulatorClient
) -> None:
    sim.set_latency(1200, instance="loja-01")
    started = time.monotonic()
    outcome = make_client(simulator, read_timeout_s=0.3).send_text(PHONE, "Oi")
    elapsed = time.monotonic() - started
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert outcome.delivery_unknown  # the gateway may still send it: not retried, so never sent twice
    assert elapsed < 1.0
    time.sleep(1.2)
    assert len(sim.messages()) == 1
    assert sim.send_requests() == 1


def test_the_typing_delay_holds_the_call_and_the_read_timeout_outlasts_it(
    simulator: SimulatorHandle, sim: SimulatorClient
) -> None:
    started = time.monotonic()
    outcome = make_client(simulator, read_timeout_s=0.1, typing_delay_ms=400).send_text(PHONE, "Oi")
    assert outcome.kind is OutcomeKind.SENT
    assert time.monotonic() - started >= 0.4
    assert sim.messages()[0]["delay_ms"] == 400


@pytest.mark.parametrize("http_date", [False, True])
def test_a_429_is_retried_after_the_retry_after_the_gateway_asked_for(
    simulator: SimulatorHandle, sim: SimulatorClient, http_date: bool
) -> None:
    sim.throttle_next(1, retry_after=2 if http_date else 1, http_date=http_date)
    started = time.monotonic()
    outcome = make_client(simulator).send_text(PHONE, "Oi")
    waited = time.monotonic() - started
    assert outcome.kind is OutcomeKind.SENT
    assert sim.send_requests() == 2
    assert waited >= (1.0 if http_date else 0.95)  # an HTTP date has one-second resolution
    assert waited < 3.0


def test_a_retry_after_beyond_the_deadline_is_returned_instead_of_waited(
    simulator: SimulatorHandle, sim: SimulatorClient
) -> None:
    sim.throttle_next(1, retry_after=60)
    started = time.monotonic()
    outcome = make_client(simulator, deadline_s=5).send_text(PHONE, "Oi")
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert outcome.retry_after == 60
    assert time.monotonic() - started < 1
    assert sim.send_requests() == 1


def test_retries_stop_at_the_total_deadline(simulator: SimulatorHandle, sim: SimulatorClient) -> None:
    sim.fail_next(1000, status=503)
    started = time.monotonic()
    outcome = make_client(
        simulator, max_attempts=1000, deadline_s=1.0, backoff_base_s=0.05, backoff_max_s=0.2
    ).send_text(PHONE, "Oi")
    elapsed = time.monotonic() - started
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert elapsed < 1.5
    assert 2 < sim.send_requests() < 1000


def test_transient_failures_are_retried_up_to_the_attempt_limit_then_succeed(
    simulator: SimulatorHandle, sim: SimulatorClient
) -> None:
    sim.fail_next(2, status=500)
    assert make_client(simulator, max_attempts=3).send_text(PHONE, "Oi").kind is OutcomeKind.SENT
    assert sim.send_requests() == 3
    sim.clear()
    sim.fail_next(5, status=500)
    assert make_client(simulator, max_attempts=3).send_text(PHONE, "Oi").kind is OutcomeKind.TRANSIENT
    assert sim.send_requests() == 3


@pytest.mark.parametrize("setup", ["not_on_whatsapp", "bad_request", "forbidden", "down"])
def test_permanent_and_down_outcomes_are_never_retried(
    simulator: SimulatorHandle, sim: SimulatorClient, setup: str
) -> None:
    if setup == "not_on_whatsapp":
        sim.mark_not_on_whatsapp([DIGITS])
    elif setup == "bad_request":
        sim.fail_next(status=400, body={"status": 400, "error": "Bad Request", "response": {"message": [["bad"]]}})
    elif setup == "forbidden":
        sim.fail_next(status=403, body={"status": 403, "error": "Forbidden", "response": {"message": "no"}})
    else:
        sim.set_state("loja-01", "close")
    outcome = make_client(simulator, max_attempts=5).send_text(PHONE, "Oi")
    assert outcome.kind is not OutcomeKind.SENT
    assert sim.send_requests() == 1


def test_retry_false_makes_exactly_one_attempt(simulator: SimulatorHandle, sim: SimulatorClient) -> None:
    sim.fail_next(3, status=500)
    assert make_client(simulator).send_text(PHONE, "Oi", retry=False).kind is OutcomeKind.TRANSIENT
    assert sim.send_requests() == 1


def test_health_follows_the_instance_state(simulator: SimulatorHandle, sim: SimulatorClient) -> None:
    client = make_client(simulator)
    assert client.check_health() is HealthState.OPEN
    sim.set_state("loja-01", "close")
    assert client.check_health() is HealthState.CLOSE
    assert make_client(simulator, instance="nope").check_health() is HealthState.CLOSE


def test_an_unreachable_gateway_is_unreachable_and_sends_are_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = GatewayConfig(f"http://127.0.0.1:{port}", "loja-01", TOKEN, connect_timeout_s=0.5)
    client = EvolutionClient(config, max_attempts=2, backoff_base_s=0.01)
    assert client.check_health() is HealthState.UNREACHABLE
    outcome = client.send_text(PHONE, "Oi")
    assert outcome.kind is OutcomeKind.TRANSIENT and outcome.looks_like_disconnection


def test_check_numbers_reports_which_phones_are_on_whatsapp(simulator: SimulatorHandle, sim: SimulatorClient) -> None:
    sim.mark_not_on_whatsapp(["5511988887777"])
    result = make_client(simulator).check_numbers([PHONE, "+55 11 98888-7777"])
    assert result == {PHONE: True, "+55 11 98888-7777": False}


def test_logs_carry_the_outcome_but_never_the_api_key_or_a_full_phone(
    simulator: SimulatorHandle, sim: SimulatorClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(simulator)
    sim.fail_next(status=500, body={"status": 500, "error": "x", "response": {"message": f"{DIGITS} failed"}})
    with caplog.at_level(logging.DEBUG):
        client.send_text(PHONE, "Oi")
        sim.mark_not_on_whatsapp([DIGITS])
        client.send_text(PHONE, "Oi")
        make_client(simulator, api_key="wrong").send_text(PHONE, "Oi")
        client.check_health()
    sends = [r for r in caplog.records if getattr(r, "action", None) == "gateway.send"]
    assert [getattr(r, "outcome", None) for r in sends] == ["transient", "sent", "invalid_number", "auth_failed"]
    assert all(getattr(r, "phone", "") == "5511*******88" for r in sends)
    everything = " ".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert TOKEN not in everything
    assert DIGITS not in everything
