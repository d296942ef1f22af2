"""A gateway that refuses the instance's API key (401/403) is its own state: ``auth_failed``, the queues
say so, no contact consumes an attempt, and ``billing instance update --api-key`` clears it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from billing.cli import main
from support.factories import World, make_queue
from support.webhook_factories import connection, make_world, post, webhook_client
from test_sender_processes import finish_in_process


@pytest.fixture
def auth_world(db: Any, sim: Any, broker_prefix: str) -> World:
    """A tenant on the simulator whose instance also authenticates the gateway's webhooks."""
    world = make_world(gateway_url=sim.base_url)
    world.register(sim.client)
    return world


def instance_row(db: Any, world: World) -> Any:
    db.expire_all()
    query = sa.text("SELECT health_state, health_checked_at FROM whatsapp_instances WHERE id = :i")
    row = db.execute(query, {"i": world.instance_id}).one()
    db.commit()
    return row


def queue_of(db: Any, queue_id: Any) -> Any:
    row = db.execute(sa.text("SELECT status, paused_reason FROM billing_queues WHERE id = :q"), {"q": queue_id}).one()
    db.commit()
    return row


def contacts(db: Any, queue_id: Any) -> list[tuple[str, int]]:
    rows = db.execute(
        sa.text("SELECT status, attempts FROM billing_contacts WHERE queue_id = :q ORDER BY position"), {"q": queue_id}
    ).all()
    db.commit()
    return [(r.status, r.attempts) for r in rows]


@pytest.mark.parametrize("when", ["health check", "send"])
def test_a_refused_key_parks_the_instance_as_auth_failed_and_a_new_key_resumes_it(
    db: Any,
    sim: Any,
    auth_world: World,
    when: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from billing import metrics

    queue_id = make_queue(db, auth_world, 3)
    if when == "send":  # the key was rotated after the last health check: the send itself gets the 401
        fresh = sa.text("UPDATE whatsapp_instances SET health_state = 'open', health_checked_at = :now")
        db.execute(fresh, {"now": datetime.now(UTC)})
        db.commit()
    sim.client.configure(auth_world.instance_name, token="rotated-at-the-gateway")
    with caplog.at_level(logging.ERROR):
        assert finish_in_process(queue_id) == "instance_down"
    assert instance_row(db, auth_world).health_state == "auth_failed"
    parked = queue_of(db, queue_id)
    assert "auth_failed" in parked.paused_reason and "billing instance update --api-key" in parked.paused_reason
    assert contacts(db, queue_id) == [("pending", 0)] * 3  # no contact consumed an attempt
    assert sim.client.messages() == []
    assert any(getattr(r, "action", None) == "sender.auth_failed" for r in caplog.records)
    assert f'billing_gateway_auth_failures_total{{instance_id="{auth_world.instance_id}"}}' in metrics.render().decode()
    # The phone reconnecting says nothing about our key: the instance stays auth_failed.
    assert post(webhook_client(), auth_world, connection("open")).status_code == 200
    assert instance_row(db, auth_world).health_state == "auth_failed"
    # Dispatch again: still parked, still nothing consumed (the stale flag is checked again, not sent on).
    assert finish_in_process(queue_id) == "instance_down"
    assert contacts(db, queue_id) == [("pending", 0)] * 3

    capsys.readouterr()
    code = main(
        [
            "instance", "update", "--tenant", auth_world.tenant_name, "--name", auth_world.instance_name,
            "--api-key", "rotated-at-the-gateway",
        ]
    )  # fmt: skip
    assert code == 0
    assert str(queue_id) in capsys.readouterr().out  # queues_resumed
    assert instance_row(db, auth_world).health_state == "unknown"
    assert queue_of(db, queue_id).status == "pending"
    assert finish_in_process(queue_id) == "completed"
    assert len(sim.client.messages()) == 3
    assert contacts(db, queue_id) == [("sent", 1)] * 3
