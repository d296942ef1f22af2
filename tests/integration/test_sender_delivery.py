"""Sender acceptance against real Postgres, RabbitMQ and the gateway simulator (issue 6, items 1, 3-5b).

In-process: ``deliver_queue`` with real settings, a FakeClock where hours or waiting matter, and the
simulator over HTTP. The multi-process items (2, 6, 7) are in test_sender_processes.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pika
import pytest
from billing.adapters.broker import PikaPublisher, Token, queue_names, reset_publisher
from billing.clock import SYSTEM_CLOCK, Clock
from billing.config import get_settings
from billing.services import admin
from billing.services.delivery.deps import SenderDeps
from billing.services.delivery.sender import serve
from billing.services.sweep.sweeper import check_recovery
from billing.services.tenants import forget_tenant
from billing.sim.server import SimulatorHandle
from billing.testing import FakeClock, InMemoryBroker
from support.delivery import deliver as deliver_queue
from support.factories import World, contacts_of, make_queue, make_world, phone_of, queue_row, status_counts

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
# Monday 2026-11-30 10:00 in Sao Paulo (UTC-3): inside the default Mon-Fri 08:00-18:00 window.
MONDAY_10H = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


@pytest.fixture
def world(db: Any, sim: SimulatorHandle) -> World:
    w = make_world(db, gateway_url=sim.base_url)
    w.register(sim.client)
    return w


def deps(clock: Clock = SYSTEM_CLOCK, broker: InMemoryBroker | None = None, **settings: Any) -> SenderDeps:
    publisher = broker or InMemoryBroker()
    return SenderDeps(
        settings=get_settings().model_copy(update={"pacing_disabled": True, **settings}),
        clock=clock,
        publisher=lambda: publisher,
        stop_requested=lambda: False,
    )


def test_a_thousand_contacts_complete_exactly_once_with_continuations_through_rabbitmq(
    db: Any, sim: SimulatorHandle, world: World, broker_prefix: str
) -> None:
    queue_id = make_queue(db, world, 1000)
    reset_publisher()
    publisher = PikaPublisher(RABBITMQ_URL, prefix=broker_prefix)
    clock = FakeClock(MONDAY_10H)
    budget_s = 1.0
    # Each invocation's budget runs out (the fake clock's monotonic time moves one second per message).
    clock_monotonic = clock.monotonic

    def ticking() -> float:
        clock.advance(budget_s / 150)
        return clock_monotonic()

    clock.monotonic = ticking  # type: ignore[method-assign]
    sender = SenderDeps(
        settings=get_settings().model_copy(update={"pacing_disabled": True, "function_budget_s": budget_s}),
        clock=clock,
        publisher=lambda: publisher,
        stop_requested=lambda: False,
    )
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    channel = connection.channel()
    invocations = 0
    try:
        result = serve(deps=sender)
        invocations += 1
        while result.outcome == "budget":
            # The continuation really went through RabbitMQ: take it from the resume queue and obey it.
            method, _, body = channel.basic_get(queue_names(broker_prefix).resume, auto_ack=True)
            assert method is not None, "continuation token missing"
            token = Token.from_bytes(body)
            assert token.kind == "queue" and token.reason == "continuation:budget"
            result = serve(deps=sender)
            invocations += 1
    finally:
        connection.close()
        publisher.close()
    assert result.outcome == "idle"
    assert invocations > 2  # the budget really cut invocations short, and each carried on
    received = sim.client.messages(world.instance_name)
    assert len(received) == 1000
    contacts = contacts_of(db, queue_id)
    by_number = {m["number"]: m["text"] for m in received}
    assert len(by_number) == 1000
    assert all(by_number[c.phone.lstrip("+")] == c.message for c in contacts)
    assert all(c.status == "sent" and c.provider_message_id and c.sent_at for c in contacts)
    queue = queue_row(db, queue_id)
    assert (queue.status, queue.sent, queue.failed, queue.unknown, queue.total) == ("completed", 1000, 0, 0, 1000)
    assert queue.completed_at is not None
    history = db.exec(
        __import__("sqlalchemy").text(
            "SELECT count(*) FILTER (WHERE NOT is_open), count(*) FROM conversations WHERE tenant_id = :t"
        ),
        params={"t": str(world.tenant_id)},
    ).one()
    assert tuple(history) == (1000, 1000)


# --- helpers for the in-process scenarios ------------------------------------------------------------


class GatewayHook:
    """Wraps the real gateway client; runs ``action`` once, after ``after`` sends."""

    def __init__(self, after: int, action: Any) -> None:
        self.after, self.action, self.sends = after, action, 0

    def wrap(self, queue: Any, settings: Any) -> Any:
        from billing.bootstrap import gateway_for

        inner, hook = gateway_for(queue, settings), self

        class Hooked:
            def send_text(self, phone: str, text: str, **kw: Any) -> Any:
                outcome = inner.send_text(phone, text, **kw)
                hook.sends += 1
                if hook.sends == hook.after:
                    hook.action()
                return outcome

            def check_health(self) -> Any:
                return inner.check_health()

        return Hooked()


def local(y: int, m: int, d: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    """Sao Paulo wall time (UTC-3, no DST since 2019) as an aware UTC instant."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC) + timedelta(hours=3)


