"""The webhook function against real Postgres, with payloads shaped like Evolution v2 sends them.

Shapes: envelope from webhook.controller.ts; ``messages.upsert`` from issues #2466/#1764 (incoming,
``fromMe: false``, status DELIVERY_ACK); ``messages.update`` from issue #2010 (``keyId``, ``messageId``);
``connection.update`` from baileys.service.ts (``wuid``, ``profileName``, ``statusReason``).
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from billing.adapters.broker import set_publisher
from billing.adapters.evolution import OutcomeKind, SendOutcome
from billing.db.engine import unit_of_work
from billing.db.models import BillingCampaign, BillingContact, BillingQueue, Template, WhatsAppInstance
from billing.services import admin
from billing.services.tenants import forget_tenant
from billing.testing import InMemoryBroker

WEBHOOK_SOURCE = Path(__file__).resolve().parents[2] / "functions" / "webhook" / "main.py"
SECRET_HEADER = "X-Billing-Webhook-Secret"
PHONE = "+5511988887777"
JID = "5511988887777@s.whatsapp.net"


# --- builders shared by the webhook test modules ----------------------------------------------------


def envelope(event: str, data: Any, instance: str = "loja-centro") -> dict[str, Any]:
    return {
        "event": event,
        "instance": instance,
        "data": data,
        "destination": "https://billing.example.com/api/v1/billing/webhook/evolution/x",
        "date_time": "2026-11-30T12:00:00.000Z",
        "sender": "5511999990000@s.whatsapp.net",
        "server_url": "https://evo.example.com",
        "apikey": "8F1C1E2A-INSTANCE-TOKEN",
    }


def upsert(text: str, *, jid: str = JID, key_id: str | None = None, from_me: bool = False) -> dict[str, Any]:
    return envelope(
        "messages.upsert",
        {
            "key": {"remoteJid": jid, "fromMe": from_me, "id": key_id or "3A" + secrets.token_hex(9).upper()},
            "pushName": "Maria",
            "status": "DELIVERY_ACK",
            "message": {"conversation": text, "messageContextInfo": {"deviceListMetadata": {}}},
            "contextInfo": None,
            "messageType": "conversation",
            "messageTimestamp": 1764504000,
            "instanceId": "bae4c0de-0000-4000-8000-000000000001",
            "source": "android",
        },
    )


def update(key_id: str, status: str, *, jid: str = JID) -> dict[str, Any]:
    return envelope(
        "messages.update",
        {
            "keyId": key_id,
            "remoteJid": jid,
            "fromMe": True,
            "participant": None,
            "status": status,
            "instanceId": "2be09e30-0000-4000-8000-000000000002",
            "messageId": "cmfyoow42000hov4xwkdug3lv",
        },
    )


def connection(state: str, status_reason: int = 200) -> dict[str, Any]:
    data: dict[str, Any] = {"instance": "loja-centro", "state": state, "statusReason": status_reason}
    if state == "open":
        data |= {"wuid": "5511999990000@s.whatsapp.net", "profileName": "Loja", "profilePictureUrl": None}
    return envelope("connection.update", data)


@dataclass
class World:
    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    secret: str
    template_id: uuid.UUID

    @property
    def path(self) -> str:
        return f"/api/v1/billing/webhook/evolution/{self.instance_id}"


def make_world(name: str = "acme", *, gateway_url: str = "http://127.0.0.1:9", api_key: str = "tok") -> World:
    secret = secrets.token_urlsafe(24)
    with unit_of_work() as uow:
        tenant = admin.create_tenant(name, session=uow.session)
        inst = admin.add_instance(
            tenant,
            session=uow.session,
            name="loja-centro",
            url=gateway_url,
            api_key=api_key,
            secret_key="test-secret-key-0123456789abcdef",
            webhook_secret=secret,
        )
        template = uow.session.exec(sa.select(Template).where(Template.tenant_id == tenant.id)).first()  # type: ignore[call-overload]
        uow.commit()
        assert template is not None
        return World(tenant.id, inst.id, secret, template[0].id)


def make_queue(world: World, contacts: list[dict[str, Any]], *, instance_id: uuid.UUID | None = None) -> uuid.UUID:
    """A queue whose contacts were already sent (``status``, ``provider_message_id``, ``sent_at``)."""
    with unit_of_work() as uow:
        s = uow.session
        instance = instance_id or world.instance_id
        campaign = BillingCampaign(
            tenant_id=world.tenant_id,
            request_hash="0" * 64,
            template_id=world.template_id,
            instance_id=instance,
            template_type="notification",
            priority=1,
        )
        s.add(campaign)
        s.flush()
        queue = BillingQueue(
            tenant_id=world.tenant_id,
            campaign_id=campaign.id,
            instance_id=instance,
            template_type="notification",
            priority=1,
            status="running",
            total=len(contacts),
            sent=len(contacts),
        )
        s.add(queue)
        s.flush()
        for position, fields in enumerate(contacts):
            s.add(
                BillingContact(
                    tenant_id=world.tenant_id,
                    queue_id=queue.id,
                    position=position,
                    message="Olá",
                    rendered_on=date(2026, 11, 30),
                    **({"phone": PHONE, "status": "sent"} | fields),
                )
            )
        uow.commit()
        return queue.id


def rows(sql: str, **params: Any) -> list[Any]:
    with unit_of_work() as uow:
        return list(uow.session.execute(sa.text(sql), params).all())


def webhook_client() -> Any:
    from functions_framework import create_app

    return create_app("webhook", str(WEBHOOK_SOURCE)).test_client()


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


class RecordingGateway:
    """Stands in for the Evolution client the opt-out confirmation goes through."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def __call__(self, instance: WhatsAppInstance) -> RecordingGateway:
        return self

    def send_text(self, phone_e164: str, text: str, *, retry: bool = True, delay_ms: int | None = None) -> Any:
        self.sent.append((phone_e164, text))
        return SendOutcome(OutcomeKind.SENT, status_code=201, message_id="3EB0CONFIRM" + str(len(self.sent)))


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> RecordingGateway:
    fake = RecordingGateway()
    monkeypatch.setattr("billing.services.webhooks.gateway_for", fake)
    return fake


