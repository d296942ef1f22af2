"""The inbound use cases in memory: receipt levels, opt-out keywords, and the webhook's side effects
(the recovery token, the opt-out confirmation) with the fake gateway and broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from billing.adapters.broker import queue_names
from billing.domain.gateway import OutcomeKind, SendOutcome
from billing.domain.receipts import ReceiptLevel, advance
from billing.errors import AuthenticationError
from billing.services.inbound import webhook
from billing.services.inbound.messages import InboundOutcome
from billing.services.inbound.suppression import DEFAULT_OPT_OUT_KEYWORDS, fold, is_opt_out
from billing.services.inbound.webhook import WebhookResult, handle_webhook
from billing.testing import FakeClock, FakeGateway, InMemoryBroker, RecordingUnitOfWork

PHONE = "+5511999998888"


def test_a_receipt_level_only_rises_whatever_order_the_receipts_come_in() -> None:
    step = advance("read", ["DELIVERY_ACK", "SERVER_ACK"])
    assert (step.before, step.after, step.moved) == (ReceiptLevel.READ, ReceiptLevel.READ, False)
    assert advance(None, ["READ", "SERVER_ACK", "DELIVERY_ACK"]).after is ReceiptLevel.READ


def test_delivered_and_read_are_counted_once_per_contact() -> None:
    first = advance("server_ack", ["SERVER_ACK", "READ"])
    assert (first.newly_delivered, first.newly_read) == (1, 1)
    again = advance("read", ["SERVER_ACK", "READ", "PLAYED"])
    assert (again.newly_delivered, again.newly_read) == (0, 0)
    later = advance("delivered", ["DELIVERY_ACK", "READ"])
    assert (later.newly_delivered, later.newly_read) == (0, 1)


def test_statuses_that_are_not_receipts_move_nothing() -> None:
    assert not advance(None, ["PENDING", "ERROR"]).moved


@pytest.mark.parametrize("text", ["PARAR", "parar", "Párar ", "SAIR", "sáir", "STOP", "stop.", "CANCELAR", "cancelar!"])
def test_default_keywords_match_whatever_the_case_accents_and_edges(text: str) -> None:
    assert is_opt_out(text)


@pytest.mark.parametrize("text", ["", "   ", "parar de cobrar", "stopp", "ok", "x" * 1000])
def test_only_the_whole_message_counts(text: str) -> None:
    assert not is_opt_out(text)


def test_tenant_keywords_replace_the_defaults() -> None:
    assert is_opt_out("descadastrar", ["DESCADASTRAR"])
    assert not is_opt_out("parar", ["DESCADASTRAR"])
    assert is_opt_out("parar", [])  # an empty list means "the defaults"
    assert [fold(k) for k in DEFAULT_OPT_OUT_KEYWORDS] == ["parar", "sair", "stop", "cancelar"]


class _NoDatabase:
    """A unit of work that fails the test if the service touches the database."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @property
    def session(self) -> Any:
        raise AssertionError("the database was used")


@pytest.mark.parametrize("secret", [None, ""])
def test_a_missing_secret_is_refused_before_any_query(secret: str | None) -> None:
    with pytest.raises(AuthenticationError):
        handle_webhook(instance_ref="x", secret=secret, body=b"{}", uow_factory=_NoDatabase)


def test_the_answer_body_names_the_outcome() -> None:
    assert WebhookResult("ignored", "send.message", "event not handled").as_dict() == {
        "status": "ignored",
        "event": "send.message",
        "detail": "event not handled",
    }


def instance() -> Any:
    return SimpleNamespace(id=uuid.uuid4(), tenant_id=uuid.uuid4())


def test_an_instance_that_came_back_asks_the_sweeper_for_a_recovery_check() -> None:
    broker, connected = InMemoryBroker(), instance()
    webhook._request_recovery(connected, broker)
    [token] = broker.tokens(queue_names().check_recovery)
    assert (token.kind, token.instance_id) == ("check_recovery", str(connected.id))
    assert token.reason == "webhook.connection_open"


def test_a_recovery_token_the_broker_refuses_is_not_an_error() -> None:
    broker = InMemoryBroker()
    broker.down = True
    webhook._request_recovery(instance(), broker)
    assert broker.publish_attempts == 1


def _opt_out() -> InboundOutcome:
    return InboundOutcome(phone=PHONE, conversation_id=uuid.uuid4(), opted_out=True, confirmation="Pronto, parou.")


def test_the_opt_out_confirmation_goes_out_at_once_and_is_kept_in_the_chat_history() -> None:
    gateway, uow = FakeGateway(), RecordingUnitOfWork()

    @contextmanager
    def uow_factory() -> Iterator[RecordingUnitOfWork]:
        yield uow

    outcome = _opt_out()
    webhook._confirm_opt_out(
        instance(), outcome, gateway=lambda *_: gateway, uow_factory=uow_factory, clock=FakeClock()  # type: ignore[arg-type]
    )
    assert [(s.phone, s.text, s.retry, s.delay_ms) for s in gateway.sent] == [(PHONE, "Pronto, parou.", False, 0)]
    [message] = uow.session.added
    assert (message.direction, message.body, message.provider_message_id) == ("out", "Pronto, parou.", "FAKE000001")
    assert uow.commits == 1


def test_a_confirmation_the_gateway_refuses_is_not_recorded() -> None:
    gateway = FakeGateway(SendOutcome(OutcomeKind.INSTANCE_DOWN, error="Connection Closed"))

    def no_database() -> Any:
        raise AssertionError("nothing to record")

    webhook._confirm_opt_out(
        instance(), _opt_out(), gateway=lambda *_: gateway, uow_factory=no_database, clock=FakeClock()  # type: ignore[arg-type]
    )
    assert len(gateway.sent) == 1
