"""Sweeper upkeep: lost tokens of pending queues, receipts that overtook the sender, receipt retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.ops_factories import client, create_queue, execute, queue_row, set_contacts, set_queue
from support.send_factories import TenantSetup, make_tenant
from support.sweep_support import OffsetClock, point_instance_at, purge_all, run_sender_until_idle


@pytest.fixture
def env(database_url: str, broker_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from billing.adapters.broker import reset_publisher, set_publisher
    from billing.adapters.evolution import close_all_clients
    from billing.config import reset_settings_cache
    from billing.sim.server import running_simulator

    monkeypatch.setenv("BILLING_PACING_DISABLED", "true")
    reset_settings_cache()
    set_publisher(None)
    with running_simulator() as sim:
        yield sim
    reset_publisher()
    close_all_clients()


@pytest.fixture
def acme(env: Any) -> TenantSetup:
    setup = make_tenant("acme")
    point_instance_at(env, "acme")
    return setup


def test_a_pending_queue_whose_confirmed_token_was_lost_is_published_again_and_finished(
    acme: TenantSetup, env: Any
) -> None:
    from billing.services.sweep import run_tick

    queue_id = create_queue(client("send"), acme.key, 3, kind="notification")
    purge_all()  # the token the send function published is lost
    assert run_tick().stranded == 0  # too fresh: it may still be waiting in a busy queue
    assert run_tick(clock=OffsetClock(timedelta(minutes=11))).stranded == 1
    assert run_tick(clock=OffsetClock(timedelta(minutes=11))).stranded == 0  # published once
    run_sender_until_idle()  # only the sweeper's token is on the broker now
    assert queue_row(queue_id)["status"] == "completed"
    assert len(env.client.messages()) == 3


def test_parked_queues_are_not_treated_as_stranded(acme: TenantSetup, env: Any) -> None:
    from billing.services.sweep import run_tick

    queue_id = create_queue(client("send"), acme.key, 1, kind="notification")
    purge_all()
    set_queue(queue_id, resume_at=datetime.now(UTC) + timedelta(hours=2), paused_reason="retry")
    assert run_tick(clock=OffsetClock(timedelta(minutes=11))).stranded == 0


def test_a_receipt_that_arrived_before_the_message_id_was_stored_is_caught_up(acme: TenantSetup, env: Any) -> None:
    from billing.services.sweep import run_tick

    queue_id = create_queue(client("send"), acme.key, 1, kind="notification")
    purge_all()
    tenant_id = queue_row(queue_id)["tenant_id"]
    # READ came first (no contact had this message id yet), then the sender recorded the id.
    execute(
        "INSERT INTO webhook_receipts (id, tenant_id, provider_message_id, status, received_at) "
        "VALUES (gen_random_uuid(), :t, '3EB0LATE', 'READ', now())",
        t=tenant_id,
    )
    set_contacts(queue_id, [0], status="sent", provider_message_id="3EB0LATE", sent_at=datetime.now(UTC))
    set_queue(queue_id, sent=1)
    summary = run_tick()
    assert summary.receipts_caught_up == 1
    contact = execute("SELECT delivery_status, read_at FROM billing_contacts WHERE queue_id = :q", q=queue_id)[0]
    assert contact["delivery_status"] == "read" and contact["read_at"] is not None
    assert (queue_row(queue_id)["delivered"], queue_row(queue_id)["read"]) == (1, 1)
    assert run_tick().receipts_caught_up == 0  # applied once


def test_receipts_older_than_the_retention_are_purged(acme: TenantSetup, env: Any) -> None:
    from billing.services.sweep import run_tick

    tenant_id = execute("SELECT id FROM tenants WHERE name = 'acme'")[0]["id"]
    execute(
        "INSERT INTO webhook_receipts (id, tenant_id, provider_message_id, status, received_at) VALUES "
        "(gen_random_uuid(), :t, 'OLD', 'READ', now() - interval '8 days'), "
        "(gen_random_uuid(), :t, 'NEW', 'READ', now())",
        t=tenant_id,
    )
    assert run_tick().receipts_purged == 1
    assert [r["provider_message_id"] for r in execute("SELECT provider_message_id FROM webhook_receipts")] == ["NEW"]