def post(client: Any, world: World, body: Any, *, secret: str | None = None, path: str | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", SECRET_HEADER: world.secret if secret is None else secret}
    return client.post(path or world.path, data=raw, headers=headers)


# --- replies ----------------------------------------------------------------------------------------


def test_a_reply_reopens_the_closed_conversation_and_marks_the_latest_sent_contact(client: Any, world: World) -> None:
    now = datetime.now(UTC)
    old = make_queue(world, [{"provider_message_id": "3EB0OLD", "sent_at": now - timedelta(days=3)}])
    new = make_queue(world, [{"provider_message_id": "3EB0NEW", "sent_at": now - timedelta(hours=1)}])
    rows_ = rows("SELECT id FROM billing_contacts WHERE queue_id = :q", q=new)
    with unit_of_work() as uow:
        uow.session.execute(
            sa.text(
                "INSERT INTO conversations (id, tenant_id, instance_id, phone, is_open, closed_at) "
                "VALUES (:id, :t, :i, :p, false, now())"
            ),
            {"id": uuid.uuid4(), "t": world.tenant_id, "i": world.instance_id, "p": PHONE},
        )
        uow.commit()

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
def test_each_default_keyword_suppresses_the_phone_and_sends_nothing(
    client: Any, world: World, gateway: RecordingGateway, text: str
) -> None:
    answer = post(client, world, upsert(text))
    assert answer.status_code == 200
    assert rows("SELECT phone, reason FROM suppressions") == [(PHONE, "opt-out keyword")]
    assert rows("SELECT count(*) FROM messages WHERE direction = 'out'")[0][0] == 0
    assert gateway.sent == []


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
    client: Any, world: World, gateway: RecordingGateway
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
    assert gateway.sent == [(PHONE, text)]
    history = rows("SELECT direction, body, provider_message_id FROM messages ORDER BY created_at, direction")
    assert ("out", text, "3EB0CONFIRM1") in [tuple(r) for r in history]
    assert len(history) == 3


def test_a_confirmation_the_gateway_refuses_still_leaves_the_phone_suppressed(
    client: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Down(RecordingGateway):
        def send_text(self, phone_e164: str, text: str, *, retry: bool = True, delay_ms: int | None = None) -> Any:
            return SendOutcome(OutcomeKind.INSTANCE_DOWN, status_code=500, error="Connection Closed")

    monkeypatch.setattr("billing.services.webhooks.gateway_for", Down())
    with unit_of_work() as uow:
        admin.set_config(
            admin.resolve_tenant("acme", session=uow.session), session=uow.session, opt_out_confirmation="ok"
        )
        uow.commit()
    forget_tenant()
    assert post(client, world, upsert("STOP")).status_code == 200
    assert rows("SELECT phone FROM suppressions") == [(PHONE,)]
    assert rows("SELECT count(*) FROM messages WHERE direction = 'out'")[0][0] == 0
