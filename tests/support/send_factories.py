"""Factories for the send function's tests: a tenant with an instance and a key, apps, bodies."""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from support.factories import World, make_world

SECRET = os.environ.get("BILLING_SECRET_KEY", "test-secret-key-0123456789abcdef")
SEND = "/api/v1/billing/send/{}"
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
TZ = ZoneInfo("America/Sao_Paulo")


TenantSetup = World  # the send tests read ``.key`` and ``.name``


def make_tenant(
    name: str = "acme", *, rate_limit: int = 10_000, types: list[str] | None = None, **config: Any
) -> World:
    """A committed tenant (default templates, a default instance ``loja-centro``) and an API key."""
    return make_world(name=name, gateway_token="k", rate_limit=rate_limit, types=types, **config)


def send_client() -> Any:
    from functions_framework import create_app

    app = create_app(target="send", source="functions/send/main.py")
    return app.test_client()


def today() -> date:
    return datetime.now(TZ).date()


def contact(i: int = 0, *, kind: str = "overdue", **overrides: Any) -> dict[str, Any]:
    due = today() - timedelta(days=5) if kind == "overdue" else today() + timedelta(days=3)
    body: dict[str, Any] = {
        "phone": f"+55 11 9{8000_0000 + i:08d}",
        "name": f"Cliente {i}",
        "due_date": due.isoformat(),
        "amount": "150.90",
        "invoice_id": f"NF-{i}",
        "payment_link": "https://pagar.exemplo.com.br/abc",
    }
    if kind == "notification":
        body = {"phone": body["phone"], "name": body["name"], "variables": {"mensagem": "Sua conta mudou."}}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def batch(n: int, *, kind: str = "overdue", **top: Any) -> dict[str, Any]:
    return {"contacts": [contact(i, kind=kind) for i in range(n)], **top}


def headers(key: str, **extra: str) -> dict[str, str]:
    return {"X-Billing-API-Key": key, **extra}


def get_token(queue: str, timeout: float = 5.0) -> tuple[Any, bytes]:
    """The next message on ``queue`` (properties, body), or AssertionError."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        channel = connection.channel()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is not None:
                return properties, body
            time.sleep(0.05)
    finally:
        connection.close()
    raise AssertionError(f"no token on {queue}")


def queue_depth(queue: str) -> int:
    """Messages waiting on ``queue``; 0 when nothing ever declared it."""
    import pika
    import pika.exceptions

    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == 404:
            return 0
        raise
    finally:
        connection.close()
