"""Claim-before-publish: the one way control and the sweeper hand a queue's work token to RabbitMQ.

A caller first *claims* a queue by setting ``published_at`` in a guarded UPDATE (only one transaction
can win it) and commits; only then is the token published. When the broker refuses, the claim is
released (``published_at`` back to NULL, guarded by the claim's stamp) so the sweeper's unpublished
step retries it on a later tick. Two sweepers therefore never publish the same queue twice in a tick.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from billing.adapters.broker import Publisher, Token, queue_for_type, queue_names
from billing.db.engine import UnitOfWork
from billing.errors import BrokerUnavailableError

logger = logging.getLogger(__name__)

# Columns every claiming UPDATE returns, so a row maps onto ``Claimed``.
CLAIM_RETURNING = "RETURNING id, tenant_id, priority, template_type, started_at"


def claim_returning(alias: str) -> str:
    """``CLAIM_RETURNING`` for an UPDATE whose table is aliased (needed when it joins other rows)."""
    return "RETURNING " + ", ".join(
        f"{alias}.{c}" for c in ("id", "tenant_id", "priority", "template_type", "started_at")
    )


_UNCLAIM = sa.text("UPDATE billing_queues SET published_at = NULL WHERE id = ANY(:ids) AND published_at = :stamp")


@dataclass(frozen=True)
class Claimed:
    queue_id: uuid.UUID
    tenant_id: uuid.UUID
    priority: int
    template_type: str
    started: bool

    @classmethod
    def from_row(cls, row: Any) -> Claimed:
        return cls(row.id, row.tenant_id, int(row.priority), row.template_type, row.started_at is not None)

    @property
    def target(self) -> str:
        # A queue that never sent goes to its type's queue (priority by type); anything else resumes.
        return queue_names().resume if self.started else queue_for_type(self.template_type)


@dataclass(frozen=True)
class PublishResult:
    published: list[uuid.UUID]
    unclaimed: list[uuid.UUID]


def publish_claimed(
    claimed: Sequence[Claimed], *, reason: str, stamp: datetime, publisher: Publisher, uow: UnitOfWork
) -> PublishResult:
    """Publish one token per claimed queue (claims already committed); on the first broker failure
    give back the rest, committing that in ``uow``."""
    published: list[uuid.UUID] = []
    failed: list[uuid.UUID] = []
    for index, item in enumerate(claimed):
        token = Token(kind="queue", queue_id=str(item.queue_id), tenant_id=str(item.tenant_id), reason=reason)
        try:
            publisher.publish(item.target, token, priority=item.priority)
        except BrokerUnavailableError as exc:
            # The broker is down: every later publish would wait for the same timeout.
            failed = [c.queue_id for c in claimed[index:]]
            logger.warning(
                "broker unavailable; %d queue(s) left for the next sweep",
                len(failed),
                extra={"action": "publish.deferred", "reason": reason, "error": str(exc), "count": len(failed)},
            )
            break
        published.append(item.queue_id)
    if failed:
        uow.session.execute(_UNCLAIM, {"ids": failed, "stamp": stamp})
        uow.commit()
    return PublishResult(published, failed)
