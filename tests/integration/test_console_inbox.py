"""The console's inbox: who answered a reminder, their conversation (oldest first, times in the tenant's
zone), closing it (audited with the operator), and what a viewer, another tenant or a hostile request gets."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from billing.db.engine import get_engine, unit_of_work
from support.console import ConsoleClient, signed_in
from support.factories import World
from support.sql import recorded_statements
from support.webhook_factories import PHONE, make_queue, make_world, post, rows, upsert, webhook_client

INBOX = "/console/inbox"


@pytest.fixture
def world(database_url: str, broker: Any) -> Iterator[World]:
    from billing.services.tenants import forget_tenant

    yield make_world()
    forget_tenant()


def text_of(answer: Any) -> str:
    return str(answer.get_data(as_text=True))


def conversation_id(world: World, phone: str = PHONE) -> str:
    [row] = rows("SELECT id FROM conversations WHERE tenant_id = :t AND phone = :p", t=world.tenant_id, p=phone)
    return str(row.id)


def conversation_state(conversation: str) -> tuple[bool, int]:
    [row] = rows("SELECT is_open, unread FROM conversations WHERE id = :id", id=conversation)
    return bool(row.is_open), int(row.unread)


def closes_audited() -> list[Any]:
    return rows(
        "SELECT tenant_id, details->>'operator' AS operator, details->>'conversation_id' AS conversation_id "
        "FROM audit_entries WHERE action = 'conversation.close' ORDER BY created_at"
    )


def answered(world: World, *texts: str, invoice: str = "NF-7", name: str = "Maria") -> tuple[uuid.UUID, str]:
    """A reminder sent to PHONE for ``invoice``, then the customer's answers through the real webhook."""
    queue_id = make_queue(
        world,
        [{"provider_message_id": "3EB0" + uuid.uuid4().hex[:8], "sent_at": datetime.now(UTC), "invoice_id": invoice,
          "name": name}],
    )  # fmt: skip
    webhook = webhook_client()
    for text in texts:
        assert post(webhook, world, upsert(text)).status_code == 200
    return queue_id, conversation_id(world)


def seed_conversations(world: World, count: int, *, start: int = 0) -> None:
    """``count`` open conversations with one customer message each, straight into the tables."""
    base = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    with unit_of_work() as uow:
        for i in range(start, start + count):
            conversation, at = uuid.uuid4(), base + timedelta(minutes=i)
            uow.session.execute(
                sa.text(
                    "INSERT INTO conversations (id, tenant_id, instance_id, phone, is_open, unread, last_message_at,"
                    " last_inbound_at) VALUES (:id, :t, :i, :p, true, 1, :at, :at)"
                ),
                {"id": conversation, "t": world.tenant_id, "i": world.instance_id, "p": f"+5511966{i:06d}", "at": at},
            )
            uow.session.execute(
                sa.text(
                    "INSERT INTO messages (id, tenant_id, conversation_id, direction, body, created_at) "
                    "VALUES (:id, :t, :c, 'in', :body, :at)"
                ),
                {"id": uuid.uuid4(), "t": world.tenant_id, "c": conversation, "body": f"pergunta {i}", "at": at},
            )
        uow.commit()


