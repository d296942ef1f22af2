"""The webhook function against real Postgres, with payloads shaped like Evolution v2 sends them
(the shapes and their sources: ``support/webhook_factories.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from billing.adapters.broker import set_publisher
from billing.db.engine import unit_of_work
from billing.domain.gateway import OutcomeKind, SendOutcome
from billing.services import admin
from billing.services.tenants import forget_tenant
from billing.testing import FakeGateway, InMemoryBroker
from support.webhook_factories import (
    JID,
    PHONE,
    World,
    closed_conversation,
    make_queue,
    make_world,
    post,
    rows,
    upsert,
    webhook_client,
)

# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
def broker() -> Iterator[InMemoryBroker]:
    memory = InMemoryBroker()
    set_publisher(memory)
    yield memory
    set_publisher(None)


@pytest.fixture
def world(database_url: str, broker: InMemoryBroker) -> Iterator[World]:
    built = make_world()
    yield built
    forget_tenant()


@pytest.fixture
def client(world: World) -> Any:
    return webhook_client()


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> FakeGateway:
    """Stands in for the Evolution client the opt-out confirmation goes through."""
    fake = FakeGateway()
    monkeypatch.setattr("billing.bootstrap.gateway_for", lambda instance, settings=None: fake)
    return fake



# --- replies ----------------------------------------------------------------------------------------


def test_a_reply_reopens_the_closed_conversation_and_marks_the_latest_sent_contact(client: Any, world: World) -> None:
    now = datetime.now(UTC)
    old = make_queue(world, [{"provider_message_id": "3EB0OLD", "sent_at": now - timedelta(days=3)}])
    new = make_queue(world, [{"provider_message_id": "3EB0NEW", "sent_at": now - timedelta(hours=1)}])
    rows_ = rows("SELECT id FROM billing_contacts WHERE queue_id = :q", q=new)
    closed_conversation(world)

    answer = post(client, world, upsert("Já paguei, segue o comprovante"))

    assert answer.status_code == 200 and answer.get_json()["status"] == "processed"
    [conv] = rows("SELECT is_open, closed_at, last_message_at FROM conversations")
    assert conv.is_open and conv.closed_at is None and conv.last_message_at is not None
    [msg] = rows("SELECT direction, body, contact_id, status FROM messages")
    assert (msg.direction, msg.body, msg.status) == ("in", "Já paguei, segue o comprovante", "received")
    assert msg.contact_id == rows_[0].id
    replied = {r.queue_id: r.replied_at for r in rows("SELECT queue_id, replied_at FROM billing_contacts")}
    assert replied[new] is not None and replied[old] is None


def test_a_first_reply_creates_the_conversation_and_a_retried_one_is_stored_once(client: Any, world: World) -> None:
    body = upsert("oi", key_id="3A554E20ECABF3D45BB2")
    assert post(client, world, body).get_json()["status"] == "processed"
    assert post(client, world, body).get_json()["status"] == "duplicate"
    assert rows("SELECT phone, is_open FROM conversations") == [(PHONE, True)]
    assert len(rows("SELECT id FROM messages")) == 1


def test_a_reply_from_a_twelve_digit_brazilian_jid_is_the_same_phone(client: Any, world: World) -> None:
    make_queue(world, [{"provider_message_id": "3EB0X", "sent_at": datetime.now(UTC)}])
    post(client, world, upsert("ok", jid="551188887777@s.whatsapp.net"))
    assert rows("SELECT phone FROM conversations") == [(PHONE,)]
    assert rows("SELECT count(*) FROM billing_contacts WHERE replied_at IS NOT NULL")[0][0] == 1


def test_a_hidden_lid_sender_uses_the_phone_jid_the_gateway_adds(client: Any, world: World) -> None:
    body = upsert("oi", jid="123456789012345@lid")
    body["data"]["key"]["remoteJidAlt"] = JID
    assert post(client, world, body).get_json()["status"] == "processed"
    assert rows("SELECT phone FROM conversations") == [(PHONE,)]


@pytest.mark.parametrize(
    ("jid", "from_me"),
    [(JID, True), ("120363025246125486@g.us", False), ("123456789012345@lid", False), ("status@broadcast", False)],
)
def test_own_messages_groups_and_unmappable_senders_are_ignored(
    client: Any, world: World, jid: str, from_me: bool
) -> None:
    answer = post(client, world, upsert("oi", jid=jid, from_me=from_me))
    assert answer.status_code == 200 and answer.get_json()["status"] == "ignored"
    assert rows("SELECT count(*) FROM messages")[0][0] == 0


# --- opt-out ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["PARAR", "parar", "Párar ", "SAIR", "sair", "STOP", "stop", "CANCELAR", "cancelar", "  Stop!\n"]
)
def test_each_default_keyword_suppresses_the_phone_and_confirms_it_once(
    client: Any, world: World, gateway: FakeGateway, text: str
) -> None:
    answer = post(client, world, upsert(text))
    assert answer.status_code == 200
    assert rows("SELECT phone, reason FROM suppressions") == [(PHONE, "opt-out keyword")]
    # A new tenant's default confirmation goes back once, and the chat history keeps it.
    [confirmation] = gateway.sent
    assert confirmation.phone == PHONE and confirmation.text.startswith("Pronto, você não receberá mais lembretes")
    assert rows("SELECT count(*) FROM messages WHERE direction = 'out'")[0][0] == 1
    post(client, world, upsert(text, key_id="again-" + text.strip()))
    assert len(gateway.sent) == 1  # already suppressed: not confirmed twice


@pytest.mark.parametrize("text", ["não quero parar", "stopp", "para", "cancelar o boleto?"])
def test_a_sentence_that_only_contains_a_keyword_does_not_opt_out(client: Any, world: World, text: str) -> None:
    post(client, world, upsert(text))
    assert rows("SELECT count(*) FROM suppressions")[0][0] == 0


def test_tenant_keywords_replace_the_defaults(client: Any, world: World) -> None:
    with unit_of_work() as uow:
        admin.set_config(
            admin.resolve_tenant("acme", session=uow.session), session=uow.session, opt_out_keywords=["DESCADASTRAR"]
        )
        uow.commit()
    forget_tenant()
    post(client, world, upsert("parar"))
    assert rows("SELECT count(*) FROM suppressions")[0][0] == 0
    post(client, world, upsert("Descadastrar"))
    assert rows("SELECT phone FROM suppressions") == [(PHONE,)]


def test_opting_out_twice_keeps_one_suppression(client: Any, world: World) -> None:
    post(client, world, upsert("PARAR"))
    post(client, world, upsert("sair"))
    assert rows("SELECT phone FROM suppressions") == [(PHONE,)]
    assert rows("SELECT count(*) FROM messages WHERE direction = 'in'")[0][0] == 2


def test_a_configured_confirmation_is_sent_once_and_kept_in_the_chat_history(
    client: Any, world: World, gateway: FakeGateway
) -> None:
    text = "Pronto, você não receberá mais lembretes."
    with unit_of_work() as uow:
        admin.set_config(
            admin.resolve_tenant("acme", session=uow.session), session=uow.session, opt_out_confirmation=text
        )
        uow.commit()
    forget_tenant()
    post(client, world, upsert("PARAR"))
    post(client, world, upsert("parar"))
    assert [(sent.phone, sent.text, sent.retry, sent.delay_ms) for sent in gateway.sent] == [(PHONE, text, False, 0)]
    history = rows("SELECT direction, body, provider_message_id FROM messages ORDER BY created_at, direction")
    assert ("out", text, "FAKE000001") in [tuple(r) for r in history]
    assert len(history) == 3


def test_a_confirmation_the_gateway_refuses_still_leaves_the_phone_suppressed(
    client: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = FakeGateway(SendOutcome(OutcomeKind.INSTANCE_DOWN, status_code=500, error="Connection Closed"))
    monkeypatch.setattr("billing.bootstrap.gateway_for", lambda instance, settings=None: down)
    with unit_of_work() as uow:
        admin.set_config(
            admin.resolve_tenant("acme", session=uow.session), session=uow.session, opt_out_confirmation="ok"
        )
        uow.commit()
    forget_tenant()
    assert post(client, world, upsert("STOP")).status_code == 200
    assert rows("SELECT phone FROM suppressions") == [(PHONE,)]
    assert rows("SELECT count(*) FROM messages WHERE direction = 'out'")[0][0] == 0
