"""The replies inbox (docs/api.md, "Replies inbox"): customers who wrote back, their messages, closing them.

A conversation is one customer (phone) on one of the tenant's WhatsApp numbers. The webhook opens it
and counts an unread message for every customer message; closing it (an operator answered, or there is
nothing to do) resets the count. A reminder never closes a conversation with unread messages.

Each route costs one statement per page whatever the tenant's size: conversations come most recent
first from ``ix_conversation_tenant_last`` with, per row, the last customer message and the invoices
and queues whose reminders reached that phone from that number (the 20 latest); messages come in chat
order from ``ix_message_conversation``. Inbox data spans every reminder type, so a key limited to some
types may not read it (403); a read-only key reads but does not close.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from billing.contract.inbox import (
    ConversationItem,
    ConversationPage,
    ConversationQuery,
    MessageItem,
    MessagePage,
)
from billing.contract.queues import Actor
from billing.errors import NotFoundError, PermissionDeniedError, ValidationFailedError
from billing.logs import mask_phone
from billing.services.audit import audit_entry

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MESSAGES_LIMIT = 100
_NOT_FOUND = "conversation not found"
_STATES = ("open", "closed", "all")

_ITEM = """
SELECT cv.id, cv.phone, cv.is_open, cv.unread, cv.last_message_at, cv.last_inbound_at, wi.name AS instance,
       lm.body AS last_inbound_text, ref.name, ref.invoices, ref.queues
  FROM conversations cv
  JOIN whatsapp_instances wi ON wi.id = cv.instance_id
  LEFT JOIN LATERAL (
       SELECT m.body FROM messages m
        WHERE m.conversation_id = cv.id AND m.direction = 'in'
        ORDER BY m.created_at DESC LIMIT 1) lm ON true
  LEFT JOIN LATERAL (
       SELECT (array_agg(x.name ORDER BY x.sent_at DESC NULLS LAST) FILTER (WHERE x.name IS NOT NULL))[1] AS name,
              array_agg(DISTINCT x.invoice_id) FILTER (WHERE x.invoice_id IS NOT NULL) AS invoices,
              array_agg(DISTINCT x.queue_id::text) FILTER (WHERE x.queue_id IS NOT NULL) AS queues
         FROM (SELECT c.name, c.invoice_id, c.queue_id, c.sent_at
                 FROM billing_contacts c JOIN billing_queues q ON q.id = c.queue_id
                WHERE c.tenant_id = cv.tenant_id AND c.phone = cv.phone AND q.instance_id = cv.instance_id
                  AND c.status = 'sent'
                ORDER BY c.sent_at DESC NULLS LAST LIMIT 20) x) ref ON true
"""
_LIST = sa.text(
    _ITEM
    + """
 WHERE cv.tenant_id = :tenant_id
   AND (:state = 'all' OR cv.is_open = (:state = 'open'))
   AND (CAST(:since AS timestamptz) IS NULL OR cv.last_message_at >= :since)
   AND (CAST(:after_at AS timestamptz) IS NULL OR (cv.last_message_at, cv.id) < (:after_at, :after_id))
   AND cv.last_message_at IS NOT NULL
 ORDER BY cv.last_message_at DESC, cv.id DESC
 LIMIT :limit
"""
)
_ONE = sa.text(_ITEM + " WHERE cv.id = :conversation_id AND cv.tenant_id = :tenant_id")
_MESSAGES = sa.text(
    """
    WITH cv AS (SELECT id FROM conversations WHERE id = :conversation_id AND tenant_id = :tenant_id)
    SELECT cv.id AS conversation_id, page.* FROM cv LEFT JOIN LATERAL (
        SELECT m.id, m.direction, m.body, m.status, m.created_at, c.invoice_id
          FROM messages m LEFT JOIN billing_contacts c ON c.id = m.contact_id
         WHERE m.conversation_id = cv.id
           AND (CAST(:after_at AS timestamptz) IS NULL OR (m.created_at, m.id) > (:after_at, :after_id))
         ORDER BY m.created_at, m.id LIMIT :limit) page ON true
     ORDER BY page.created_at, page.id
    """
)
_CLOSE = sa.text(
    """
    UPDATE conversations
       SET is_open = false, unread = 0, closed_at = CASE WHEN is_open THEN :now ELSE closed_at END
     WHERE id = :conversation_id AND tenant_id = :tenant_id
    RETURNING id, is_open, phone
    """
)


def _invalid(param: str, detail: str) -> ValidationFailedError:
    return ValidationFailedError(detail, [{"loc": ["query", param], "msg": detail}])


def _encode(at: datetime, row_id: uuid.UUID | str) -> str:
    return base64.urlsafe_b64encode(f"k1:{at.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> tuple[datetime | None, uuid.UUID | None]:
    if cursor is None:
        return None, None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if not text.startswith("k1:"):
            raise ValueError(text)
        at, _, row_id = text[3:].partition("|")
        return datetime.fromisoformat(at), uuid.UUID(row_id)
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise _invalid("cursor", "invalid cursor: pass back the next_cursor of a previous page") from exc


def _limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not 1 <= int(raw) <= maximum:
        raise _invalid("limit", f"limit must be a whole number from 1 to {maximum}")
    return int(raw)


def parse_conversation_query(
    *, state: str | None, since: str | None, cursor: str | None, limit: str | None
) -> ConversationQuery:
    """The inbox's query parameters; every mistake is a precise 422."""
    chosen = state or "open"
    if chosen not in _STATES:
        raise _invalid("state", "state must be open, closed or all")
    when = None
    if since is not None:
        try:
            when = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except (ValueError, UnicodeError) as exc:
            raise _invalid("since", "since must be an ISO 8601 date-time with an offset or Z") from exc
        if when.tzinfo is None:
            raise _invalid("since", "since must be an ISO 8601 date-time with an offset or Z")
    _decode(cursor)
    return ConversationQuery(
        state=chosen,  # type: ignore[arg-type]  # checked against _STATES above
        since=when,
        cursor=cursor,
        limit=_limit(limit, DEFAULT_LIMIT, MAX_LIMIT),
    )