def test_the_inbox_lists_who_answered_with_what_reminded_them_and_the_conversation_reads_oldest_first(
    world: World,
) -> None:
    queue_id, conversation = answered(world, "Já paguei, segue o comprovante", "Obrigada <b>pela</b> ajuda")
    [contact] = rows("SELECT id FROM billing_contacts WHERE queue_id = :q", q=queue_id)
    [campaign] = rows(
        "SELECT c.external_id FROM billing_campaigns c JOIN billing_queues q ON q.campaign_id = c.id WHERE q.id = :q",
        q=queue_id,
    )
    with unit_of_work() as uow:  # the reminder itself, as the sender records it (15:00 UTC = 12:00 in São Paulo)
        uow.session.execute(
            sa.text(
                "INSERT INTO messages (id, tenant_id, conversation_id, contact_id, direction, body, status, created_at)"
                " VALUES (:id, :t, :c, :contact, 'out', 'Olá Maria, sua fatura NF-7 venceu', 'read', :at)"
            ),
            {"id": uuid.uuid4(), "t": world.tenant_id, "c": conversation, "contact": contact.id,
             "at": datetime(2024, 3, 10, 15, 0, tzinfo=UTC)},
        )  # fmt: skip
        uow.commit()
    console = signed_in("ana@acme.com.br", role="viewer", tenant_id=world.tenant_id)

    page = console.get(INBOX)
    html = text_of(page)
    assert page.status_code == 200
    assert f'data-conversation-row="{conversation}"' in html and f'href="/console/inbox/{conversation}"' in html
    assert "Maria" in html and PHONE in html and "NF-7" in html
    assert f'<a href="/console/queues/{queue_id}">{campaign.external_id}</a>' in html
    assert "Obrigada &lt;b&gt;pela&lt;/b&gt; ajuda" in html and "<b>pela</b>" not in html  # escaped
    assert '<strong class="unread">2</strong>' in html
    assert 'aria-current="page"' in html and 'href="/console/inbox" aria-current="page"' in html

    chat = console.get(f"{INBOX}/{conversation}")
    html = text_of(chat)
    assert chat.status_code == 200
    reminder = html.index("Olá Maria, sua fatura NF-7 venceu")
    assert reminder < html.index("Já paguei, segue o comprovante") < html.index("Obrigada &lt;b&gt;pela")
    assert "10/03/2024 12:00" in html  # the tenant's zone, not UTC
    assert "Lembrete enviado" in html and "fatura NF-7 · lida" in html and "sobre a fatura NF-7" in html
    assert f'href="/console/queues/{queue_id}"' in html
    assert "Encerrar conversa" not in html  # a viewer reads only


def test_closing_a_conversation_is_audited_with_the_operator_and_leaves_the_open_list(world: World) -> None:
    _, conversation = answered(world, "Tenho uma dúvida")
    console = signed_in("bia@acme.com.br", role="operator", tenant_id=world.tenant_id)
    page = text_of(console.get(f"{INBOX}/{conversation}"))
    assert f'action="/console/inbox/{conversation}/close"' in page and "Encerrar conversa" in page

    answer = console.post(f"{INBOX}/{conversation}/close")
    assert answer.status_code == 303 and answer.headers["Location"] == "/console/inbox?msg=closed"
    assert conversation_state(conversation) == (False, 0)
    [audit] = closes_audited()
    assert (audit.tenant_id, audit.operator, audit.conversation_id) == (
        world.tenant_id,
        "console:bia@acme.com.br",
        conversation,
    )
    listed = text_of(console.get(answer.headers["Location"]))
    assert "Conversa encerrada." in listed and conversation not in listed
    assert f'data-conversation-row="{conversation}"' in text_of(console.get(f"{INBOX}?state=closed"))
    assert f'data-conversation-row="{conversation}"' in text_of(console.get(f"{INBOX}?state=all"))
    assert "Encerrar conversa" not in text_of(console.get(f"{INBOX}/{conversation}"))  # already closed


def test_a_viewer_may_not_close_and_a_post_without_the_csrf_token_changes_nothing(world: World) -> None:
    _, conversation = answered(world, "Oi")
    viewer = signed_in("vera@acme.com.br", role="viewer", tenant_id=world.tenant_id)
    viewer.get(f"{INBOX}/{conversation}")
    assert viewer.post(f"{INBOX}/{conversation}/close").status_code == 403
    operator = signed_in("otto@acme.com.br", role="operator", tenant_id=world.tenant_id)
    operator.get(f"{INBOX}/{conversation}")
    refused = operator.post(f"{INBOX}/{conversation}/close", csrf=False)
    assert refused.status_code == 403 and "Formulário expirado" in text_of(refused)
    forged = operator.post(f"{INBOX}/{conversation}/close", {"csrf_token": "x" * 40})
    assert forged.status_code == 403
    assert conversation_state(conversation) == (True, 1) and closes_audited() == []


def test_another_tenants_conversation_does_not_exist_here(world: World) -> None:
    other = make_world("outra")
    _, theirs = answered(other, "Mensagem da outra empresa")
    console = signed_in("ana@acme.com.br", role="admin", tenant_id=world.tenant_id)
    assert console.get(f"{INBOX}/{theirs}").status_code == 404
    assert "Mensagem da outra empresa" not in text_of(console.get(f"{INBOX}?state=all"))
    assert console.post(f"{INBOX}/{theirs}/close").status_code == 404
    assert conversation_state(theirs) == (True, 1) and closes_audited() == []