# --- 3. business hours ---------------------------------------------------------------------------------


def test_closing_time_pauses_until_the_next_opening_skipping_a_holiday_and_a_resume_finishes(
    db: Any, sim: SimulatorHandle, world: World
) -> None:
    # Thursday 2026-12-24 17:59:52; Friday 25 is Christmas, then a weekend: next opening Monday 28 08:00.
    clock = FakeClock(local(2026, 12, 24, 17, 59, 52))
    tenant = admin.resolve_tenant(world.tenant_name, session=db)
    admin.set_config(tenant, session=db, throttle_per_minute=60, jitter_s=0)
    db.commit()
    forget_tenant()
    queue_id = make_queue(
        db, world, 20, template_type="overdue", due_date=date(2026, 12, 1), rendered_on=date(2026, 12, 24)
    )
    sender = deps(clock, pacing_disabled=False)

    deliver_queue(queue_id, deps=sender)

    queue = queue_row(db, queue_id)
    assert queue.status == "paused_business_hours"
    assert queue.resume_at == local(2026, 12, 28, 8)
    assert queue.sent == 8  # 17:59:52 .. 17:59:59, one a second
    assert status_counts(db, queue_id) == {"sent": 8, "pending": 12}

    clock.set(local(2026, 12, 28, 8, 0, 1))
    second = deliver_queue(queue_id, deps=sender)

    assert second.status == "completed"
    assert queue_row(db, queue_id).sent == 20
    assert len({m["number"] for m in sim.client.messages()}) == 20 == len(sim.client.messages())


# --- 4. instance down ---------------------------------------------------------------------------------


def test_an_instance_going_down_parks_the_queue_without_losing_or_charging_a_message(
    db: Any, sim: SimulatorHandle, world: World
) -> None:
    queue_id = make_queue(db, world, 10)
    hook = GatewayHook(3, lambda: sim.client.set_state(world.instance_name, "close"))
    sender = deps()
    sender.gateway = hook.wrap

    deliver_queue(queue_id, deps=sender)

    queue = queue_row(db, queue_id)
    assert queue.status == "instance_down"
    contacts = contacts_of(db, queue_id)
    assert [c.status for c in contacts].count("sent") == 3
    assert all(c.attempts == 0 and c.status == "pending" for c in contacts if c.status != "sent")
    health = db.exec(__import__("sqlalchemy").text("SELECT health_state FROM whatsapp_instances")).scalar()
    assert health == "close"

    sim.client.set_state(world.instance_name, "open")
    sender.gateway = deps().gateway
    assert deliver_queue(queue_id, deps=sender).status == "instance_down"  # dispatch leaves it to recovery
    check_recovery(str(world.instance_id), publisher=InMemoryBroker())  # the sweeper's health check
    assert deliver_queue(queue_id, deps=sender).status == "completed"
    received = sim.client.messages()
    assert sorted(m["number"] for m in received) == sorted(c.phone.lstrip("+") for c in contacts)


# --- 5. retries -------------------------------------------------------------------------------------------

TIMED_OUT = {"status": 500, "error": "Internal Server Error", "response": {"message": ["Timed Out"]}}


def test_transient_errors_are_retried_with_backoff_and_an_invalid_number_fails_at_once(
    db: Any, sim: SimulatorHandle, world: World
) -> None:
    clock = FakeClock(MONDAY_10H)
    queue_id = make_queue(db, world, 5)
    sim.client.fail_next(1, status=500, body=TIMED_OUT)
    sim.client.fail_next(1, status=502, body={"status": 502, "error": "Bad Gateway"})
    sim.client.throttle_next(1, retry_after=7)
    sim.client.mark_not_on_whatsapp([phone_of(4).lstrip("+")])

    result = deliver_queue(queue_id, deps=deps(clock, retry_base_s=2, retry_max_s=4, max_inline_wait_s=60))

    assert result.status == "completed"
    contacts = contacts_of(db, queue_id)
    # "Timed Out" and 502 may mean the gateway sent it: unknown, never retried (no second reminder).
    assert [c.status for c in contacts] == ["unknown", "unknown", "sent", "failed", "sent"]
    assert [c.attempts for c in contacts] == [1, 1, 2, 1, 1]
    assert contacts[3].last_error == "number is not on WhatsApp"
    assert "Timed Out" in contacts[0].last_error and "delivery unknown" in contacts[1].last_error
    # The 429 asked for 7 s: its retry never went earlier, whatever the (shorter) backoff said.
    assert (contacts[2].sent_at - MONDAY_10H).total_seconds() >= 7
    queue = queue_row(db, queue_id)
    assert (queue.sent, queue.failed, queue.unknown, queue.status) == (2, 1, 2, "completed")
    assert sim.client.send_requests() == 6  # five first attempts and one retry


