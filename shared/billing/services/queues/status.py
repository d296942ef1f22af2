"""The status of one queue (docs/api.md#queue_status), answered from the queue row's counters.

One query whatever the queue's size: the queue row, its campaign's ``external_id`` and one page of
failed contacts through the partial index ``ix_contact_failed`` (JSON text, carried into the answer as it
is), run by the database function ``billing_queue_status_page`` (migration 0028) whose plan each backend
caches.
Tenant configuration for the ETA comes from the short-lived tenant cache.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from billing.contract.queues import QueueStatusView
from billing.db.raw import fetch_one
from billing.domain.pacing import estimate_completion
from billing.domain.states import QueueStatus, TemplateType
from billing.errors import DomainError, NotFoundError, PermissionDeniedError, ValidationFailedError
from billing.services.queues import cursors
from billing.services.tenants import TenantRuntime, load_tenant_runtime

logger = logging.getLogger(__name__)

FAILURES_PAGE = 100
CURSOR_PARAM = "failures_cursor"
_CURSOR_PREFIX = "f1:"
_NOT_FOUND = "queue not found"
# Statuses whose ETA cannot be known until someone acts (a manual pause) or that are over.
_NO_ETA = frozenset({QueueStatus.PAUSED, QueueStatus.COMPLETED, QueueStatus.CANCELLED, QueueStatus.FAILED})

# One round trip: the queue row, its campaign's external id, one page of failures as JSON text (built by
# Postgres from the partial index ``ix_contact_failed``, with the position of its last item when more
# follow) and the latest numbered event of the queue, in the function ``billing_queue_status_page``
# (migration 0028) whose plan each backend caches.
# Run on the DBAPI cursor (billing.db.raw): a psycopg2 statement.
_QUEUE = "SELECT * FROM billing_queue_status_page(%(queue_id)s, %(tenant_id)s, %(after)s, %(limit)s)"


def parse_queue_id(raw: str) -> uuid.UUID:
    """A queue id from a URL; anything that is not a UUID names no queue (404, never 500)."""
    try:
        return uuid.UUID(raw)
    except (ValueError, AttributeError, TypeError) as exc:
        raise NotFoundError(_NOT_FOUND) from exc


def encode_cursor(position: int) -> str:
    return cursors.encode_cursor(_CURSOR_PREFIX, position)


def decode_cursor(cursor: str | None) -> int:
    """The last position already listed (-1: start); a cursor we did not issue is a 422."""
    return cursors.decode_cursor(
        cursor,
        prefix=_CURSOR_PREFIX,
        param=CURSOR_PARAM,
        detail="invalid failures_cursor: pass back the next_failures_cursor of a previous answer",
    )


def _next_cursor(failures_last: int | None) -> str | None:
    """The cursor after a page whose last item is at ``failures_last`` (None: no page follows)."""
    return None if failures_last is None else encode_cursor(int(failures_last))


def pending_of(row: Any) -> int:
    """Contacts not yet in a final state: the total less every terminal counter."""
    done = row.sent + row.failed + row.cancelled + row.unknown + row.expired + row.skipped
    return max(int(row.total) - int(done), 0)


RuntimeOf = Callable[[uuid.UUID], TenantRuntime]


def _eta(row: Any, pending: int, *, runtime_of: RuntimeOf, now: datetime) -> datetime | None:
    status = QueueStatus(row.status)
    if status in _NO_ETA:
        return row.completed_at if status is QueueStatus.COMPLETED else None
    if pending == 0:
        return None
    runtime = runtime_of(row.tenant_id)
    template_type = TemplateType(row.template_type)
    hours = runtime.hours if template_type.respects_business_hours else None
    if template_type.respects_business_hours and hours is None:
        return None  # never open: no date can be promised
    start = max(t for t in (now, row.resume_at, row.scheduled_for) if t is not None)
    try:
        eta = estimate_completion(
            pending,
            start=start,
            per_minute=runtime.config.throttle_per_minute,
            jitter_s=runtime.config.jitter_s,
            hours=hours,
            daily_cap=runtime.config.daily_cap,
        )
    except DomainError:
        logger.warning("no ETA for queue", extra={"action": "status.no_eta", "queue_id": str(row.id)}, exc_info=True)
        return None
    return eta.astimezone(runtime.tz)


def queue_status(
    queue_ref: str | uuid.UUID,
    *,
    tenant_id: uuid.UUID,
    session: Session,
    now: datetime,
    failures_cursor: str | None = None,
    allowed_types: tuple[str, ...] | None = None,
) -> QueueStatusView:
    """The status of a queue of ``tenant_id``; another tenant's queue is "not found", and a queue of
    a type outside ``allowed_types`` (a key limited to some types) is forbidden."""
    queue_id = queue_ref if isinstance(queue_ref, uuid.UUID) else parse_queue_id(queue_ref)
    after = decode_cursor(failures_cursor)
    row = fetch_one(
        session, _QUEUE, {"queue_id": queue_id, "tenant_id": tenant_id, "after": after, "limit": FAILURES_PAGE}
    )
    if row is None:
        raise NotFoundError(_NOT_FOUND)
    if allowed_types is not None and row.template_type not in allowed_types:
        raise PermissionDeniedError(f"this API key may not act on {row.template_type!r} queues")
    return build_view(row, now=now, runtime_of=lambda tenant: load_tenant_runtime(tenant, session=session))


# The queues of one ERP batch id (at most one per tenant today), each with its status row, in one statement.
_BY_EXTERNAL_ID = sa.text(
    """
    SELECT s.*
      FROM billing_campaigns c
      JOIN billing_queues q ON q.campaign_id = c.id
     CROSS JOIN LATERAL billing_queue_status_page(q.id, c.tenant_id, -1, :limit) AS s
     WHERE c.tenant_id = :tenant_id AND c.external_id = :external_id
     ORDER BY q.created_at
    """
)
MAX_EXTERNAL_ID = 255


def find_by_external_id(
    external_id: str | None,
    *,
    tenant_id: uuid.UUID,
    session: Session,
    now: datetime,
    allowed_types: tuple[str, ...] | None = None,
) -> list[QueueStatusView]:
    """The status of the tenant's queues created with ``external_id`` (an empty list when none; queues of
    types the key may not read are left out, as if they did not exist)."""
    if external_id is None or not (1 <= len(external_id) <= MAX_EXTERNAL_ID and cursors.storable(external_id)):
        raise ValidationFailedError(
            f"external_id is required: the batch's external_id, 1 to {MAX_EXTERNAL_ID} characters, no NUL",
            [{"loc": ["query", "external_id"], "msg": "missing" if external_id is None else "length"}],
        )
    rows = (
        session.connection()
        .execute(_BY_EXTERNAL_ID, {"tenant_id": tenant_id, "external_id": external_id, "limit": FAILURES_PAGE})
        .all()
    )
    return [
        build_view(row, now=now, runtime_of=lambda tenant: load_tenant_runtime(tenant, session=session))
        for row in rows
        if allowed_types is None or row.template_type in allowed_types
    ]


def build_view(row: Any, *, now: datetime, runtime_of: RuntimeOf) -> QueueStatusView:
    """The status of one queue row (the columns of ``billing_queue_status_page``); the tenant's runtime is
    only loaded when an ETA can be computed."""
    pending = pending_of(row)
    total = int(row.total)
    return QueueStatusView(
        queue_id=str(row.id),
        external_id=row.external_id,
        template_type=row.template_type,
        status=row.status,
        total=total,
        sent=row.sent,
        failed=row.failed,
        pending=pending,
        cancelled=row.cancelled,
        unknown=row.unknown,
        expired=row.expired,
        skipped=row.skipped,
        delivered=row.delivered,
        read=row.read,
        progress=round((total - pending) / total, 3) if total else 1.0,
        estimated_completion=_eta(row, pending, runtime_of=runtime_of, now=now),
        paused_reason=row.paused_reason,
        resume_at=row.resume_at,
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        failures_json=row.failures,
        next_failures_cursor=_next_cursor(row.failures_last),
        replied=row.replied,
        opted_out=row.opted_out,
        last_event_id=row.last_event_id,
    )
