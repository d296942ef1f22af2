"""Builders shared by the webhook tests: Evolution v2 payload shapes, a tenant with one instance, and
queues in the states the webhook meets (already sent, with provider ids; or still pending).

Shapes: envelope from webhook.controller.ts; ``messages.upsert`` from issues #2466/#1764 (incoming,
``fromMe: false``, status DELIVERY_ACK); ``messages.update`` from issue #2010 (``keyId``, ``messageId``);
``connection.update`` from baileys.service.ts (``wuid``, ``profileName``, ``statusReason``).
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from billing.db.engine import unit_of_work

from support import factories
from support.factories import World

WEBHOOK_SOURCE = Path(__file__).resolve().parents[2] / "functions" / "webhook" / "main.py"
SECRET_HEADER = "X-Billing-Webhook-Secret"
PHONE = "+5511988887777"
JID = "5511988887777@s.whatsapp.net"


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


def make_world(name: str = "acme", *, gateway_url: str = "http://127.0.0.1:9", api_key: str = "tok") -> World:
    """A tenant whose instance authenticates webhooks with a fresh secret."""
    return factories.make_world(
        name=name, gateway_url=gateway_url, gateway_token=api_key, webhook_secret=secrets.token_urlsafe(24)
    )


def make_queue(
    world: World, contacts: list[dict[str, Any]], *, instance_id: uuid.UUID | None = None, sent: bool = True
) -> uuid.UUID:
    """A committed notification queue of ``contacts``, each dict overriding that contact's fields.

    ``sent=True``: what the webhook usually meets, a ``running`` queue whose contacts were already sent
    (give them ``provider_message_id`` and ``sent_at``). ``sent=False``: a ``pending`` queue the sender
    has yet to start, its contacts ``pending`` and rendered today (so the sender sends them as they are).
    """
    defaults: dict[str, Any] = {
        "phone": PHONE,
        "status": "sent" if sent else "pending",
        "message": "Olá",
        "rendered_on": date(2026, 11, 30) if sent else date.today(),
    }
    return factories.make_queue(
        None,
        world,
        len(contacts),
        status="running" if sent else "pending",
        instance_id=instance_id,
        overrides=[defaults | fields for fields in contacts],
        counters={"sent": len(contacts)} if sent else None,
    )


def closed_conversation(world: World, phone: str = PHONE) -> None:
    """A closed billing conversation with ``phone``, as the sender leaves it after a reminder."""
    with unit_of_work() as uow:
        uow.session.execute(
            sa.text(
                "INSERT INTO conversations (id, tenant_id, instance_id, phone, is_open, closed_at) "
                "VALUES (:id, :t, :i, :p, false, now())"
            ),
            {"id": uuid.uuid4(), "t": world.tenant_id, "i": world.instance_id, "p": phone},
        )
        uow.commit()


def rows(sql: str, **params: Any) -> list[Any]:
    with unit_of_work() as uow:
        return list(uow.session.execute(sa.text(sql), params).all())


def webhook_client() -> Any:
    from functions_framework import create_app

    return create_app("webhook", str(WEBHOOK_SOURCE)).test_client()


def post(client: Any, world: World, body: Any, *, secret: str | None = None, path: str | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", SECRET_HEADER: world.secret if secret is None else secret}
    return client.post(path or world.path, data=raw, headers=headers)