def require_inbox(actor: Actor) -> None:
    if actor.template_types is not None:
        raise PermissionDeniedError(
            "this API key is limited to some reminder types; the replies inbox spans all of them"
        )


def _item(row: Any) -> ConversationItem:
    return ConversationItem(
        id=str(row.id),
        phone=row.phone,
        name=row.name,
        instance=row.instance,
        state="open" if row.is_open else "closed",
        unread=int(row.unread),
        last_inbound_text=row.last_inbound_text,
        last_inbound_at=row.last_inbound_at,
        last_message_at=row.last_message_at,
        invoices=sorted(row.invoices or []),
        queues=sorted(row.queues or []),
    )


def list_conversations(query: ConversationQuery, *, actor: Actor, session: Session) -> ConversationPage:
    """One page of the tenant's conversations, most recent first. One statement."""
    require_inbox(actor)
    after_at, after_id = _decode(query.cursor)
    rows = (
        session.connection()
        .execute(
            _LIST,
            {
                "tenant_id": actor.tenant_id,
                "state": query.state,
                "since": query.since,
                "after_at": after_at,
                "after_id": after_id,
                "limit": query.limit + 1,
            },
        )
        .all()
    )
    items = [_item(row) for row in rows[: query.limit]]
    more = len(rows) > query.limit
    last = rows[query.limit - 1] if more else None
    return ConversationPage(items, _encode(last.last_message_at, last.id) if last is not None else None)


def _conversation_id(raw: str | uuid.UUID) -> uuid.UUID:
    try:
        return raw if isinstance(raw, uuid.UUID) else uuid.UUID(raw)
    except ValueError as exc:
        raise NotFoundError(_NOT_FOUND) from exc


def conversation_messages(
    conversation_ref: str | uuid.UUID, *, cursor: str | None, limit: str | None, actor: Actor, session: Session
) -> MessagePage:
    """A conversation's messages in chat order (oldest first), a page at a time. One statement."""
    require_inbox(actor)
    conversation_id = _conversation_id(conversation_ref)
    after_at, after_id = _decode(cursor)
    size = _limit(limit, MESSAGES_LIMIT, MAX_LIMIT)
    rows = (
        session.connection()
        .execute(
            _MESSAGES,
            {
                "conversation_id": conversation_id,
                "tenant_id": actor.tenant_id,
                "after_at": after_at,
                "after_id": after_id,
                "limit": size + 1,
            },
        )
        .all()
    )
    if not rows:
        raise NotFoundError(_NOT_FOUND)
    found = [row for row in rows if row.id is not None]
    items = [
        MessageItem(
            id=str(row.id),
            direction=row.direction,
            text=row.body,
            status=row.status,
            created_at=row.created_at,
            invoice_id=row.invoice_id,
        )
        for row in found[:size]
    ]
    last = found[size - 1] if len(found) > size else None
    return MessagePage(items, _encode(last.created_at, last.id) if last is not None else None)


def close_conversation(
    conversation_ref: str | uuid.UUID, *, actor: Actor, session: Session, now: datetime
) -> ConversationItem:
    """Close a conversation (its unread count back to 0); closing a closed one is a no-op. The caller
    commits. Audited."""
    require_inbox(actor)
    conversation_id = _conversation_id(conversation_ref)
    keys = {"conversation_id": conversation_id, "tenant_id": actor.tenant_id}
    closed = session.execute(_CLOSE, {**keys, "now": now}).first()
    if closed is None:
        raise NotFoundError(_NOT_FOUND)
    session.add(audit_entry(actor, "conversation.close", conversation_id=str(conversation_id)))
    row = session.execute(_ONE, keys).one()
    logger.info(
        "conversation closed",
        extra={"action": "inbox.closed", "conversation_id": str(conversation_id), "phone": mask_phone(row.phone)},
    )
    return _item(row)