def test_retries_exhausted_fail_the_contact_with_the_last_error(db: Any, sim: SimulatorHandle, world: World) -> None:
    clock = FakeClock(MONDAY_10H)
    queue_id = make_queue(db, world, 1)
    sim.client.fail_next(3, status=503, body={"status": 503, "error": "Service Unavailable"})

    result = deliver_queue(queue_id, deps=deps(clock, max_attempts=3, retry_base_s=1, max_inline_wait_s=60))

    assert result.status == "completed"
    (contact,) = contacts_of(db, queue_id)
    assert (contact.status, contact.attempts) == ("failed", 3)
    assert contact.last_error.startswith("gave up after 3 attempts: ") and "Service Unavailable" in contact.last_error
    assert sim.client.send_requests() == 3 and sim.client.messages() == []


def test_a_retry_far_away_ends_the_invocation_and_the_sweeper_wakes_dispatch_when_due(
    db: Any, sim: SimulatorHandle, world: World
) -> None:
    from billing.db import dispatch as dispatch_sql
    from billing.db.engine import core_connection

    clock = FakeClock(MONDAY_10H)
    queue_id = make_queue(db, world, 1)
    sim.client.throttle_next(1, retry_after=600)

    result = deliver_queue(queue_id, deps=deps(clock, max_inline_wait_s=20))

    assert result.outcome == "idle" and result.status == "running"  # nothing held while it waits
    (contact,) = contacts_of(db, queue_id)
    assert contact.status == "pending_retry" and contact.next_attempt_at >= MONDAY_10H + timedelta(seconds=600)
    with core_connection() as conn:
        assert not dispatch_sql.any_due(conn, now=clock.now())
        clock.advance(601)
        assert dispatch_sql.any_due(conn, now=clock.now())  # the sweeper's tick now wakes dispatch
    assert deliver_queue(queue_id, deps=deps(clock)).status == "completed"


# --- 5b. truth at send time ------------------------------------------------------------------------------


def test_a_queue_paused_over_midnight_sends_tomorrows_day_count(db: Any, sim: SimulatorHandle, world: World) -> None:
    queue_id = make_queue(
        db, world, 1, template_type="overdue", due_date=date(2026, 11, 20), rendered_on=date(2026, 11, 30)
    )
    (before,) = contacts_of(db, queue_id)
    assert "há 10 dias" in before.message

    result = deliver_queue(queue_id, deps=deps(FakeClock(local(2026, 12, 1, 10))))

    assert result.status == "completed"
    (after,) = contacts_of(db, queue_id)
    (received,) = sim.client.messages()
    assert "há 11 dias" in received["text"] and received["text"] == after.message
    assert after.rendered_on == date(2026, 12, 1) and after.variation_id == before.variation_id


def test_an_upcoming_reminder_past_its_due_date_and_contacts_past_valid_until_expire(
    db: Any, sim: SimulatorHandle, world: World
) -> None:
    upcoming = make_queue(
        db, world, 2, template_type="upcoming", due_date=date(2026, 12, 1), rendered_on=date(2026, 11, 28)
    )
    late = make_queue(db, world, 2, valid_until=local(2026, 12, 2, 9), first_phone=10)
    clock = FakeClock(local(2026, 12, 2, 10))

    assert deliver_queue(upcoming, deps=deps(clock)).status == "completed"
    assert deliver_queue(late, deps=deps(clock)).status == "completed"

    assert sim.client.send_requests() == 0
    for queue_id in (upcoming, late):
        assert status_counts(db, queue_id) == {"expired": 2}
        queue = queue_row(db, queue_id)
        assert (queue.expired, queue.sent, queue.status) == (2, 0, "completed")


def test_an_opted_out_phone_is_skipped(db: Any, sim: SimulatorHandle, world: World) -> None:
    from billing.db.models import Suppression

    db.add(Suppression(tenant_id=world.tenant_id, phone=phone_of(2), reason="SAIR"))
    db.commit()
    queue_id = make_queue(db, world, 3)

    assert deliver_queue(queue_id, deps=deps()).status == "completed"

    assert [c.status for c in contacts_of(db, queue_id)] == ["sent", "skipped", "sent"]
    assert phone_of(2).lstrip("+") not in {m["number"] for m in sim.client.messages()}
    assert queue_row(db, queue_id).skipped == 1


# --- control, pacing caps, tokens ---------------------------------------------------------------------------


