"""Stop an invoice's reminders (POST /invoices/{invoice_id}/cancel, CONTRACT.md section 5).

When an invoice is paid, every reminder of it not yet handed to the gateway becomes ``cancelled``, in
every queue of the tenant (of the template types the key may act on), in one transaction: the contacts
(found by ``ix_contact_tenant_invoice``), each touched queue's ``cancelled`` counter, the completion of a
queue left with nothing to send, and one audit entry per queue. Dispatch claims a contact with
``SKIP LOCKED`` and commits it as ``sending`` before calling, so once this commits nothing of the
invoice is sent except a call already in flight, which is not recalled (``in_flight`` says how many).
Repeating it cancels nothing more and answers the same shape (idempotent).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from billing.contract.invoices import InvoiceCancelled, QueueCancelled
from billing.contract.queues import Actor
from billing.db.engine import UnitOfWork
from billing.db.models import AuditEntry
from billing.errors import ConflictError, ValidationFailedError
from billing.services.queues.cursors import storable

logger = logging.getLogger(__name__)

MAX_INVOICE_ID = 100
MAX_REASON = 200
MAX_ATTEMPTS = 5
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure

# Contacts first, then queue rows (the order dispatch and control use), in one statement.
_CANCEL = sa.text(
    """
    WITH c AS (
        UPDATE billing_contacts bc
           SET status = 'cancelled', last_error = :why, next_attempt_at = NULL, updated_at = :now
          FROM billing_queues q
         WHERE bc.tenant_id = :tenant_id AND bc.invoice_id = ANY(:invoice_ids)
           AND bc.status IN ('pending', 'pending_retry')
           AND (CAST(:exclude AS uuid) IS NULL OR bc.queue_id <> :exclude)
           AND q.id = bc.queue_id AND (CAST(:types AS text[]) IS NULL OR q.template_type = ANY(:types))
        RETURNING bc.queue_id
    ), per AS (
        SELECT queue_id, count(*) AS n FROM c GROUP BY queue_id
    ), moved AS (
        UPDATE billing_queues bq SET cancelled = bq.cancelled + per.n, updated_at = :now
          FROM per WHERE bq.id = per.queue_id
        RETURNING bq.id, bq.status, per.n
    )
    SELECT id, status, n FROM moved ORDER BY id
    """
)
_IN_FLIGHT = sa.text(
    """
    SELECT count(*) FROM billing_contacts c JOIN billing_queues q ON q.id = c.queue_id
     WHERE c.tenant_id = :tenant_id AND c.invoice_id = :invoice_id AND c.status = 'sending'
       AND (CAST(:types AS text[]) IS NULL OR q.template_type = ANY(:types))
    """
)
# Every touched queue left with nothing to send is completed (one statement for all of them).
_COMPLETE = sa.text(
    "SELECT id, billing_complete_if_done(id, :now) > 0 AS done FROM unnest(CAST(:ids AS uuid[])) AS t(id)"
)


def check_invoice_id(invoice_id: str) -> str:
    if not 1 <= len(invoice_id) <= MAX_INVOICE_ID or not invoice_id.strip() or not storable(invoice_id):
        raise ValidationFailedError(
            f"invoice_id must have 1 to {MAX_INVOICE_ID} characters and no NUL",
            [{"loc": ["path", "invoice_id"], "msg": "length"}],
        )
    return invoice_id


def cancel_invoice(invoice_id: str, reason: str, *, actor: Actor, uow: UnitOfWork, now: datetime) -> InvoiceCancelled:
    """Cancel every not-yet-sent reminder of ``invoice_id`` in the actor's tenant."""
    check_invoice_id(invoice_id)
    session = uow.session
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            queues = cancel_reminders(session, [invoice_id], reason=reason, actor=actor, now=now)
            in_flight = int(
                session.execute(
                    _IN_FLIGHT,
                    {
                        "tenant_id": actor.tenant_id,
                        "invoice_id": invoice_id,
                        "types": list(actor.template_types) if actor.template_types is not None else None,
                    },
                ).scalar_one()
            )
            uow.commit()
            break
        except DBAPIError as exc:
            uow.rollback()
            if getattr(exc.orig, "pgcode", None) not in _RETRYABLE_SQLSTATES:
                raise
            logger.info("invoice cancel collided; retrying", extra={"action": "invoice.retry", "attempt": attempt})
    else:
        raise ConflictError("the invoice's queues changed while it was being cancelled; try again")
    total = sum(q["cancelled"] for q in queues)
    logger.info(
        "invoice reminders cancelled",
        extra={
            "action": "invoice.cancelled",
            "tenant_id": str(actor.tenant_id),
            "actor": actor.kind,
            "cancelled": total,
            "queues": len(queues),
            "in_flight": in_flight,
        },
    )
    return InvoiceCancelled(invoice_id=invoice_id, cancelled=total, queues=queues, in_flight=in_flight)


def cancel_reminders(
    session: Session,
    invoice_ids: list[str],
    *,
    reason: str,
    actor: Actor,
    now: datetime,
    exclude_queue: uuid.UUID | None = None,
) -> list[QueueCancelled]:
    """In the caller's transaction: cancel the pending reminders of ``invoice_ids`` (outside
    ``exclude_queue``), count them on their queues, complete a queue left with nothing to send, and
    audit each queue. Two statements whatever the number of contacts and queues (plus the audit rows).
    Returns ``{"queue_id", "cancelled"}`` per touched queue."""
    params = {
        "tenant_id": actor.tenant_id,
        "invoice_ids": invoice_ids,
        "exclude": exclude_queue,
        "why": f"invoice cancelled: {reason}"[:500],
        "now": now,
        "types": list(actor.template_types) if actor.template_types is not None else None,
    }
    rows = session.execute(_CANCEL, params).all()
    ids = [row.id for row in rows]
    completed = {r.id for r in session.execute(_COMPLETE, {"ids": ids, "now": now}) if r.done} if ids else set()
    for row in rows:
        after = "completed" if row.id in completed else row.status
        session.add(
            _audit(actor, row.id, before=row.status, after=after, invoice_ids=invoice_ids, reason=reason, n=int(row.n))
        )
    return [QueueCancelled(queue_id=str(row.id), cancelled=int(row.n)) for row in rows]


def _audit(
    actor: Actor, queue_id: uuid.UUID, *, before: str, after: str, invoice_ids: list[str], reason: str, n: int
) -> AuditEntry:
    details: dict[str, object] = {"actor": actor.kind, "reason": reason, "cancelled": n}
    if len(invoice_ids) == 1:
        details["invoice_id"] = invoice_ids[0]
    if actor.operator is not None:
        details["operator"] = actor.operator
    return AuditEntry(
        tenant_id=actor.tenant_id,
        api_key_id=actor.api_key_id,
        client_ip=actor.client_ip,
        action="invoice.cancel",
        queue_id=queue_id,
        before_status=before,
        after_status=after,
        details=details,
    )
