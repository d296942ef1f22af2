"""The replies inbox (docs/api.md, "Replies inbox"): a customer's answer to a reminder is in the inbox one request
after the webhook, a reminder never closes a conversation with an unread message, closing resets it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from billing.adapters.broker import set_publisher
from billing.services.tenants import forget_tenant
from billing.testing import InMemoryBroker
from support.ops_factories import STATUS, client
from support.send_factories import headers
from support.webhook_factories import PHONE, World, make_queue, make_world, post, rows, upsert, webhook_client
from test_sender_processes import finish_in_process

CONVERSATIONS = "/api/v1/billing/conversations"


@pytest.fixture
def world(database_url: str, sim: Any) -> Iterator[World]:
    set_publisher(InMemoryBroker())
    built = make_world(gateway_url=sim.base_url)
    built.register(sim.client)
    yield built
    set_publisher(None)
    forget_tenant()


@pytest.fixture
def reads() -> Any:
    return client("status")


@pytest.fixture
def writes() -> Any:
    return client("control")


def inbox(reads: Any, key: str, query: str = "") -> Any:
    answer = reads.get(CONVERSATIONS + query, headers=headers(key))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_a_reply_to_a_reminder_is_in_the_inbox_with_its_invoice_and_the_queue_counts_it(
    world: World, reads: Any
) -> None:
    webhook = webhook_client()
    sent_at = datetime.now(UTC) - timedelta(hours=1)
    queue_id = make_queue(
        world, [{"provider_message_id": "3EB0A", "sent_at": sent_at, "invoice_id": "NF-7", "name": "Maria"}]
    )
    assert inbox(reads, world.key)["items"] == []
    assert post(webhook, world, upsert("Já paguei, segue o comprovante")).status_code == 200
    [item] = inbox(reads, world.key)["items"]  # the very next request sees it
    assert (item["phone"], item["name"], item["instance"], item["state"]) == (PHONE, "Maria", "loja-centro", "open")
    assert (item["unread"], item["last_inbound_text"]) == (1, "Já paguei, segue o comprovante")
    assert item["invoices"] == ["NF-7"] and item["queues"] == [str(queue_id)]
    assert item["last_inbound_at"].endswith("Z")
    messages = reads.get(f"{CONVERSATIONS}/{item['id']}/messages", headers=headers(world.key)).get_json()
    assert [(m["direction"], m["text"], m["invoice_id"]) for m in messages["items"]] == [
        ("in", "Já paguei, segue o comprovante", "NF-7")
    ]
    status = reads.get(STATUS.format(queue_id), headers=headers(world.key)).get_json()
    assert (status["replied"], status["opted_out"]) == (1, 0)
    post(webhook, world, upsert("Obrigada"))
    assert inbox(reads, world.key)["items"][0]["unread"] == 2
    status = reads.get(STATUS.format(queue_id), headers=headers(world.key)).get_json()
    assert status["replied"] == 1  # a contact counts once


def test_a_reminder_never_closes_a_conversation_with_an_unread_message_and_closing_resets_it(
    world: World, reads: Any, writes: Any
) -> None:
    webhook = webhook_client()
    make_queue(world, [{"provider_message_id": "3EB0B", "sent_at": datetime.now(UTC) - timedelta(hours=2)}])
    post(webhook, world, upsert("Tenho uma dúvida sobre a fatura"))
    later = make_queue(world, [{}], sent=False)
    assert finish_in_process(later) == "completed"  # a new reminder to the same phone goes out
    [item] = inbox(reads, world.key)["items"]
    assert item["state"] == "open" and item["unread"] == 1  # still waiting for an answer
    closed = writes.post(f"{CONVERSATIONS}/{item['id']}/close", headers=headers(world.key))
    assert closed.status_code == 200 and (closed.get_json()["state"], closed.get_json()["unread"]) == ("closed", 0)
    again = writes.post(f"{CONVERSATIONS}/{item['id']}/close", headers=headers(world.key))
    assert again.status_code == 200  # a no-op
    assert inbox(reads, world.key)["items"] == []
    assert [i["id"] for i in inbox(reads, world.key, "?state=closed")["items"]] == [item["id"]]
    chat = reads.get(f"{CONVERSATIONS}/{item['id']}/messages", headers=headers(world.key)).get_json()["items"]
    assert [m["direction"] for m in chat] == ["in", "out"]  # the customer's question, then the reminder
    assert [r.action for r in rows("SELECT action FROM audit_entries")] == ["conversation.close"] * 2


def test_an_opt_out_after_a_reminder_counts_on_its_queue(world: World, reads: Any) -> None:
    webhook = webhook_client()
    queue_id = make_queue(world, [{"provider_message_id": "3EB0C", "sent_at": datetime.now(UTC)}])
    post(webhook, world, upsert("SAIR"))
    status = reads.get(STATUS.format(queue_id), headers=headers(world.key)).get_json()
    assert (status["replied"], status["opted_out"]) == (1, 1)


def test_pages_filters_and_bad_parameters(world: World, reads: Any) -> None:
    webhook = webhook_client()
    for i in range(5):
        jid = f"55119700000{i:02d}@s.whatsapp.net"
        post(webhook, world, upsert(f"mensagem {i}", jid=jid, key_id=f"K{i}"))
    first = inbox(reads, world.key, "?limit=2")
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = inbox(reads, world.key, f"?limit=2&cursor={first['next_cursor']}")
    third = inbox(reads, world.key, f"?limit=2&cursor={second['next_cursor']}")
    texts = [i["last_inbound_text"] for page in (first, second, third) for i in page["items"]]
    assert texts == [f"mensagem {i}" for i in (4, 3, 2, 1, 0)] and third["next_cursor"] is None
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert inbox(reads, world.key, f"?since={future}")["items"] == []
    for query, param in (
        ("?state=new", "state"),
        ("?since=yesterday", "since"),
        ("?limit=0", "limit"),
        ("?cursor=x", "cursor"),
    ):
        answer = reads.get(CONVERSATIONS + query, headers=headers(world.key))
        assert answer.status_code == 422 and answer.get_json()["errors"][0]["loc"] == ["query", param], query


def test_another_tenant_sees_nothing_a_typed_key_is_403_and_a_read_only_key_cannot_close(
    world: World, reads: Any, writes: Any
) -> None:
    from billing.db.engine import unit_of_work
    from billing.services import admin

    post(webhook_client(), world, upsert("Oi"))
    [item] = inbox(reads, world.key)["items"]
    other = make_world("globex")
    assert inbox(reads, other.key)["items"] == []
    for answer in (
        reads.get(f"{CONVERSATIONS}/{item['id']}/messages", headers=headers(other.key)),
        writes.post(f"{CONVERSATIONS}/{item['id']}/close", headers=headers(other.key)),
        reads.get(f"{CONVERSATIONS}/not-a-uuid/messages", headers=headers(world.key)),
    ):
        assert answer.status_code == 404 and answer.get_json()["detail"] == "conversation not found"
    with unit_of_work() as uow:
        tenant = admin.resolve_tenant(world.tenant_name, session=uow.session)
        _, typed = admin.create_api_key(tenant, session=uow.session, name="avisos", types=["notification"])
        _, reader = admin.create_api_key(tenant, session=uow.session, name="painel", read_only=True)
        uow.commit()
    assert reads.get(CONVERSATIONS, headers=headers(typed)).status_code == 403
    assert len(inbox(reads, reader)["items"]) == 1
    assert writes.post(f"{CONVERSATIONS}/{item['id']}/close", headers=headers(reader)).status_code == 403