def test_a_pause_from_the_control_function_stops_the_loop_before_the_next_send(
    db: Any, sim: SimulatorHandle, world: World
) -> None:
    import sqlalchemy as sa
    from billing.db.engine import get_engine

    queue_id = make_queue(db, world, 10)

    def pause() -> None:
        with get_engine().begin() as conn:
            conn.execute(sa.text("UPDATE billing_queues SET status = 'paused' WHERE id = :q"), {"q": str(queue_id)})

    sender = deps()
    sender.gateway = GatewayHook(2, pause).wrap
    result = deliver_queue(queue_id, deps=sender)

    queue = queue_row(db, queue_id)
    assert result.outcome == "idle" and queue.status == "paused"
    assert queue.sent == 2 and len(sim.client.messages()) == 2  # the in-flight one was recorded, no third
    assert deliver_queue(queue_id, deps=deps()).sent == 0


def test_the_daily_cap_parks_the_queue_until_the_next_day(db: Any, sim: SimulatorHandle, world: World) -> None:
    import sqlalchemy as sa

    tenant = admin.resolve_tenant(world.tenant_name, session=db)
    admin.set_config(tenant, session=db, daily_cap=3, throttle_per_minute=600, jitter_s=0)
    db.commit()
    forget_tenant()
    queue_id = make_queue(db, world, 5)
    clock = FakeClock(MONDAY_10H)

    result = deliver_queue(queue_id, deps=deps(clock, pacing_disabled=False))

    queue = queue_row(db, queue_id)
    # The queue says it waits, until when and why (not "running" while nothing can go out before midnight).
    assert result.outcome == "idle" and queue.sent == 3 and queue.status == "paused_business_hours"
    assert queue.resume_at == local(2026, 12, 1, 0) and queue.paused_reason.startswith("daily_cap:")
    # The instance's next slot moved to the tenant's next local midnight; nothing is held meanwhile.
    slot = db.exec(
        sa.text("SELECT next_send_at FROM whatsapp_instances WHERE id = :i"), params={"i": str(world.instance_id)}
    ).scalar()
    assert slot == local(2026, 12, 1, 0) and status_counts(db, queue_id) == {"sent": 3, "pending": 2}
    clock.set(local(2026, 12, 1, 0, 0, 1))
    assert deliver_queue(queue_id, deps=deps(clock, pacing_disabled=False)).status == "completed"
    events = db.exec(
        sa.text(
            "SELECT type, data->>'reason' FROM billing_events WHERE queue_id = :q AND type LIKE 'queue.%' ORDER BY id"
        ),
        params={"q": str(queue_id)},
    ).all()
    assert [tuple(e) for e in events] == [
        ("queue.started", None),
        ("queue.paused", "daily_cap"),
        ("queue.resumed", None),
        ("queue.completed", None),
    ]


def test_a_number_that_keeps_sending_is_not_health_checked_again(db: Any, sim: SimulatorHandle, world: World) -> None:
    """Each accepted send shows the number connected: the periodic connectionState call is spared while
    messages flow (migration 0025), and made again once they stop for longer than the interval."""
    tenant = admin.resolve_tenant(world.tenant_name, session=db)
    admin.set_config(tenant, session=db, throttle_per_minute=6, jitter_s=0)  # a message every 10 s
    db.commit()
    forget_tenant()
    queue_id = make_queue(db, world, 12)
    clock = FakeClock(MONDAY_10H)
    sender = deps(clock, pacing_disabled=False, health_check_interval_s=30.0)

    assert deliver_queue(queue_id, deps=sender).status == "completed"

    assert len(sim.client.messages()) == 12  # 110 s of fake time: three intervals
    assert sim.client.state_requests(world.instance_name) == 1  # only the first, before anything was sent
    clock.advance(45)  # quiet for longer than the interval: the next message is checked first
    second = make_queue(db, world, 1, first_phone=100)
    assert deliver_queue(second, deps=sender).status == "completed"
    assert sim.client.state_requests(world.instance_name) == 2


def test_a_second_token_while_dispatch_runs_in_this_process_only_nudges_it(
    db: Any, sim: SimulatorHandle, world: World
) -> None:
    import threading

    from billing.services.delivery.dispatch import dispatch

    queue_id = make_queue(db, world, 30)
    sim.client.set_latency(20)
    first: list[Any] = []
    runner = threading.Thread(target=lambda: first.append(dispatch(deps=deps())))
    runner.start()
    deadline = __import__("time").monotonic() + 10
    while sim.client.send_requests() == 0:
        assert __import__("time").monotonic() < deadline
    second = dispatch(deps=deps())
    runner.join(30)
    assert second.outcome == "nudged" and second.sent == 0
    assert first[0].outcome == "idle" and first[0].sent == 30
    assert queue_row(db, queue_id).status == "completed" and sim.client.send_requests() == 30
