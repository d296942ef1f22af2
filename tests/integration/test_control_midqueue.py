"""Pause and cancel while a real sender is mid-queue (issue 7, acceptance 2): the simulator holds every
send for a while so a message is in flight when the control call lands."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from support.ops_factories import CONTROL, client, contact_statuses, create_queue, queue_row
from support.send_factories import TenantSetup, headers, make_tenant
from support.sweep_support import point_instance_at, purge_all, run_sender_until_idle

LATENCY_MS = 150
CONTACTS = 12


@pytest.fixture
def acme(gateway_sim: Any) -> TenantSetup:
    setup = make_tenant("acme")
    point_instance_at(gateway_sim, "acme")
    gateway_sim.client.set_latency(LATENCY_MS)
    return setup


def start_sender(queue_id: str) -> threading.Thread:
    from billing.services.delivery.sender import serve

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def wait_for_messages(gateway_sim: Any, n: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(gateway_sim.client.messages()) < n:
        assert time.monotonic() < deadline, "the sender did not get going"
        time.sleep(0.02)


def act(key: str, queue_id: str, action: str) -> tuple[Any, float]:
    response = client("control").post(CONTROL.format(queue_id), json={"action": action}, headers=headers(key))
    return response, time.time()


def test_pause_stops_the_sender_before_its_next_message_and_resume_finishes_the_queue(
    acme: TenantSetup, gateway_sim: Any
) -> None:
    queue_id = create_queue(client("send"), acme.key, CONTACTS, kind="notification")
    purge_all()
    sender = start_sender(queue_id)
    wait_for_messages(gateway_sim, 3)
    response, acknowledged_at = act(acme.key, queue_id, "pause")
    assert response.status_code == 200 and response.get_json()["status"] == "paused"
    sender.join(timeout=30)
    assert not sender.is_alive()
    messages = gateway_sim.client.messages()
    after_ack = [m for m in messages if m["received_wall"] > acknowledged_at]
    assert len(after_ack) <= 1  # at most the one already in flight
    assert len(messages) < CONTACTS
    row = queue_row(queue_id)
    assert row["status"] == "paused" and row["sent"] == len(messages) and row["processing_by"] is None
    time.sleep(0.5)
    assert len(gateway_sim.client.messages()) == len(messages)  # still nothing while paused

    response, _ = act(acme.key, queue_id, "resume")
    assert response.status_code == 200
    run_sender_until_idle()
    numbers = [m["number"] for m in gateway_sim.client.messages()]
    assert len(numbers) == len(set(numbers)) == CONTACTS
    assert queue_row(queue_id)["status"] == "completed"


def test_cancel_mid_queue_leaves_no_pending_contact_and_the_queue_cancelled(
    acme: TenantSetup, gateway_sim: Any
) -> None:
    queue_id = create_queue(client("send"), acme.key, CONTACTS, kind="notification")
    purge_all()
    sender = start_sender(queue_id)
    wait_for_messages(gateway_sim, 2)
    response, acknowledged_at = act(acme.key, queue_id, "cancel")
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    sender.join(timeout=30)
    assert not sender.is_alive()
    messages = gateway_sim.client.messages()
    assert len([m for m in messages if m["received_wall"] > acknowledged_at]) <= 1
    statuses = contact_statuses(queue_id)
    assert set(statuses) <= {"sent", "cancelled"}, statuses
    row = queue_row(queue_id)
    assert row["status"] == "cancelled"
    assert (row["sent"], row["cancelled"]) == (statuses.get("sent", 0), statuses["cancelled"])
    assert row["sent"] == len(messages) and row["sent"] + row["cancelled"] == CONTACTS
