"""A customer's message (``messages.upsert``, not ``fromMe``): chat history, reopen, reply, opt-out.

Constant statements per message: dedupe insert, mark the latest billing contact replied (and count the
first reply on its queue), upsert (and reopen) the conversation with one more unread message, insert
the message, and on an opt-out keyword one suppression insert and one count on the queue.
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

from billing.contract.gateway_events import InboundMessage
from billing.db.models import Conversation, Message, WhatsAppInstance
from billing.domain.phones import normalize_phone
from billing.errors import InvalidPhoneError
from billing.logs import mask_phone
from billing.services.inbound.receipts import record_once
from billing.services.inbound.suppression import is_opt_out, suppress
from billing.services.tenants import load_tenant_runtime

logger = logging.getLogger(__name__)

INBOUND_RECEIPT = "INBOUND"  # the dedupe status of an inbound message (receipts use the gateway's)

# The customer answers the latest message we sent them from this instance; its queue counts a reply the
# first time (contact row, then queue row: the order dispatch locks them in).
_MARK_REPLIED = sa.text(
    """
    WITH target AS (
        SELECT c.id, c.queue_id, c.replied_at FROM billing_contacts c JOIN billing_queues q ON q.id = c.queue_id
        WHERE c.tenant_id = :tenant AND c.phone = :phone AND q.instance_id = :instance AND c.status = 'sent'
        ORDER BY c.sent_at DESC NULLS LAST, c.id DESC LIMIT 1
        FOR NO KEY UPDATE OF c
    ), marked AS (
        UPDATE billing_contacts SET replied_at = COALESCE(replied_at, :now), updated_at = :now
        WHERE id = (SELECT id FROM target)
        RETURNING id
    ), counted AS (
        UPDATE billing_queues SET replied = replied + 1, updated_at = :now
        WHERE id = (SELECT queue_id FROM target WHERE replied_at IS NULL)
        RETURNING id
    )
    SELECT id FROM marked
    """
)
# An opt-out that answers a reminder counts on that reminder's queue.
_COUNT_OPT_OUT = sa.text(
    "UPDATE billing_queues SET opted_out = opted_out + 1, updated_at = :now"
    " WHERE id = (SELECT queue_id FROM billing_contacts WHERE id = :contact_id)"
)


@dataclass(frozen=True)
class InboundOutcome:
    duplicate: bool = False
    ignored: str | None = None
    phone: str | None = None
    conversation_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    opted_out: bool = False
    newly_suppressed: bool = False
    confirmation: str | None = None  # text to send back after commit


def _phone(message: InboundMessage) -> str | None:
    if message.phone_digits is None:
        return None
    try:
        return normalize_phone("+" + message.phone_digits)
    except InvalidPhoneError:
        return None


def _open_conversation(instance: WhatsAppInstance, phone: str, *, session: Session, now: datetime) -> uuid.UUID:
    stmt: Any = insert(Conversation).values(
        id=uuid.uuid4(),
        tenant_id=instance.tenant_id,
        instance_id=instance.id,
        phone=phone,
        is_open=True,
        closed_at=None,
        last_message_at=now,
        unread=1,
        last_inbound_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        constraint="uq_conversation_phone",
        set_={
            "is_open": True,
            "closed_at": None,
            "last_message_at": now,
            "unread": Conversation.__table__.c.unread + 1,  # type: ignore[attr-defined]
            "last_inbound_at": now,
        },
    ).returning(sa.column("id"))
    conversation_id: uuid.UUID = session.execute(stmt).scalar_one()
    return conversation_id


def receive_message(
    instance: WhatsAppInstance, message: InboundMessage, *, session: Session, now: datetime
) -> InboundOutcome:
    phone = _phone(message)
    if phone is None:
        return InboundOutcome(ignored="sender is not a phone we can address (group, broadcast or hidden id)")
    if not record_once(instance.tenant_id, message.key_id, INBOUND_RECEIPT, session=session, now=now):
        return InboundOutcome(duplicate=True, phone=phone)
    params = {"now": now, "tenant": instance.tenant_id, "phone": phone, "instance": instance.id}
    contact_id = session.execute(_MARK_REPLIED, params).scalar()
    conversation_id = _open_conversation(instance, phone, session=session, now=now)
    session.execute(
        insert(Message).values(
            id=uuid.uuid4(),
            tenant_id=instance.tenant_id,
            conversation_id=conversation_id,
            contact_id=contact_id,
            direction="in",
            body=message.text,
            provider_message_id=message.key_id,
            status="received",
            created_at=now,
        )
    )
    config = load_tenant_runtime(instance.tenant_id, session=session).config
    opted_out = is_opt_out(message.text, config.opt_out_keywords)
    newly = opted_out and suppress(instance.tenant_id, phone, session=session)
    if newly and contact_id is not None:
        session.execute(_COUNT_OPT_OUT, {"contact_id": contact_id, "now": now})
    confirmation = config.opt_out_confirmation if newly and config.opt_out_confirmation else None
    logger.info(
        "customer message received",
        extra={
            "action": "webhook.opt_out" if opted_out else "webhook.reply",
            "instance_id": str(instance.id),
            "phone": mask_phone(phone),
            "replied_contact_id": str(contact_id) if contact_id else None,
            "newly_suppressed": newly,
        },
    )
    return InboundOutcome(
        phone=phone,
        conversation_id=conversation_id,
        contact_id=contact_id,
        opted_out=opted_out,
        newly_suppressed=newly,
        confirmation=confirmation,
    )
