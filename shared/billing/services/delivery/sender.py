"""The sender's use case: lease a queue, then send its contacts one by one, safely and at a safe pace.

Entry: ``handle(token)`` (the sender function) or ``deliver_queue(queue_id, deps=...)`` (tests, bench).
The loop itself lives in ``run``, its dependencies in ``deps``; this module claims the lease and
publishes continuations. See docs/sender.md for the status and parking conventions.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from billing.adapters.broker import Token, queue_names
from billing.db import claims
from billing.errors import BrokerUnavailableError
from billing.services.delivery import shutdown
from billing.services.delivery.deps import DeliveryResult, SenderDeps, connection
from billing.services.delivery.run import DeliveryRun

logger = logging.getLogger(__name__)


def deliver_queue(queue_id: uuid.UUID, *, deps: SenderDeps | None = None) -> DeliveryResult:
    """Claim the queue's lease and work on it until done, parked, out of budget or told to stop."""
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
