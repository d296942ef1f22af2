"""The sender's use case: lease a queue, then send its contacts one by one, safely and at a safe pace.

Entry: ``handle(token)`` (the sender function) or ``deliver_queue(queue_id, deps=...)`` (tests, bench).
The loop itself lives in ``billing.services.delivery_run``; this module wires dependencies, claims the
lease and publishes continuations. See docs/sender.md for the status and parking conventions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from billing.adapters.broker import Publisher, Token, get_publisher, queue_names
from billing.adapters.evolution import GatewayConfig, HealthState, SendOutcome, get_client
from billing.clock import SYSTEM_CLOCK, Clock
from billing.config import Settings, get_settings
from billing.crypto import decrypt_secret
from billing.db import claims
from billing.errors import BrokerUnavailableError, DatabaseUnavailableError
from billing.services import shutdown

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

logger = logging.getLogger(__name__)


class Gateway(Protocol):
    def send_text(
        self, phone_e164: str, text: str, *, retry: bool = True, delay_ms: int | None = None
    ) -> SendOutcome: ...

    def check_health(self) -> HealthState: ...


def evolution_gateway(queue: claims.ClaimedQueue, settings: Settings) -> Gateway:
    """The pooled Evolution client of the queue's instance (API key decrypted, never logged)."""
    api_key = decrypt_secret(queue.api_key_encrypted, secret_key=settings.billing_secret_key.get_secret_value())
    return get_client(
        GatewayConfig(
            base_url=queue.gateway_url,
            instance=queue.gateway_instance,
            api_key=api_key,
            api_version=queue.api_version,
            connect_timeout_s=settings.gateway_connect_timeout_s,
            read_timeout_s=settings.gateway_read_timeout_s,
            typing_delay_ms=settings.gateway_typing_delay_ms,
        )
    )


def _worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


@dataclass
class SenderDeps:
    settings: Settings = field(default_factory=get_settings)
    clock: Clock = SYSTEM_CLOCK
    publisher: Callable[[], Publisher] = get_publisher
    gateway: Callable[[claims.ClaimedQueue, Settings], Gateway] = evolution_gateway
    rng: random.Random = field(default_factory=random.Random)
    stop_requested: Callable[[], bool] = shutdown.shutdown_requested
    worker_id: str = field(default_factory=_worker_id)


@dataclass(frozen=True)
class DeliveryResult:
    """``outcome``: not_claimed, completed, continued, parked, stopped; ``status``: the queue's afterwards."""

    outcome: str
    status: str | None = None
    sent: int = 0
    processed: int = 0
    reason: str | None = None


@contextlib.contextmanager
def connection() -> Iterator[Connection]:
    """One connection for the whole invocation (no pool checkout per message); short transactions on it."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from billing.db.engine import get_engine

    try:
        with get_engine().connect() as conn:
            yield conn
    except (OperationalError, DBAPIError) as exc:
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            raise DatabaseUnavailableError("database unavailable") from exc
        raise


def deliver_queue(queue_id: uuid.UUID, *, deps: SenderDeps | None = None) -> DeliveryResult:
    """Claim the queue's lease and work on it until done, parked, out of budget or told to stop."""
    from billing.services.delivery_run import DeliveryRun

    deps = deps or SenderDeps()
    lease_token = f"{deps.worker_id}:{uuid.uuid4().hex[:12]}"
    with shutdown.in_flight(), connection() as conn:
        now = deps.clock.now()
        with conn.begin():
            queue = claims.claim_queue(
                conn,
                queue_id=queue_id,
                token=lease_token,
                now=now,
                lease_until=now + timedelta(seconds=deps.settings.lease_s),
            )
        if queue is None:
            logger.info(
                "queue not claimable (live lease, not runnable, or unknown)",
                extra={"action": "sender.not_claimed", "queue_id": str(queue_id)},
            )
            return DeliveryResult("not_claimed")
        logger.info("queue claimed", extra={"action": "sender.claimed", "queue_id": queue.id})
        run = DeliveryRun(conn, queue, lease_token, deps, deps.gateway(queue, deps.settings))
        result = run.run()
    if result.status == "pending" and result.outcome in {"continued", "stopped"}:
        publish_continuation(queue, deps=deps)
    logger.info(
        "sender finished: %s",
        result.outcome,
        extra={
            "action": "sender.finished",
            "queue_id": queue.id,
            "outcome": result.outcome,
            "status": result.status,
            "sent": result.sent,
            "processed": result.processed,
            "reason": result.reason,
        },
    )
    return result


def publish_continuation(queue: claims.ClaimedQueue, *, deps: SenderDeps) -> bool:
    """Wake a sender for the rest of the queue; on failure the row stays unpublished for the sweeper."""
    token = Token(kind="queue", queue_id=queue.id, tenant_id=queue.tenant_id, reason="continuation")
    try:
        deps.publisher().publish(queue_names().resume, token, priority=queue.priority)
    except BrokerUnavailableError as exc:
        logger.warning(
            "continuation not published; the sweeper will: %s",
            exc,
            extra={"action": "sender.continuation_failed", "queue_id": queue.id},
        )
        return False
    with connection() as conn, conn.begin():
        claims.mark_published(conn, queue_id=queue.id, now=deps.clock.now())
    return True


def handle(token: Token) -> bool:
    """The sender function's service: True = handled (2xx). Database trouble raises (503, redelivery)."""
    if token.kind != "queue" or not token.queue_id:
        logger.info("token ignored", extra={"action": "sender.ignored", "token_id": token.id, "kind": token.kind})
        return True
    try:
        queue_id = uuid.UUID(token.queue_id)
    except ValueError:
        logger.warning("token with a malformed queue id", extra={"action": "sender.bad_token", "token_id": token.id})
        return True
    deliver_queue(queue_id)
    return True
