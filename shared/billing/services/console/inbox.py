"""What the console's inbox pages read and do.

``inbox_page``: one page of the tenant's conversations (``list_conversations``, one statement) and the
labels of the queues that reminded those customers (one more statement for the whole page).
``conversation_page``: one conversation (who, on which number, the invoices and queues that reminded
them: one statement) and one page of its messages in chat order (``conversation_messages``, one
statement). ``close``: ``close_conversation`` (which audits it with the operator) and the commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session

from billing.contract.inbox import ConversationItem, MessageItem
from billing.contract.queues import Actor
from billing.db.engine import UnitOfWork
from billing.errors import NotFoundError, ValidationFailedError
from billing.services.inbox.conversations import (
    close_conversation,
    conversation_messages,
    list_conversations,
    parse_conversation_query,
    require_inbox,
)

PAGE = 50
MESSAGES_PAGE = 100
MAX_CURSOR = 200  # a cursor we made is ~90 characters; anything longer is not one of ours
STATES = {"open": "abertas", "closed": "encerradas", "all": "todas"}
_BAD_CURSOR = "página inválida: volte ao início da lista"

_QUEUE_LABELS = sa.text(
    """
    SELECT q.id, c.external_id, q.template_type
      FROM billing_queues q JOIN billing_campaigns c ON c.id = q.campaign_id
     WHERE q.tenant_id = :tenant_id AND q.id = ANY(CAST(:ids AS uuid[]))
    """
)
# The conversation with the invoices and queues whose reminders reached that phone from that number
# (the 20 latest, as in the inbox list), each queue with its batch's external id.
_HEADER = sa.text(
    """
    SELECT cv.id, cv.phone, cv.is_open, cv.unread, cv.closed_at, cv.last_message_at, cv.last_inbound_at,
           wi.name AS instance, ref.name, ref.invoices, ref.queues
      FROM conversations cv
      JOIN whatsapp_instances wi ON wi.id = cv.instance_id
      LEFT JOIN LATERAL (
           SELECT (array_agg(x.name ORDER BY x.sent_at DESC NULLS LAST) FILTER (WHERE x.name IS NOT NULL))[1] AS name,
                  array_agg(DISTINCT x.invoice_id) FILTER (WHERE x.invoice_id IS NOT NULL) AS invoices,
                  json_agg(DISTINCT jsonb_build_object('id', x.queue_id, 'label', x.external_id,
                                                       'type', x.template_type)) AS queues
             FROM (SELECT c.name, c.invoice_id, c.queue_id, c.sent_at, camp.external_id, q.template_type
                     FROM billing_contacts c
                     JOIN billing_queues q ON q.id = c.queue_id
                     JOIN billing_campaigns camp ON camp.id = q.campaign_id
                    WHERE c.tenant_id = cv.tenant_id AND c.phone = cv.phone AND q.instance_id = cv.instance_id
                      AND c.status = 'sent'
                    ORDER BY c.sent_at DESC NULLS LAST LIMIT 20) x) ref ON true
     WHERE cv.id = :conversation_id AND cv.tenant_id = :tenant_id
    """
)


@dataclass(frozen=True)
class QueueLink:
    """A queue that reminded a customer, named by its batch's external id."""

    id: str
    label: str
    template_type: str | None = None


@dataclass(frozen=True)
class ConversationRow:
    item: ConversationItem
    queues: list[QueueLink]


@dataclass(frozen=True)
class InboxPage:
    rows: list[ConversationRow]
    next_cursor: str | None
    state: str


@dataclass(frozen=True)
class ConversationHeader:
    id: str
    phone: str
    name: str | None
    instance: str
    state: Literal["open", "closed"]
    unread: int
    closed_at: datetime | None
    last_message_at: datetime | None
    last_inbound_at: datetime | None
    invoices: list[str]
    queues: list[QueueLink]


@dataclass(frozen=True)
class ConversationDetail:
    conversation: ConversationHeader
    messages: list[MessageItem]
    next_cursor: str | None
    paged: bool  # this is a later page of the messages (a cursor was given)


def _cursor(raw: str | None) -> str | None:
    if not raw:
        return None
    if len(raw) > MAX_CURSOR:
        raise ValidationFailedError(_BAD_CURSOR)
    return raw


def _state(raw: str | None) -> str:
    state = raw or "open"
    if state not in STATES:
        raise ValidationFailedError(f"situação desconhecida: {state[:40]!r} (abertas, encerradas ou todas)")
    return state


def _queue_labels(ids: set[str], *, tenant_id: uuid.UUID, session: Session) -> dict[str, QueueLink]:
    if not ids:
        return {}
    rows = session.execute(_QUEUE_LABELS, {"tenant_id": tenant_id, "ids": sorted(ids)}).all()
    return {str(r.id): QueueLink(str(r.id), r.external_id or str(r.id)[:8], r.template_type) for r in rows}


def inbox_page(*, state: str | None, cursor: str | None, actor: Actor, session: Session) -> InboxPage:
    """One page of the tenant's conversations, most recent first: two statements whatever its size."""
    chosen = _state(state)
    try:
        query = parse_conversation_query(state=chosen, since=None, cursor=_cursor(cursor), limit=str(PAGE))
    except ValidationFailedError as exc:
        raise ValidationFailedError(_BAD_CURSOR) from exc
    page = list_conversations(query, actor=actor, session=session)
    labels = _queue_labels({q for item in page.items for q in item.queues}, tenant_id=actor.tenant_id, session=session)
    rows = [ConversationRow(item, [labels.get(q, QueueLink(q, q[:8])) for q in item.queues]) for item in page.items]
    return InboxPage(rows, page.next_cursor, chosen)


def _links(raw: Any) -> list[QueueLink]:
    found = [QueueLink(str(q["id"]), q["label"] or str(q["id"])[:8], q["type"]) for q in raw or [] if q["id"]]
    return sorted(found, key=lambda link: link.label)


def conversation_page(
    conversation_id: uuid.UUID, *, cursor: str | None, actor: Actor, session: Session
) -> ConversationDetail:
    """One conversation and a page of its messages, oldest first: two statements."""
    require_inbox(actor)
    given = _cursor(cursor)
    row = session.execute(_HEADER, {"conversation_id": conversation_id, "tenant_id": actor.tenant_id}).first()
    if row is None:
        raise NotFoundError("conversation not found")
    try:
        page = conversation_messages(
            conversation_id, cursor=given, limit=str(MESSAGES_PAGE), actor=actor, session=session
        )
    except ValidationFailedError as exc:
        raise ValidationFailedError(_BAD_CURSOR) from exc
    header = ConversationHeader(
        id=str(row.id),
        phone=row.phone,
        name=row.name,
        instance=row.instance,
        state="open" if row.is_open else "closed",
        unread=int(row.unread),
        closed_at=row.closed_at,
        last_message_at=row.last_message_at,
        last_inbound_at=row.last_inbound_at,
        invoices=sorted(row.invoices or []),
        queues=_links(row.queues),
    )
    return ConversationDetail(header, page.items, page.next_cursor, given is not None)


def close(conversation_id: uuid.UUID, *, actor: Actor, uow: UnitOfWork, now: datetime) -> ConversationItem:
    """Close the conversation (``close_conversation`` audits it with the operator) and commit."""
    item = close_conversation(conversation_id, actor=actor, session=uow.session, now=now)
    uow.commit()
    return item
