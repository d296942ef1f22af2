"""The webhook marks an instance closed the moment the gateway says so; the sender obeys before its
next message instead of waiting for its own periodic health check."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from billing.config import get_settings
from billing.services.delivery.deps import SenderDeps
from billing.sim.server import SimulatorHandle
from billing.testing import InMemoryBroker
from support.delivery import deliver as deliver_queue
from support.factories import World, make_queue, make_world, queue_row


@pytest.fixture
def world(db: Any, sim: SimulatorHandle) -> World:
    w = make_world(db, gateway_url=sim.base_url)
    w.register(sim.client)
    return w


def sender_deps(**settings: Any) -> SenderDeps:
    broker = InMemoryBroker()
    return SenderDeps(
        settings=get_settings().model_copy(update={"pacing_disabled": True, **settings}),
        publisher=lambda: broker,
        stop_requested=lambda: False,
    )


def set_health(db: Any, world: World, state: str) -> None:
    """What the webhook records when the gateway reports the instance's state (claims.RECORD_HEALTH)."""
    db.execute(
        sa.text("UPDATE whatsapp_instances SET health_state = :s, health_checked_at = now() WHERE id = :i"),
        {"s": state, "i": world.instance_id},
    )
    db.commit()


def test_a_closed_flag_set_mid_queue_parks_it_before_the_next_message(
    db: Any, sim: SimulatorHandle, world: World
) -> None:
    queue_id = make_queue(db, world, 20)
    sim.client.set_latency(150)
    # The sender checked health when it started; it would not ask the gateway again for an hour.
    sender = sender_deps(health_check_interval_s=3600)
    runner = threading.Thread(target=deliver_queue, args=(queue_id,), kwargs={"deps": sender})
    runner.start()
    deadline = time.monotonic() + 10
    while not sim.client.messages() and time.monotonic() < deadline:
        time.sleep(0.01)
    set_health(db, world, "close")  # the webhook reports the instance closed mid-queue
    runner.join(timeout=30)
    sent = len(sim.client.messages())
    assert queue_row(db, queue_id).status == "instance_down"
    assert 1 <= sent <= 2  # at most the message already in flight when the flag was set
    untouched = db.execute(
        sa.text("SELECT count(*) FROM billing_contacts WHERE queue_id = :q AND status = 'pending' AND attempts = 0"),
        {"q": queue_id},
    ).scalar()
    assert untouched == 20 - sent


def test_the_senders_own_open_check_clears_a_stale_closed_flag(db: Any, sim: SimulatorHandle, world: World) -> None:
    queue_id = make_queue(db, world, 3)
    set_health(db, world, "close")
    # The instance is in fact open at the gateway: the health check before the first send says so.
    deliver_queue(queue_id, deps=sender_deps(health_check_interval_s=0.0))
    assert queue_row(db, queue_id).status == "completed"
    assert len(sim.client.messages()) == 3
    state = db.execute(sa.text("SELECT health_state FROM whatsapp_instances WHERE id = :i"), {"i": world.instance_id})
    assert state.scalar() == "open"
