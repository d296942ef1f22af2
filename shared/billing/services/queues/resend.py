"""Resend a queue's ``unknown`` or ``failed`` contacts (control action ``resend``, docs/api.md#queue_control).

An ``unknown`` contact may have reached the customer (the worker died between the gateway's answer and
the record), so it is never resent automatically: this is the operator's or the ERP's explicit decision.
In one transaction the chosen contacts go back to ``pending`` with a fresh retry budget (attempts 0, no
error, no retry time), the queue's counters give them back, and a queue that had finished
(``completed`` or ``failed``) is ``pending`` again; a manually paused queue stays paused. Dispatch then
sends each of them once more, paced like any other contact. The contacts are locked before they move, so
two resends at once, or a resend racing the sweeper, move each contact once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import sqlalchemy as sa

from billing.adapters.broker import Publisher
from billing.contract.queues import RESENDABLE, Actor, QueueStatusView, ResendCommand
from billing.db.engine import UnitOfWork
from billing.errors import ConflictError, NotFoundError, ValidationFailedError
from billing.services.audit import audit_entry
from billing.services.publishing import CLAIM_RETURNING, Claimed, publish_claimed
from billing.services.queues.status import parse_queue_id, queue_status

logger = logging.getLogger(__name__)

MAX_INDEXES = 1000

_READ = sa.text(
    "SELECT status, template_type FROM billing_queues WHERE id = :queue_id AND tenant_id = :tenant_id FOR UPDATE"
)
_AT_INDEXES = sa.text(
    "SELECT position, status FROM billing_contacts WHERE queue_id = :queue_id AND position = ANY(:indexes)"
)
_MOVE_CONTACTS = sa.text(
    """
    WITH picked AS (
        SELECT id, status FROM billing_contacts
         WHERE queue_id = :queue_id AND status = ANY(:statuses)
           AND (CAST(:indexes AS integer[]) IS NULL OR position = ANY(:indexes))
           FOR UPDATE
    ), moved AS (
        UPDATE billing_contacts c
           SET status = 'pending', attempts = 0, last_error = NULL, next_attempt_at = NULL, claimed_by = NULL,
               updated_at = :now
          FROM picked WHERE c.id = picked.id
        RETURNING picked.status
    )
    SELECT count(*) FILTER (WHERE status = 'unknown') AS unknown,
           count(*) FILTER (WHERE status = 'failed') AS failed
      FROM moved
    """
)
_REOPEN = sa.text(
    f"""
    UPDATE billing_queues
       SET unknown = unknown - :unknown, failed = failed - :failed, updated_at = :now,
           status = CASE WHEN status IN ('completed', 'failed') THEN 'pending' ELSE status END,
           completed_at = CASE WHEN status IN ('completed', 'failed') THEN NULL ELSE completed_at END,
           published_at = CASE WHEN status IN ('completed', 'failed', 'pending') THEN CAST(:now AS timestamptz)
                               ELSE published_at END
     WHERE id = :queue_id
    {CLAIM_RETURNING}, status
    """  # noqa: S608 - CLAIM_RETURNING is a constant
)
_RUNNABLE_AFTER = frozenset({"pending", "running"})


def resend_contacts(
    queue_ref: str | uuid.UUID,
    command: ResendCommand,
    *,
    actor: Actor,
    uow: UnitOfWork,
    publisher: Publisher,
    now: datetime,
) -> QueueStatusView:
    """Move the chosen contacts of a queue of the actor's tenant back to ``pending``; answer its status.

    409 for a status that cannot be resent, an index whose contact is not in the asked statuses, or a
    cancelled queue; 422 for an index that names no contact. Nothing is written unless all is well."""
    queue_id = queue_ref if isinstance(queue_ref, uuid.UUID) else parse_queue_id(queue_ref)
    session = uow.session
    keys = {"queue_id": queue_id, "tenant_id": actor.tenant_id}
    row = session.execute(_READ, keys).first()
    if row is None:
        raise NotFoundError("queue not found")
    actor.require_type(row.template_type)
    others = [s for s in command.statuses if s not in RESENDABLE]
    if others:
        raise ConflictError(f"only unknown and failed contacts can be resent, not {', '.join(others)}")
    if row.status == "cancelled":
        raise ConflictError("the queue is cancelled: its contacts cannot be resent")
    indexes = list(dict.fromkeys(command.indexes)) if command.indexes is not None else None
    if indexes is not None:
        found = {int(r.position): r.status for r in session.execute(_AT_INDEXES, {**keys, "indexes": indexes})}
        missing = [i for i in indexes if i not in found]
        if missing:
            raise ValidationFailedError(
                f"no contact at index {missing[0]} of this queue",
                [{"loc": ["body", "indexes"], "msg": f"no contact at {', '.join(map(str, missing[:20]))}"}],
            )
        wrong = [f"{i} is {found[i]}" for i in indexes if found[i] not in command.statuses]
        if wrong:
            asked = " or ".join(command.statuses)
            raise ConflictError(f"only contacts that are {asked} can be resent: index {'; index '.join(wrong[:20])}")
    counts = session.execute(
        _MOVE_CONTACTS, {**keys, "statuses": list(command.statuses), "indexes": indexes, "now": now}
    ).one()
    unknown, failed = int(counts.unknown), int(counts.failed)
    claimed: Claimed | None = None
    after = row.status
    if unknown or failed:
        moved = session.execute(_REOPEN, {**keys, "unknown": unknown, "failed": failed, "now": now}).one()
        after = moved.status
        if after in _RUNNABLE_AFTER:
            claimed = Claimed.from_row(moved)
    session.add(
        audit_entry(
            actor,
            "queue.resend",
            queue_id=queue_id,
            before=row.status,
            after=after,
            statuses=list(command.statuses),
            indexes=len(indexes) if indexes is not None else None,
            resent_unknown=unknown,
            resent_failed=failed,
        )
    )
    uow.commit()
    if claimed is not None:
        publish_claimed([claimed], reason="resend", stamp=now, publisher=publisher, uow=uow)
    logger.info(
        "queue resend: %s contacts back to pending",
        unknown + failed,
        extra={
            "action": "control.resend",
            "queue_id": str(queue_id),
            "tenant_id": str(actor.tenant_id),
            "actor": actor.kind,
            "before": row.status,
            "after": after,
            "resent_unknown": unknown,
            "resent_failed": failed,
        },
    )
    return queue_status(queue_id, tenant_id=actor.tenant_id, session=session, now=now)
