"""What the console's queue pages read and do.

``queue_list``: one page of the tenant's queues (newest first, keyset by creation), with the same
counters, progress, ETA and reasons as the status route, and how many queues are in each status: two
statements whatever the tenant's size.
``queue_detail``: the status of one queue and one page of its contacts, two statements. Actions go
through the same use case as the ERP's control route, with the operator as the audited actor.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from billing.contract.queues import ContactQuery, ControlCommand, QueueStatusView, ResendCommand
from billing.errors import ValidationFailedError
from billing.services.admin.listing import QUEUE_STATUSES
from billing.services.queues.contacts import list_contacts, parse_query
from billing.services.queues.status import build_view, queue_status
from billing.services.tenants import load_tenant_runtime

PAGE = 50
ACTIVE_STATUSES = ("pending", "scheduled", "running", "paused", "paused_business_hours", "instance_down")
TYPES = ("overdue", "upcoming", "notification")

_LIST = sa.text(
    """
    SELECT q.id, q.tenant_id, q.status, q.template_type, q.total, q.sent, q.failed, q.cancelled, q.unknown,
           q.expired, q.skipped, q.delivered, q.read, q.replied, q.opted_out, q.paused_reason, q.resume_at,
           q.scheduled_for, q.created_at, q.started_at, q.completed_at, c.external_id,
           '[]' AS failures, NULL AS failures_last, NULL AS last_event_id, i.name AS instance_name,
           (SELECT max(e.seq) FROM billing_events e WHERE e.tenant_id = :tenant_id) AS tenant_last_event_id
      FROM billing_queues q
      JOIN billing_campaigns c ON c.id = q.campaign_id
      JOIN whatsapp_instances i ON i.id = q.instance_id
     WHERE q.tenant_id = :tenant_id
       AND (CAST(:statuses AS text[]) IS NULL OR q.status = ANY(CAST(:statuses AS text[])))
       AND (CAST(:template_type AS text) IS NULL OR q.template_type = :template_type)
       AND (CAST(:before_at AS timestamptz) IS NULL OR (q.created_at, q.id) < (:before_at, :before_id))
     ORDER BY q.created_at DESC, q.id DESC
     LIMIT :limit
    """
)


# How many queues of the tenant are in each status (of the type filtered on): an index-only count.
_COUNTS = sa.text(
    """
    SELECT status, count(*) AS n FROM billing_queues
     WHERE tenant_id = :tenant_id AND (CAST(:template_type AS text) IS NULL OR template_type = :template_type)
     GROUP BY status
    """
)


@dataclass(frozen=True)
class QueueFilter:
    statuses: tuple[str, ...] | None
    template_type: str | None
    cursor: str | None
    label: str  # what the status filter was, as asked ("active", "all" or one status)


@dataclass(frozen=True)
class QueueRow:
    view: QueueStatusView
    instance: str
    scheduled_for: datetime | None


@dataclass(frozen=True)
class QueueListPage:
    rows: list[QueueRow]
    next_cursor: str | None
    last_event_id: int = 0  # the tenant's latest event: the live bars follow the stream from there
    counts: dict[str, int] = field(default_factory=dict)  # queues per status, whatever the page shows


def parse_filter(*, status: str | None, template_type: str | None, cursor: str | None) -> QueueFilter:
    status = status or "active"
    if status == "active":
        statuses: tuple[str, ...] | None = ACTIVE_STATUSES
    elif status == "all":
        statuses = None
    elif status in QUEUE_STATUSES:
        statuses = (status,)
    else:
        raise ValidationFailedError(f"status desconhecido: {status[:40]!r}")
    if template_type and template_type not in TYPES:
        raise ValidationFailedError(f"tipo desconhecido: {template_type[:40]!r}")
    return QueueFilter(statuses, template_type or None, cursor or None, status)


def _decode(cursor: str | None) -> tuple[datetime | None, uuid.UUID | None]:
    if not cursor:
        return None, None
    try:
        at, _, key = base64.urlsafe_b64decode(cursor.encode() + b"==").decode().partition("|")
        return datetime.fromisoformat(at), uuid.UUID(key)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailedError("página inválida: volte ao início da lista") from exc


def _encode(at: datetime, key: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{key}".encode()).decode().rstrip("=")


def queue_list(query: QueueFilter, *, tenant_id: uuid.UUID, session: Session, now: datetime) -> QueueListPage:
    before_at, before_id = _decode(query.cursor)
    rows = (
        session.connection()
        .execute(
            _LIST,
            {
                "tenant_id": tenant_id,
                "statuses": list(query.statuses) if query.statuses is not None else None,
                "template_type": query.template_type,
                "before_at": before_at,
                "before_id": before_id,
                "limit": PAGE + 1,
            },
        )
        .all()
    )
    more = len(rows) > PAGE
    rows = rows[:PAGE]

    def runtime_of(tenant: uuid.UUID) -> Any:
        return load_tenant_runtime(tenant, session=session)

    items = [QueueRow(build_view(r, now=now, runtime_of=runtime_of), r.instance_name, r.scheduled_for) for r in rows]
    next_cursor = _encode(rows[-1].created_at, rows[-1].id) if more and rows else None
    last_event_id = int(rows[0].tenant_last_event_id or 0) if rows else 0
    counts = dict(
        session.connection()
        .execute(_COUNTS, {"tenant_id": tenant_id, "template_type": query.template_type})
        .tuples()
        .all()
    )
    return QueueListPage(items, next_cursor, last_event_id, {str(k): int(v) for k, v in counts.items()})


@dataclass(frozen=True)
class QueueDetail:
    view: QueueStatusView
    contacts: list[dict[str, Any]]
    next_cursor: str | None
    query: ContactQuery


def queue_detail(
    queue_ref: str | uuid.UUID,
    *,
    status: str | None,
    invoice_id: str | None,
    cursor: str | None,
    tenant_id: uuid.UUID,
    session: Session,
    now: datetime,
) -> QueueDetail:
    """One queue's status and one page of its contacts (100 by default), filtered by status or invoice."""
    query = parse_query(status=status or None, invoice_id=invoice_id or None, cursor=cursor or None, limit=None)
    view = queue_status(queue_ref, tenant_id=tenant_id, session=session, now=now)
    page = list_contacts(view.queue_id, query, tenant_id=tenant_id, session=session)
    return QueueDetail(view, json.loads(page.items_json), page.next_cursor, query)


def command_of(action: str, *, statuses: list[str] | None = None) -> ControlCommand | ResendCommand:
    """The control command a console form asks for."""
    if action in ("pause", "resume", "cancel"):
        return ControlCommand(action)  # type: ignore[arg-type]
    if action == "resend":
        # Nothing ticked asks for nothing: never read as "all" (an uncertain message may have gone out).
        chosen = tuple(s for s in (statuses or []) if s)
        if not chosen:
            raise ValidationFailedError("escolha o que reenviar: incertas, com falha ou ambas")
        if any(s not in ("unknown", "failed") for s in chosen):
            raise ValidationFailedError("só é possível reenviar contatos com status incerta ou falhou")
        return ResendCommand(statuses=chosen)
    raise ValidationFailedError(f"ação desconhecida: {action[:40]!r}")
