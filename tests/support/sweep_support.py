"""The real pieces the sweeper tests wire together: RabbitMQ queues read with pika, the sender run on
the tokens found there (a minimal connector), the simulator as the gateway."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


@dataclass
class OffsetClock:
    """The real clock shifted by ``offset`` (a sweep "a minute later" without waiting)."""

    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        from billing.clock import SYSTEM_CLOCK

        return SYSTEM_CLOCK.now() + self.offset

    def monotonic(self) -> float:
        import time

        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        import time

        time.sleep(max(seconds, 0))


@contextmanager
def channel() -> Iterator[Any]:
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        ch = conn.channel()
        from billing.adapters.topology import declare_topology

        declare_topology(ch)
        yield ch
    finally:
        conn.close()


def take(queue: str) -> list[Any]:
    """Remove and return every token waiting on ``queue`` (acknowledged)."""
    from billing.adapters.broker import Token

    tokens = []
    with channel() as ch:
        while True:
            method, _props, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                return tokens
            tokens.append(Token.from_bytes(body))


def purge_all() -> None:
    from billing.adapters.broker import queue_names

    with channel() as ch:
        for queue in queue_names().work:
            ch.queue_purge(queue)


def sender_tokens() -> list[Any]:
    from billing.adapters.broker import queue_names

    return [t for q in queue_names().sender for t in take(q)]


def run_sender_until_idle(max_rounds: int = 20) -> int:
    """Take every token on the sender queues and serve the due slots (a token is only a hint: one
    invocation per batch of tokens), until no token is left; returns how many tokens were taken."""
    from billing.services.delivery.sender import serve

    handled = 0
    for _ in range(max_rounds):
        tokens = sender_tokens()
        if not tokens:
            return handled
        serve()
        handled += len(tokens)
    raise AssertionError("the sender never went idle")


def point_instance_at(sim: Any, tenant_name: str, instance: str = "loja-centro") -> None:
    """Create ``instance`` in the simulator and point the tenant's instance row at it."""
    from billing.db.engine import unit_of_work
    from billing.services import admin

    token = sim.client.add_instance(instance)["token"]
    secret = os.environ.get("BILLING_SECRET_KEY", "test-secret-key-0123456789abcdef")
    with unit_of_work() as uow:
        tenant = admin.resolve_tenant(tenant_name, session=uow.session)
        row = admin.resolve_instance(tenant, instance, session=uow.session)
        admin.update_instance(row, session=uow.session, secret_key=secret, url=sim.base_url, api_key=token)
        uow.commit()
