"""End to end: the simulator sends receipts and replies over HTTP to the webhook function served by a
real WSGI server; the rows, the queue counters and the status answer follow (issue 9, items 2 and 3)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from billing.adapters.evolution import EvolutionClient, GatewayConfig
from billing.config import get_settings
from billing.db.engine import unit_of_work
from billing.services.queues.status import queue_status
from billing.sim.server import SimulatorHandle
from billing.testing import InMemoryBroker
from support.delivery import deliver as deliver_queue
from support.webhook_factories import (
    PHONE,
    SECRET_HEADER,
    World,
    closed_conversation,
    make_queue,
    make_world,
    rows,
    webhook_client,
)
from support.wsgi import serving

TOKEN = "instance-token-1"
OTHER_PHONE = "+5511977776666"


@pytest.fixture
def webhook_server(database_url: str) -> Iterator[str]:
    """The webhook function behind a real HTTP server in a thread (as functions-framework would serve it)."""
    with serving(webhook_client().application) as url:
        yield url


@pytest.fixture
def world(webhook_server: str, sim: SimulatorHandle) -> World:
    from billing.adapters.broker import set_publisher

    set_publisher(InMemoryBroker())
    built = make_world(gateway_url=sim.base_url, api_key=TOKEN)
    sim.client.add_instance(
        "loja-centro",
        TOKEN,
        webhook_url=webhook_server + built.path,
        webhook_headers={SECRET_HEADER: built.secret},
        webhook_ack_delay_ms=100,
    )
    yield built  # type: ignore[misc]
    set_publisher(None)


def pending_queue(world: World, phones: list[str]) -> uuid.UUID:
    return make_queue(world, [{"phone": p, "message": f"Olá, lembrete {i}"} for i, p in enumerate(phones)], sent=False)


def wait_for(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def counters(queue_id: uuid.UUID) -> tuple[int, int]:
    [(delivered, read)] = rows("SELECT delivered, read FROM billing_queues WHERE id = :q", q=queue_id)
    return delivered, read


def status_counts(world: World, queue_id: uuid.UUID) -> tuple[int, int]:
    with unit_of_work() as uow:
        body = queue_status(queue_id, tenant_id=world.tenant_id, session=uow.session, now=datetime.now(UTC))
    return body.delivered, body.read


def send_like_the_sender(world: World, sim: SimulatorHandle, queue_id: uuid.UUID) -> None:
    """Gateway send + the sender's record, for when the real sender is not wanted in the test."""
    client = EvolutionClient(GatewayConfig(sim.base_url, "loja-centro", TOKEN))
    try:
        for contact_id, phone, text in rows(
            "SELECT id, phone, message FROM billing_contacts WHERE queue_id = :q ORDER BY position", q=queue_id
        ):
            outcome = client.send_text(phone, text, retry=False)
            with unit_of_work() as uow:
                uow.session.execute(
                    sa.text(
                        "UPDATE billing_contacts SET status = 'sent', sent_at = now(), "
                        "provider_message_id = :m, remote_jid = :j WHERE id = :id"
                    ),
                    {"m": outcome.message_id, "j": outcome.remote_jid, "id": contact_id},
                )
                uow.commit()
    finally:
        client.close()


def test_receipts_from_the_gateway_show_up_as_delivered_and_read_counts(world: World, sim: SimulatorHandle) -> None:
    queue_id = pending_queue(world, [PHONE, OTHER_PHONE])
    send_like_the_sender(world, sim, queue_id)
    wait_for(lambda: counters(queue_id) == (2, 2))
    assert status_counts(world, queue_id) == (2, 2)
    statuses = rows("SELECT delivery_status, delivered_at IS NOT NULL, read_at IS NOT NULL FROM billing_contacts")
    assert [tuple(r) for r in statuses] == [("read", True, True)] * 2
    deliveries = sim.client.webhooks()
    assert len(deliveries) == 6 and {d["http_status"] for d in deliveries} == {200}


