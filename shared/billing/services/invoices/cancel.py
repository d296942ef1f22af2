"""Stop an invoice's reminders (POST /invoices/{invoice_id}/cancel; docs/api.md#invoice_cancel).

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
from billing.services.audit import audit_entry
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
# Contacts whose call is in flight: marked, so that if the call does not go out (a transient error, a
# claim handed back) a trigger cancels them instead of letting them go back to pending (migration 0014).
_MARK_IN_FLIGHT = sa.text(
    """
    UPDATE billing_contacts bc SET cancel_requested_at = :now, cancel_reason = :why
      FROM billing_queues q
     WHERE bc.tenant_id = :tenant_id AND bc.invoice_id = ANY(:invoice_ids) AND bc.status = 'sending'
       AND (CAST(:exclude AS uuid) IS NULL OR bc.queue_id <> :exclude)
       AND q.id = bc.queue_id AND (CAST(:types AS text[]) IS NULL OR q.template_type = ANY(:types))
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
            queues, in_flight = cancel_reminders(session, [invoice_id], reason=reason, actor=actor, now=now)
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
) -> tuple[list[QueueCancelled], int]:
    """In the caller's transaction: cancel the pending reminders of ``invoice_ids`` (outside
    ``exclude_queue``), count them on their queues, mark the ones in flight (cancelled if their call
    does not go out), complete a queue left with nothing to send, and audit each queue. Four statements
    whatever the number of contacts and queues (plus the audit rows). Returns the count per touched
    queue, and how many were in flight.

    Cancel, mark, cancel again: the first pass waits for claims in progress (which then are in flight
    and get marked), the mark waits for records in progress (a call that came back to retry is then
    pending again and the second pass cancels it)."""
    params = {
        "tenant_id": actor.tenant_id,
        "invoice_ids": invoice_ids,
        "exclude": exclude_queue,
        "why": f"invoice cancelled: {reason}"[:500],
        "now": now,
        "types": list(actor.template_types) if actor.template_types is not None else None,
    }
    first = session.execute(_CANCEL, params).all()
    in_flight = int(session.execute(_MARK_IN_FLIGHT, params).rowcount or 0)  # type: ignore[attr-defined]
    second = session.execute(_CANCEL, params).all()
    counts: dict[uuid.UUID, int] = {}
    before: dict[uuid.UUID, str] = {}
    for row in (*first, *second):
        counts[row.id] = counts.get(row.id, 0) + int(row.n)
        before.setdefault(row.id, row.status)
    ids = sorted(counts)
    completed = {r.id for r in session.execute(_COMPLETE, {"ids": ids, "now": now}) if r.done} if ids else set()
    for queue_id in ids:
        after = "completed" if queue_id in completed else before[queue_id]
        session.add(
            _audit(
                actor,
                queue_id,
                before=before[queue_id],
                after=after,
                invoice_ids=invoice_ids,
                reason=reason,
                n=counts[queue_id],
            )
        )
    return [QueueCancelled(queue_id=str(q), cancelled=counts[q]) for q in ids], in_flight


def _audit(
    actor: Actor, queue_id: uuid.UUID, *, before: str, after: str, invoice_ids: list[str], reason: str, n: int
) -> AuditEntry:
    one_invoice = {"invoice_id": invoice_ids[0]} if len(invoice_ids) == 1 else {}
    return audit_entry(
        actor,
        "invoice.cancel",
        queue_id=queue_id,
        before=before,
        after=after,
        reason=reason,
        cancelled=n,
        **one_invoice,
    )
