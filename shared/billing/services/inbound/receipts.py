"""Delivery receipts (``messages.update``) onto billing contacts: monotonic, counted once.

Every receipt is first recorded in ``webhook_receipts`` (unique on tenant, key id, status): a copy the
gateway retried is recognised there and changes nothing. The contact's level is then recomputed from
*all* receipts recorded for its message, so the order they arrive in does not matter, and a receipt that
came before the sender had stored the message id is caught up by the next one (or by
``catch_up_receipts``). The contact row is locked while its level moves, so the queue's ``delivered`` and
``read`` counters grow exactly once per contact even when two receipts race.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session

from billing.contract.gateway_events import Receipt
from billing.db.models import WebhookReceipt
from billing.domain import receipts as levels
from billing.domain.receipts import ReceiptLevel

logger = logging.getLogger(__name__)

_CONTACT = sa.text(
    "SELECT id, queue_id, delivery_status FROM billing_contacts "
    "WHERE tenant_id = :tenant AND provider_message_id = :key ORDER BY sent_at DESC NULLS LAST LIMIT 1 "
    "FOR UPDATE"
)
_RECORDED = sa.text("SELECT status FROM webhook_receipts WHERE tenant_id = :tenant AND provider_message_id = :key")
_ADVANCE_CONTACT = sa.text(
    "UPDATE billing_contacts SET delivery_status = :label, "
    "delivered_at = CASE WHEN :delivered THEN COALESCE(delivered_at, :now) ELSE delivered_at END, "
    "read_at = CASE WHEN :read THEN COALESCE(read_at, :now) ELSE read_at END, updated_at = :now "
    "WHERE id = :id"
)
_COUNT = sa.text("UPDATE billing_queues SET delivered = delivered + :d, read = read + :r WHERE id = :queue")
_HISTORY = sa.text(
    "UPDATE messages SET status = :label WHERE tenant_id = :tenant AND provider_message_id = :key AND direction = 'out'"
)


@dataclass(frozen=True)
class ReceiptOutcome:
    duplicate: bool
    contact_id: uuid.UUID | None = None
    before: ReceiptLevel = ReceiptLevel.NONE
    after: ReceiptLevel = ReceiptLevel.NONE

    @property
    def advanced(self) -> bool:
        return self.after > self.before


def record_once(tenant_id: uuid.UUID, key_id: str, status: str, *, session: Session, now: datetime) -> bool:
    """Record one gateway event (message key id, status); False when the gateway already sent it."""
    stmt: Any = (
        insert(WebhookReceipt)
        .values(id=uuid.uuid4(), tenant_id=tenant_id, provider_message_id=key_id, status=status, received_at=now)
        .on_conflict_do_nothing(constraint="uq_webhook_receipt")
        .returning(sa.column("id"))
    )
    return session.execute(stmt).first() is not None


def record_receipt(tenant_id: uuid.UUID, receipt: Receipt, *, session: Session, now: datetime) -> ReceiptOutcome:
    """Record ``receipt`` once and move its contact forward. At most six statements."""
    if not record_once(tenant_id, receipt.key_id, receipt.status, session=session, now=now):
        return ReceiptOutcome(duplicate=True)
    return catch_up_receipts(tenant_id, receipt.key_id, session=session, now=now)


def catch_up_receipts(tenant_id: uuid.UUID, key_id: str, *, session: Session, now: datetime) -> ReceiptOutcome:
    """Apply every receipt recorded for ``key_id`` to its contact (if one exists yet).

    The sender may call this right after storing a message id, for receipts that overtook it.
    """
    contact = session.execute(_CONTACT, {"tenant": tenant_id, "key": key_id}).first()
    if contact is None:
        return ReceiptOutcome(duplicate=False)
    statuses = session.execute(_RECORDED, {"tenant": tenant_id, "key": key_id}).scalars().all()
    step = levels.advance(contact.delivery_status, statuses)
    if not step.moved:
        return ReceiptOutcome(duplicate=False, contact_id=contact.id, before=step.before, after=step.before)
    best = step.after
    session.execute(
        _ADVANCE_CONTACT,
        {"label": best.label, "delivered": step.delivered, "read": step.read, "now": now, "id": contact.id},
    )
    if step.newly_delivered or step.newly_read:
        session.execute(_COUNT, {"d": step.newly_delivered, "r": step.newly_read, "queue": contact.queue_id})
    session.execute(_HISTORY, {"label": best.label, "tenant": tenant_id, "key": key_id})
    logger.info(
        "delivery receipt applied",
        extra={
            "action": "webhook.receipt",
            "contact_id": str(contact.id),
            "queue_id": str(contact.queue_id),
            "delivery_status": best.label,
        },
    )
    return ReceiptOutcome(duplicate=False, contact_id=contact.id, before=step.before, after=best)