def test_a_simulated_reply_reopens_the_conversation(world: World, sim: SimulatorHandle) -> None:
    queue_id = pending_queue(world, [PHONE])
    send_like_the_sender(world, sim, queue_id)
    closed_conversation(world)
    answer = sim.client.reply("loja-centro", PHONE.lstrip("+"), "já paguei")
    assert answer["http_status"] == 200
    assert rows("SELECT is_open FROM conversations") == [(True,)]
    assert rows("SELECT body FROM messages WHERE direction = 'in'") == [("já paguei",)]
    assert rows("SELECT count(*) FROM billing_contacts WHERE replied_at IS NOT NULL")[0][0] == 1


def _real_sender() -> Any:
    return pytest.importorskip("billing.services.delivery.sender", reason="the sender has not landed")


def test_with_the_real_sender_an_opted_out_phone_is_skipped_and_the_rest_is_delivered_and_read(
    world: World, sim: SimulatorHandle
) -> None:
    deliver = _real_sender()
    sim.client.reply("loja-centro", OTHER_PHONE.lstrip("+"), "Párar")
    assert rows("SELECT phone FROM suppressions") == [(OTHER_PHONE,)]
    queue_id = pending_queue(world, [PHONE, OTHER_PHONE])
    broker = InMemoryBroker()
    deps = deliver.SenderDeps(
        settings=get_settings().model_copy(update={"pacing_disabled": True}),
        publisher=lambda: broker,
        stop_requested=lambda: False,
    )
    result = deliver_queue(queue_id, deps=deps)
    assert result.status == "completed"
    status = dict(rows("SELECT phone, status FROM billing_contacts"))
    assert status == {PHONE: "sent", OTHER_PHONE: "skipped"}
    sent = sim.client.messages()
    reminders = [m["number"] for m in sent if not m["text"].startswith("Pronto")]
    confirmations = [m["number"] for m in sent if m["text"].startswith("Pronto")]
    assert reminders == [PHONE.lstrip("+")] and confirmations == [OTHER_PHONE.lstrip("+")]
    wait_for(lambda: counters(queue_id) == (1, 1))
    assert status_counts(world, queue_id) == (1, 1)
    # The sender closed the billing conversation it wrote; the customer's answer opens it again.
    assert rows("SELECT is_open FROM conversations WHERE phone = :p", p=PHONE) == [(False,)]
    sim.client.reply("loja-centro", PHONE.lstrip("+"), "ok, obrigado")
    assert rows("SELECT is_open FROM conversations WHERE phone = :p", p=PHONE) == [(True,)]


def test_a_configured_confirmation_reaches_the_customer_through_the_gateway(world: World, sim: SimulatorHandle) -> None:
    from billing.services import admin
    from billing.services.tenants import forget_tenant

    with unit_of_work() as uow:
        tenant = admin.resolve_tenant("acme", session=uow.session)
        admin.set_config(tenant, session=uow.session, opt_out_confirmation="Pronto, não enviaremos mais.")
        uow.commit()
    forget_tenant()
    assert sim.client.reply("loja-centro", PHONE.lstrip("+"), "STOP")["http_status"] == 200
    assert [(m["number"], m["text"]) for m in sim.client.messages()] == [
        (PHONE.lstrip("+"), "Pronto, não enviaremos mais.")
    ]
    assert rows("SELECT direction FROM messages ORDER BY created_at") == [("in",), ("out",)]


def test_a_phone_that_opted_out_by_webhook_is_rejected_at_ingest(world: World, sim: SimulatorHandle) -> None:
    from functions_framework import create_app

    sim.client.reply("loja-centro", OTHER_PHONE.lstrip("+"), "cancelar")
    send = create_app("send", str(Path(__file__).resolve().parents[2] / "functions" / "send" / "main.py"))
    body = {"contacts": [{"phone": "+55 11 97777-6666", "name": "Ana"}, {"phone": PHONE, "name": "Maria"}]}
    headers = {"X-Billing-API-Key": world.key}
    answer = send.test_client().post("/api/v1/billing/send/notification", json=body, headers=headers)
    assert answer.status_code == 202, answer.get_data(as_text=True)
    result = answer.get_json()
    assert result["accepted"] == 1
    [rejected] = result["rejected"]
    assert rejected["index"] == 0 and "opted out" in " ".join(rejected["errors"])