def test_hostile_input_gets_a_4xx_page(world: World) -> None:
    _, conversation = answered(world, "Oi")
    console = signed_in("ana@acme.com.br", role="operator", tenant_id=world.tenant_id)
    for path, status in (
        (f"{INBOX}/not-a-uuid", 404),
        (f"{INBOX}/{'9' * 5000}", 404),
        (f"{INBOX}?cursor={'A' * 20000}", 422),
        (f"{INBOX}?cursor=bm90LWEtY3Vyc29y", 422),
        (f"{INBOX}?cursor=%00%ff", 422),
        (f"{INBOX}?state=%3Cscript%3Ealert(1)%3C/script%3E", 422),
        (f"{INBOX}/{conversation}?cursor={'Z' * 300}", 422),
        (f"{INBOX}/{conversation}?cursor=%E2%98%83", 422),
        (f"{INBOX}/{uuid.uuid4()}", 404),
    ):
        answer = console.get(path)
        assert answer.status_code == status, (path, answer.status_code)
        assert "<script>alert(1)" not in text_of(answer)
    console.get(INBOX)
    assert console.post(f"{INBOX}/not-a-uuid/close").status_code == 404
    assert console.post(f"{INBOX}/{uuid.uuid4()}/close").status_code == 404
    assert console.post(f"{INBOX}/{conversation}/close", {"x": "y" * 70_000}).status_code == 413
    assert conversation_state(conversation) == (True, 1)


def test_the_inbox_pages_at_a_constant_number_of_statements(world: World) -> None:
    seed_conversations(world, 1)
    console = signed_in("ana@acme.com.br", role="viewer", tenant_id=world.tenant_id)
    with recorded_statements(get_engine()) as statements:
        assert console.get(INBOX).status_code == 200
    small = len(statements)
    seed_conversations(world, 55, start=1)
    with recorded_statements(get_engine()) as statements:
        first = console.get(INBOX)
    assert first.status_code == 200 and len(statements) == small
    html = text_of(first)
    assert html.count("data-conversation-row=") == 50 and "pergunta 55" in html and "pergunta 5<" not in html
    cursor = html.split("cursor=", 1)[1].split('"', 1)[0]
    second = text_of(console.get(f"{INBOX}?state=open&cursor={cursor}"))
    assert second.count("data-conversation-row=") == 6 and "pergunta 0" in second and "Mais antigas" not in second


def test_signed_out_visitors_are_sent_to_sign_in(world: World) -> None:
    answer = ConsoleClient().get(INBOX)
    assert answer.status_code == 303 and "/console/login" in answer.headers["Location"]


def test_a_long_conversation_pages_its_messages_at_a_constant_number_of_statements(world: World) -> None:
    _, conversation = answered(world, "mensagem inicial")
    console = signed_in("ana@acme.com.br", role="viewer", tenant_id=world.tenant_id)
    with recorded_statements(get_engine()) as statements:
        assert console.get(f"{INBOX}/{conversation}").status_code == 200
    small = len(statements)
    base = datetime.now(UTC) + timedelta(minutes=1)
    with unit_of_work() as uow:
        uow.session.execute(
            sa.text(
                "INSERT INTO messages (id, tenant_id, conversation_id, direction, body, created_at) "
                "VALUES (:id, :t, :c, 'in', :body, :at)"
            ),
            [
                {"id": uuid.uuid4(), "t": world.tenant_id, "c": conversation, "body": f"linha {i:03d}",
                 "at": base + timedelta(seconds=i)}
                for i in range(120)
            ],
        )  # fmt: skip
        uow.commit()
    with recorded_statements(get_engine()) as statements:
        first = text_of(console.get(f"{INBOX}/{conversation}"))
    assert len(statements) == small
    assert first.count("data-message=") == 100 and "mensagem inicial" in first and "linha 098" in first
    assert "linha 099" not in first and "Mensagens seguintes" in first
    cursor = first.split("?cursor=", 1)[1].split('"', 1)[0]
    second = text_of(console.get(f"{INBOX}/{conversation}?cursor={cursor}"))
    assert second.count("data-message=") == 21 and "linha 099" in second and "linha 119" in second
    assert "Primeiras mensagens" in second and "Mensagens seguintes" not in second
