"""The sender's use case around its loop, in memory: a scripted gateway through the delivery rules,
which tokens it acts on, and the wake token it leaves when the broker is down."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from typing import Any

from billing import bootstrap
from billing.adapters.broker import Token
from billing.domain.delivery import RetryPolicy, decide
from billing.domain.gateway import HealthState, OutcomeKind, SendOutcome
from billing.domain.states import ContactStatus
from billing.services.delivery import sender
from billing.services.delivery.deps import SenderDeps
from billing.testing import FakeClock, FakeGateway, InMemoryBroker

NOW = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, base_s=30, max_s=1800)


def test_a_scripted_gateway_walks_one_contact_through_retry_unknown_and_down() -> None:
    gateway = FakeGateway(
        SendOutcome(OutcomeKind.TRANSIENT, status_code=503, error="busy"),
        SendOutcome(OutcomeKind.INSTANCE_DOWN, error="connection closed"),
        SendOutcome(OutcomeKind.TRANSIENT, error="read timeout", delivery_unknown=True),
        health=HealthState.CLOSE,
    )
    rng = random.Random(7)
    outcomes = [gateway.send_text("+5511999998888", "Oi", retry=False) for _ in range(4)]
    updates = [decide(o, attempts_before=0, now=NOW, policy=POLICY, rng=rng) for o in outcomes]
    assert updates[0] is not None and updates[0].status is ContactStatus.PENDING_RETRY
    assert updates[1] is None  # instance down: the contact goes back unconsumed
    assert updates[2] is not None and updates[2].status is ContactStatus.UNKNOWN  # maybe sent: never resent
    assert updates[3] is not None and updates[3].status is ContactStatus.SENT and updates[3].provider_id == "FAKE000004"
    assert gateway.check_health() is HealthState.CLOSE and gateway.health_checks == 1
    assert [s.retry for s in gateway.sent] == [False] * 4


def test_tokens_that_are_not_work_hints_are_acknowledged_without_touching_anything(caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="billing.services.delivery.sender")
    assert sender.handle(Token(kind="tick", reason="cron"))
    assert [getattr(r, "action", None) for r in caplog.records] == ["sender.ignored"]


def test_a_wake_token_the_broker_refuses_is_left_for_the_sweeper() -> None:
    broker = InMemoryBroker()
    broker.down = True
    deps = SenderDeps(clock=FakeClock(), publisher=lambda: broker)
    assert sender.publish_wake(deps, reason="continuation:budget") is False
    assert broker.publish_attempts == 1 and broker.published == []
    broker.down = False
    assert sender.publish_wake(deps, reason="continuation:budget") is True
    assert [t.reason for _, t, _ in broker.published] == ["continuation:budget"]


def test_the_sender_is_wired_to_the_composition_roots_gateway_and_publisher_by_default() -> None:
    deps = SenderDeps()
    assert deps.gateway is bootstrap.gateway_for and deps.publisher is bootstrap.publisher
