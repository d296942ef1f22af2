"""The sweeper's steps with the real broker, the real sender and the simulator (issue 7, acceptance 3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.ops_factories import client, contact_statuses, create_queue, execute, queue_row, set_contacts, set_queue
from support.send_factories import TenantSetup, make_tenant
from support.sweep_support import (
    OffsetClock,
    point_instance_at,
    purge_all,
    run_sender_until_idle,
    sender_tokens,
    take,
)


@pytest.fixture
def acme(gateway_sim: Any) -> TenantSetup:
    setup = make_tenant("acme")
    point_instance_at(gateway_sim, "acme")
    return setup


def sent_numbers(sim: Any) -> list[str]:
    return [m["number"] for m in sim.client.messages()]


def test_a_killed_workers_queue_is_finished_by_the_sweeper_without_duplicates(
    acme: TenantSetup, send: Any, gateway_sim: Any
) -> None:
    from billing.services.sweep.sweeper import run_tick

    queue_id = create_queue(send, acme.key, 6, kind="notification")
    purge_all()  # the dead worker had consumed the first token
    # The worker sent contacts 0 and 1, handed contact 2 to the gateway, then died.
    set_contacts(queue_id, [0, 1], status="sent")
    dead_since = datetime.now(UTC) - timedelta(minutes=5)  # older than BILLING_LEASE_S (150 s)
    set_contacts(queue_id, [2], status="sending", claimed_by="dead:1:abc", updated_at=dead_since)
    set_queue(queue_id, status="running", sent=2, started_at=dead_since)
    summary = run_tick()
    # The claim outlived BILLING_LEASE_S: reported unknown; the queue's other slots wake dispatch.
    assert (summary.stale_released, summary.unknown_contacts, summary.dispatch_woken) == (1, 1, True)
    assert queue_row(queue_id)["status"] == "running"
    assert run_sender_until_idle() >= 1
    row = queue_row(queue_id)
    assert row["status"] == "completed" and (row["sent"], row["unknown"]) == (5, 1)
    assert contact_statuses(queue_id) == {"sent": 5, "unknown": 1}
    numbers = sent_numbers(gateway_sim)
    assert len(numbers) == len(set(numbers)) == 3  # contacts 3, 4, 5 only: nothing resent
    assert "5511980000002" not in numbers
    again = run_tick()
    assert (again.published, again.dispatch_woken) == (0, False)  # nothing left to do


def test_a_queue_created_while_rabbitmq_was_down_is_published_and_completed_after(
    acme: TenantSetup, send: Any, gateway_sim: Any
) -> None:
    from billing.adapters.broker import PikaPublisher, set_publisher
    from billing.services.sweep.sweeper import run_tick

    set_publisher(PikaPublisher("amqp://guest:guest@127.0.0.1:1/%2F", socket_timeout_s=0.5))
    try:
        queue_id = create_queue(send, acme.key, 3, kind="notification")
    finally:
        set_publisher(None)
    assert queue_row(queue_id)["published_at"] is None
    assert run_tick().unpublished == 0  # too fresh: the send function might still be publishing
    summary = run_tick(clock=OffsetClock(timedelta(seconds=30)))
    assert summary.unpublished == 1 and summary.published == 1
    assert queue_row(queue_id)["published_at"] is not None
    run_sender_until_idle()
    assert queue_row(queue_id)["status"] == "completed"
    assert len(sent_numbers(gateway_sim)) == 3


def test_a_scheduled_queue_starts_at_its_time(acme: TenantSetup, send: Any, gateway_sim: Any) -> None:
    from billing.services.sweep.sweeper import run_tick

    start = datetime.now(UTC) + timedelta(hours=1)
    queue_id = create_queue(send, acme.key, 2, kind="notification", scheduled_for=start.isoformat())
    assert queue_row(queue_id)["status"] == "scheduled"
    assert run_tick().scheduled == 0 and sender_tokens() == []
    summary = run_tick(clock=OffsetClock(timedelta(hours=1, seconds=1)))
    assert summary.scheduled == 1
    run_sender_until_idle()
    row = queue_row(queue_id)
    assert row["status"] == "completed" and row["sent"] == 2


def test_a_parked_queue_is_woken_when_its_resume_at_comes(acme: TenantSetup, send: Any, gateway_sim: Any) -> None:
    from billing.services.sweep.sweeper import run_tick

    queue_id = create_queue(send, acme.key, 2, kind="notification")
    purge_all()
    later = datetime.now(UTC) + timedelta(minutes=10)
    set_queue(queue_id, status="paused_business_hours", resume_at=later, paused_reason="closed")
    assert run_tick().resumed == 0
    assert run_tick(clock=OffsetClock(timedelta(minutes=11))).resumed == 1
    run_sender_until_idle()
    assert queue_row(queue_id)["status"] == "completed"


def test_a_recovered_instances_queues_resume(acme: TenantSetup, send: Any, gateway_sim: Any) -> None:
    from billing.services.sweep.sweeper import run_tick

    gateway_sim.client.set_state("loja-centro", "close")
    queue_id = create_queue(send, acme.key, 3, kind="notification")
    run_sender_until_idle()
    assert queue_row(queue_id)["status"] == "instance_down"
    minute_later = OffsetClock(timedelta(minutes=1))
    still_down = run_tick(clock=minute_later)
    assert (still_down.instances_checked, still_down.recovered_queues) == (1, 0)
    assert run_tick(clock=minute_later).instances_checked == 0  # one check per instance per minute
    gateway_sim.client.set_state("loja-centro", "open")
    summary = run_tick(clock=OffsetClock(timedelta(minutes=2)))
    assert (summary.instances_checked, summary.instances_open, summary.recovered_queues) == (1, 1, 1)
    assert execute("SELECT health_state FROM whatsapp_instances")[0]["health_state"] == "open"
    run_sender_until_idle()
    row = queue_row(queue_id)
    assert row["status"] == "completed" and row["sent"] == 3


def test_many_down_instances_are_checked_through_check_recovery_tokens(
    acme: TenantSetup, send: Any, gateway_sim: Any
) -> None:
    from billing.adapters.broker import queue_names
    from billing.db.engine import unit_of_work
    from billing.services import admin
    from billing.services.sweep.sweeper import INLINE_HEALTH_CHECKS, run_tick

    names = [f"filial-{i}" for i in range(INLINE_HEALTH_CHECKS + 2)]
    with unit_of_work() as uow:
        tenant = admin.resolve_tenant("acme", session=uow.session)
        for name in names:
            token = gateway_sim.client.add_instance(name)["token"]
            admin.add_instance(
                tenant, session=uow.session, name=name, url=gateway_sim.base_url, api_key=token,
                secret_key="test-secret-key-0123456789abcdef",
            )  # fmt: skip
        uow.commit()
    queues = [create_queue(send, acme.key, 1, kind="notification", instance=name) for name in names]
    purge_all()
    for queue_id in queues:
        set_queue(queue_id, status="instance_down", paused_reason="instance_down: close")
    summary = run_tick()
    assert summary.recovery_fanned_out == len(names) and summary.instances_checked == 0
    tokens = take(queue_names().check_recovery)
    assert sorted(t.instance_id for t in tokens) == sorted(
        str(r["id"]) for r in execute("SELECT id FROM whatsapp_instances WHERE name LIKE 'filial-%'")
    )
    sweeper = client("sweeper")
    for token in tokens:
        response = sweeper.post("/", data=token.to_bytes(), headers={"Content-Type": "application/json"})
        assert response.status_code == 200
    assert {queue_row(q)["status"] for q in queues} == {"pending"}
    assert len(sender_tokens()) == len(queues)


def test_expired_rate_limit_windows_are_purged(acme: TenantSetup, gateway_sim: Any) -> None:
    from billing.services.sweep.sweeper import run_tick

    execute(
        "INSERT INTO rate_limit_buckets (key, hits, expires_at) VALUES ('ip:x:1', 3, :old), ('ip:x:2', 1, :new)",
        old=datetime.now(UTC) - timedelta(minutes=5),
        new=datetime.now(UTC) + timedelta(minutes=1),
    )
    assert run_tick().rate_limit_buckets_purged >= 1
    assert [r["key"] for r in execute("SELECT key FROM rate_limit_buckets WHERE key LIKE 'ip:x:%'")] == ["ip:x:2"]


# --- upkeep: lost tokens, receipts that overtook the sender, receipt retention ---------------------


def test_a_pending_queue_whose_confirmed_token_was_lost_is_published_again_and_finished(
    acme: TenantSetup, gateway_sim: Any
) -> None:
    from billing.services.sweep.sweeper import run_tick

    queue_id = create_queue(client("send"), acme.key, 3, kind="notification")
    purge_all()  # the token the send function published is lost
    assert run_tick().stranded == 0  # too fresh: it may still be waiting in a busy queue
    assert run_tick(clock=OffsetClock(timedelta(minutes=11))).stranded == 1
    assert run_tick(clock=OffsetClock(timedelta(minutes=11))).stranded == 0  # published once
    run_sender_until_idle()  # only the sweeper's token is on the broker now
    assert queue_row(queue_id)["status"] == "completed"
    assert len(gateway_sim.client.messages()) == 3


def test_parked_queues_are_not_treated_as_stranded(acme: TenantSetup, gateway_sim: Any) -> None:
    from billing.services.sweep.sweeper import run_tick

    queue_id = create_queue(client("send"), acme.key, 1, kind="notification")
    purge_all()
    set_queue(queue_id, resume_at=datetime.now(UTC) + timedelta(hours=2), paused_reason="retry")
    assert run_tick(clock=OffsetClock(timedelta(minutes=11))).stranded == 0


def test_a_receipt_that_arrived_before_the_message_id_was_stored_is_caught_up(
    acme: TenantSetup, gateway_sim: Any
) -> None:
    from billing.services.sweep.sweeper import run_tick

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


def test_receipts_older_than_the_retention_are_purged(acme: TenantSetup, gateway_sim: Any) -> None:
    from billing.services.sweep.sweeper import run_tick

    tenant_id = execute("SELECT id FROM tenants WHERE name = 'acme'")[0]["id"]
    execute(
        "INSERT INTO webhook_receipts (id, tenant_id, provider_message_id, status, received_at) VALUES "
        "(gen_random_uuid(), :t, 'OLD', 'READ', now() - interval '8 days'), "
        "(gen_random_uuid(), :t, 'NEW', 'READ', now())",
        t=tenant_id,
    )
    assert run_tick().receipts_purged == 1
    assert [r["provider_message_id"] for r in execute("SELECT provider_message_id FROM webhook_receipts")] == ["NEW"]
