from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from billing.adapters import broker
from billing.adapters.broker import PikaPublisher, Token, get_publisher, queue_for_type, queue_names, set_publisher
from billing.adapters.memory_broker import DirectDispatcher, InMemoryBroker
from billing.adapters.topology import work_queue_arguments
from billing.config import get_settings
from billing.domain.states import TemplateType
from billing.errors import BrokerUnavailableError


@pytest.fixture(autouse=True)
def _no_installed_publisher() -> object:
    yield
    set_publisher(None)


def test_a_token_survives_a_round_trip_through_bytes() -> None:
    token = Token(kind="queue", queue_id="q", tenant_id="t", reason="continuation")
    assert Token.from_bytes(token.to_bytes()) == token


def test_a_token_gets_a_fresh_id_and_an_aware_creation_time() -> None:
    first, second = Token(kind="tick"), Token(kind="tick")
    assert first.id != second.id
    assert first.created_at.tzinfo is not None
    assert abs((datetime.now(UTC) - first.created_at).total_seconds()) < 5


def test_a_token_ignores_fields_it_does_not_know() -> None:
    token = Token.from_bytes(
        b'{"kind": "check_recovery", "reason": "instance_down", "extra": 1, "created_at": "2026-01-02T03:04:05Z"}'
    )
    assert token.kind == "check_recovery"


def test_queue_names_derive_from_the_prefix() -> None:
    names = queue_names("iso42")
    assert names.overdue == "iso42.overdue"
    assert names.sender == ("iso42.overdue", "iso42.upcoming", "iso42.notification", "iso42.resume")
    assert names.sweeper == ("iso42.check_recovery",)
    assert names.dead_letter(names.resume) == "iso42.resume.dlq"


def test_queue_names_default_to_the_configured_prefix() -> None:
    assert queue_names().overdue == f"{get_settings().broker_queue_prefix}.overdue"


@pytest.mark.parametrize(
    ("template_type", "suffix"),
    [(TemplateType.OVERDUE, "overdue"), (TemplateType.UPCOMING, "upcoming"), ("notification", "notification")],
)
def test_each_template_type_has_its_queue(template_type: TemplateType | str, suffix: str) -> None:
    assert queue_for_type(template_type, "p") == f"p.{suffix}"


def test_work_queues_are_classic_priority_queues_that_dead_letter() -> None:
    names = queue_names("p")
    assert work_queue_arguments(names.overdue, names) == {
        "x-queue-type": "classic",
        "x-max-priority": 10,
        "x-dead-letter-exchange": "p.dlx",
        "x-dead-letter-routing-key": "p.overdue.dlq",
    }


def test_building_a_pika_publisher_does_not_connect() -> None:
    PikaPublisher("amqp://guest:guest@127.0.0.1:1/%2F")


def test_a_pika_publisher_for_a_closed_port_fails_fast_with_broker_unavailable() -> None:
    publisher = PikaPublisher("amqp://guest:guest@127.0.0.1:1/%2F")
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError):
        publisher.publish("billing.overdue", Token(kind="queue"))
    assert time.monotonic() - started < 3


def test_get_publisher_returns_the_installed_in_process_publisher() -> None:
    fake = InMemoryBroker()
    set_publisher(fake)
    assert get_publisher() is fake


def test_get_publisher_builds_one_lazy_rabbitmq_publisher_per_process() -> None:
    broker.reset_publisher()
    try:
        first = get_publisher()
        assert isinstance(first, PikaPublisher)
        assert get_publisher() is first
    finally:
        broker.reset_publisher()


def test_the_in_memory_broker_records_tokens_in_order_and_drains_one_queue() -> None:
    fake = InMemoryBroker()
    a, b, c = Token(kind="queue"), Token(kind="queue"), Token(kind="check_recovery")
    fake.publish("x.overdue", a, priority=10)
    fake.publish("x.check_recovery", c)
    fake.publish("x.overdue", b, priority=10)
    assert [p.priority for p in fake.published] == [10, 0, 10]
    assert fake.drain("x.overdue") == [a, b]
    assert fake.tokens() == [c]


def test_a_down_in_memory_broker_raises_and_keeps_nothing() -> None:
    fake = InMemoryBroker()
    fake.down = True
    with pytest.raises(BrokerUnavailableError):
        fake.publish("x.overdue", Token(kind="queue"))
    assert fake.published == []
    assert fake.publish_attempts == 1


def test_the_direct_dispatcher_runs_handlers_off_the_publishing_thread() -> None:
    caller = threading.get_ident()
    seen: list[tuple[str, int]] = []

    def handler(token: Token) -> bool:
        seen.append((token.id, threading.get_ident()))
        return True

    dispatcher = DirectDispatcher({"x.overdue": handler})
    token = Token(kind="queue")
    dispatcher.publish("x.overdue", token, priority=10)
    assert dispatcher.wait_idle(timeout=5)
    dispatcher.close()
    assert [tid for tid, _ in seen] == [token.id]
    assert seen[0][1] != caller


def test_the_direct_dispatcher_lets_a_handler_publish_its_own_continuation() -> None:
    handled: list[str] = []
    dispatcher = DirectDispatcher()

    def sender(token: Token) -> bool:
        handled.append(token.reason)
        if token.reason == "created":
            dispatcher.publish("x.resume", Token(kind="queue", reason="continuation"))
        return True

    dispatcher.register("x.overdue", sender)
    dispatcher.register("x.resume", sender)
    dispatcher.publish("x.overdue", Token(kind="queue"))
    assert dispatcher.wait_idle(timeout=5)
    dispatcher.close()
    assert handled == ["created", "continuation"]


def test_the_direct_dispatcher_counts_failing_handlers_and_records_unrouted_tokens() -> None:
    def boom(token: Token) -> bool:
        raise RuntimeError("handler crashed")

    dispatcher = DirectDispatcher({"x.overdue": boom, "x.upcoming": lambda t: False})
    dispatcher.publish("x.overdue", Token(kind="queue"))
    dispatcher.publish("x.upcoming", Token(kind="queue"))
    dispatcher.publish("x.nowhere", Token(kind="queue"))
    assert dispatcher.wait_idle(timeout=5)
    dispatcher.close()
    assert dispatcher.failures == 2
    assert [p.queue for p in dispatcher.unhandled] == ["x.nowhere"]


def test_a_closed_direct_dispatcher_refuses_tokens_as_broker_unavailable() -> None:
    dispatcher = DirectDispatcher({"x.overdue": lambda t: True})
    dispatcher.close()
    with pytest.raises(BrokerUnavailableError):
        dispatcher.publish("x.overdue", Token(kind="queue"))
