"""Every contact of a queue, a page at a time (GET /queue/{id}/contacts; docs/api.md#queue_contacts).

One statement per page whatever the queue's size, the database function ``billing_contact_page``
(migrations 0012 and 0018): the queue row (tenant isolation, the key's types) and one keyset page of its
contacts by position, returned as the JSON array the API documents. With statuses, each status is
walked in position order on ``ix_contact_queue_status_position`` and the walks are merged, so a page of
the three ``unknown`` contacts among a million ``sent`` ones reads three rows; with an invoice, the
invoice's rows come from ``ix_contact_tenant_invoice``.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session

from billing.contract.queues import ContactPage, ContactQuery
from billing.db.raw import fetch_one
from billing.domain.states import ContactStatus
from billing.errors import NotFoundError, PermissionDeniedError, ValidationFailedError
from billing.services.queues import cursors
from billing.services.queues.status import parse_queue_id

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_INVOICE_ID = 100
_CURSOR_PREFIX = "c1:"
_NOT_FOUND = "queue not found"
# One call: the queue's type (NULL: not this tenant's) and the page as the API's JSON array, built by
# the database function billing_contact_page (migrations 0012, 0018), whose plans each backend caches. The
# array comes back as text, so the driver does not parse what is only passed on. Run on the DBAPI
# cursor (billing.db.raw): a psycopg2 statement.
_PAGE = (
    "SELECT template_type, items::text AS items, last_position, more FROM billing_contact_page(%(queue_id)s,"
    " %(tenant_id)s, %(after)s, %(limit)s, %(statuses)s::text[], %(invoice_id)s)"
)


def _invalid(field: str, message: str, detail: str) -> ValidationFailedError:
    return ValidationFailedError(detail, [{"loc": ["query", field], "msg": message}])


def encode_cursor(position: int) -> str:
    """The cursor of the page after ``position``."""
    return cursors.encode_cursor(_CURSOR_PREFIX, position)


def decode_cursor(cursor: str | None) -> int:
    """The last position already listed (-1: from the start); a cursor we did not issue is a 422."""
    return cursors.decode_cursor(
        cursor,
        prefix=_CURSOR_PREFIX,
        param="cursor",
        detail="invalid cursor: pass back the next_cursor of a previous page",
    )


def parse_query(*, status: str | None, invoice_id: str | None, cursor: str | None, limit: str | None) -> ContactQuery:
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
    if invoice_id is not None and not (1 <= len(invoice_id) <= MAX_INVOICE_ID and cursors.storable(invoice_id)):
        raise _invalid("invoice_id", "invalid", f"invoice_id must have 1 to {MAX_INVOICE_ID} characters and no NUL")
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
    params = {
        "queue_id": queue_id,
        "tenant_id": tenant_id,
        "after": decode_cursor(query.cursor),
        "limit": query.limit,
        "statuses": list(query.statuses) or None,
        "invoice_id": query.invoice_id,
    }
    row = fetch_one(session, _PAGE, params)
    if row is None or row.template_type is None:
        raise NotFoundError(_NOT_FOUND)
    if allowed_types is not None and row.template_type not in allowed_types:
        raise PermissionDeniedError(f"this API key may not act on {row.template_type!r} queues")
    next_cursor = encode_cursor(int(row.last_position)) if row.more else None
    return ContactPage(items_json=str(row.items), next_cursor=next_cursor)
