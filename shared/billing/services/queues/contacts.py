"""Every contact of a queue, a page at a time (CONTRACT.md section 5: GET /queue/{id}/contacts).

One statement per page whatever the queue's size: the queue row (tenant isolation, the key's types)
and one keyset page of its contacts, by position. With statuses, each status is walked in position
order on ``ix_contact_queue_status_position`` and the walks are merged, so a page of the three
``unknown`` contacts among a million ``sent`` ones reads three rows; with an invoice, the invoice's
rows come from ``ix_contact_tenant_invoice``.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from billing.contract.queues import ContactItem, ContactPage, ContactQuery
from billing.domain.states import ContactStatus
from billing.errors import NotFoundError, PermissionDeniedError, ValidationFailedError
from billing.services.queues import cursors
from billing.services.queues.status import parse_queue_id

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_INVOICE_ID = 100
_CURSOR_PREFIX = "c1:"
_NOT_FOUND = "queue not found"
_COLUMNS = (
    "c.position, c.invoice_id, c.phone, c.name, c.status, c.attempts, c.last_error, c.provider_message_id,"
    " c.sent_at, c.delivered_at, c.read_at, c.replied_at"
)


_BY_STATUS = """
    SELECT p.* FROM unnest(CAST(:statuses AS text[])) AS s(status)
     CROSS JOIN LATERAL (
         SELECT __COLUMNS__ FROM billing_contacts c
          WHERE c.queue_id = q.id AND c.status = s.status AND c.position > :after __INVOICE__
          ORDER BY c.position LIMIT :limit) AS p
     ORDER BY p.position LIMIT :limit"""
_ALL = """
    SELECT __COLUMNS__ FROM billing_contacts c
     WHERE c.queue_id = q.id AND c.position > :after __INVOICE__
     ORDER BY c.position LIMIT :limit"""
_PAGE = """
WITH q AS (SELECT id, template_type FROM billing_queues WHERE id = :queue_id AND tenant_id = :tenant_id)
SELECT q.template_type, page.* FROM q LEFT JOIN LATERAL (__CONTACTS__) AS page ON true
 ORDER BY page.position"""
_BY_INVOICE = "AND c.invoice_id = :invoice_id AND c.tenant_id = :tenant_id"


def _statement(*, by_status: bool, by_invoice: bool) -> sa.TextClause:
    """The page query: the queue row joined to at most ``limit`` contacts after ``after`` (four fixed
    texts, put together once at import)."""
    contacts = (_BY_STATUS if by_status else _ALL).replace("__COLUMNS__", _COLUMNS)
    contacts = contacts.replace("__INVOICE__", _BY_INVOICE if by_invoice else "")
    return sa.text(_PAGE.replace("__CONTACTS__", contacts))


_STATEMENTS = {(s, i): _statement(by_status=s, by_invoice=i) for s in (False, True) for i in (False, True)}


def _invalid(field: str, message: str, detail: str) -> ValidationFailedError:
    return ValidationFailedError(detail, [{"loc": ["query", field], "msg": message}])


def decode_cursor(cursor: str | None) -> int:
    """The last position already listed (-1: from the start); a cursor we did not issue is a 422."""
    return cursors.decode_cursor(
        cursor,
        prefix=_CURSOR_PREFIX,
        param="cursor",
        detail="invalid cursor: pass back the next_cursor of a previous page",
    )


def parse_query(
    *, status: str | None, invoice_id: str | None, cursor: str | None, limit: str | None
) -> ContactQuery:
    """The listing's query parameters as the ERP wrote them; every mistake is a precise 422."""
    statuses: tuple[str, ...] = ()
    if status is not None:
        names = [part.strip() for part in status.split(",") if part.strip()]
        known = {s.value for s in ContactStatus}
        unknown = [name for name in names if name not in known]
        if unknown or not names:
            raise _invalid(
                "status",
                f"unknown status {unknown[0]!r}" if unknown else "empty",
                "status must be a comma-separated list of: " + ", ".join(s.value for s in ContactStatus),
            )
        statuses = tuple(dict.fromkeys(names))
    if invoice_id is not None and not 1 <= len(invoice_id) <= MAX_INVOICE_ID:
        raise _invalid("invoice_id", "length", f"invoice_id must have 1 to {MAX_INVOICE_ID} characters")
    size = DEFAULT_LIMIT
    if limit is not None:
        try:
            size = int(limit)
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_LIMIT or not limit.strip().isdigit():
            raise _invalid("limit", "out of range", f"limit must be a whole number from 1 to {MAX_LIMIT}")
    decode_cursor(cursor)  # refuse a bad cursor before touching the database
    return ContactQuery(statuses=statuses, invoice_id=invoice_id, cursor=cursor, limit=size)


def _item(row: Any) -> ContactItem:
    return ContactItem(
        index=int(row.position),
        invoice_id=row.invoice_id,
        phone=row.phone,
        name=row.name,
        status=row.status,
        attempts=int(row.attempts),
        error=row.last_error,
        provider_message_id=row.provider_message_id,
        sent_at=row.sent_at,
        delivered_at=row.delivered_at,
        read_at=row.read_at,
        replied_at=row.replied_at,
    )


def list_contacts(
    queue_ref: str | uuid.UUID,
    query: ContactQuery,
    *,
    tenant_id: uuid.UUID,
    session: Session,
    allowed_types: tuple[str, ...] | None = None,
) -> ContactPage:
    """One page of a queue of ``tenant_id``; another tenant's queue is "not found", a queue of a type
    the key may not read is forbidden. One statement."""
    queue_id = queue_ref if isinstance(queue_ref, uuid.UUID) else parse_queue_id(queue_ref)
    statement = _STATEMENTS[(bool(query.statuses), query.invoice_id is not None)]
    params = {
        "queue_id": queue_id,
        "tenant_id": tenant_id,
        "after": decode_cursor(query.cursor),
        "limit": query.limit + 1,  # one more than the page says "there is more"
        "statuses": list(query.statuses),
        "invoice_id": query.invoice_id,
    }
    rows = session.connection().execute(statement, params).all()
    if not rows:
        raise NotFoundError(_NOT_FOUND)
    if allowed_types is not None and rows[0].template_type not in allowed_types:
        raise PermissionDeniedError(f"this API key may not act on {rows[0].template_type!r} queues")
    items = [_item(row) for row in rows if row.position is not None]
    if len(items) > query.limit:
        return ContactPage(items[: query.limit], cursors.encode_cursor(_CURSOR_PREFIX, items[query.limit - 1].index))
    return ContactPage(items, None)
