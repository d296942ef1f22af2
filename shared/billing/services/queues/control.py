"""Pause, resume and cancel a queue through the queue state machine, for any actor (an ERP's API key
or an operator at the CLI); every control is recorded in the audit log with who acted.

Dispatch claims only from runnable queues and locks the queue row it claims from (skipping one that is
locked), so a committed pause or cancel stops the queue before its next claim; a message already
claimed (its call in flight) is still sent and recorded. Cancel turns every cancellable contact into
``cancelled`` with one UPDATE and moves the counters and the status in the same transaction.
Dispatch takes its locks with SKIP LOCKED and never waits on control, so the two cannot deadlock; a
queue that changed status meanwhile is re-read and the decision taken again.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from billing.adapters.broker import Publisher
from billing.contract.queues import Actor, ControlAction, ControlCommand, QueueStatusView, ResendCommand
from billing.db.engine import UnitOfWork
from billing.db.models import AuditEntry
from billing.domain.states import CONTACT_CANCELLABLE, CONTROL_NOOP, CONTROL_TARGETS, QueueStatus, queue_transition
from billing.errors import ConflictError, NotFoundError
from billing.services import audit
from billing.services.publishing import CLAIM_RETURNING, Claimed, publish_claimed
from billing.services.queues.status import parse_queue_id, queue_status

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
PAUSED_BY_API = "paused through the control API"
PAUSED_BY_OPERATOR = "paused by an operator"
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure

_READ = sa.text(
    "SELECT status, scheduled_for, template_type FROM billing_queues WHERE id = :queue_id AND tenant_id = :tenant_id"
)
_CANCEL_CONTACTS = sa.text(
    f"""
    UPDATE billing_contacts SET status = 'cancelled', updated_at = :now
    WHERE queue_id = :queue_id AND tenant_id = :tenant_id
      AND status IN ({", ".join(f"'{s.value}'" for s in sorted(CONTACT_CANCELLABLE))})
    """  # noqa: S608
)
_MOVE = {
    "pause": "status = 'paused', paused_reason = :reason, resume_at = NULL",
    "resume": "status = 'pending', paused_reason = NULL, resume_at = :resume_at, "
    "published_at = CASE WHEN CAST(:resume_at AS timestamptz) IS NULL THEN CAST(:now AS timestamptz) END",
    "cancel": "status = 'cancelled', paused_reason = NULL, resume_at = NULL, "
    "cancelled = cancelled + :cancelled, completed_at = :now",
}


@dataclass(frozen=True)
class Decision:
    before: QueueStatus
    after: QueueStatus
    noop: bool
    resume_at: datetime | None = None


def decide(action: ControlAction, row: Any, now: datetime) -> Decision:
    """What ``action`` does to a queue in ``row.status`` (pure; the guarded UPDATE applies it)."""
    before = QueueStatus(row.status)
    if before in CONTROL_NOOP[action]:
        return Decision(before, before, noop=True)
    after = queue_transition(before, CONTROL_TARGETS[action])
    # A paused queue that was scheduled for later keeps its start time; the sweeper wakes it then.
    later = row.scheduled_for if row.scheduled_for is not None and row.scheduled_for > now else None
    return Decision(before, after, noop=False, resume_at=later if action == "resume" else None)


def audit_entry(
    actor: Actor, action: ControlAction, queue_id: uuid.UUID, decision: Decision, cancelled: int
) -> AuditEntry:
    """The audit row of one control: who acted (an API key with its address, or a named operator)."""
    return audit.audit_entry(
        actor,
        f"queue.{action}",
        queue_id=queue_id,
        before=decision.before.value,
        after=decision.after.value,
        noop=decision.noop,
        cancelled_contacts=cancelled,
    )


def _apply(
    action: ControlAction, queue_id: uuid.UUID, actor: Actor, *, session: Session, now: datetime
) -> tuple[Decision, Claimed | None, int]:
    """One attempt, written to the session; raises ``_Moved`` when the queue moved under us."""
    keys = {"queue_id": queue_id, "tenant_id": actor.tenant_id}
    row = session.execute(_READ, keys).first()
    if row is None:
        raise NotFoundError("queue not found")
    actor.require_type(row.template_type)
    decision = decide(action, row, now)
    claimed: Claimed | None = None
    cancelled = 0
    if not decision.noop:
        if action == "cancel":
            cancelled = int(session.execute(_CANCEL_CONTACTS, {**keys, "now": now}).rowcount or 0)  # type: ignore[attr-defined]
        moved = session.execute(
            sa.text(
                f"UPDATE billing_queues SET {_MOVE[action]}, updated_at = :now "  # noqa: S608
                f"WHERE id = :queue_id AND tenant_id = :tenant_id AND status = :before {CLAIM_RETURNING}"
            ),
            {
                **keys,
                "now": now,
                "before": decision.before.value,
                "reason": PAUSED_BY_OPERATOR if actor.operator is not None else PAUSED_BY_API,
                "resume_at": decision.resume_at,
                "cancelled": cancelled,
            },
        ).first()
        if moved is None:
            raise _Moved
        if action == "resume" and decision.resume_at is None:
            claimed = Claimed.from_row(moved)
    session.add(audit_entry(actor, action, queue_id, decision, cancelled))
    return decision, claimed, cancelled


class _Moved(Exception):
    """The queue's status changed between our read and our guarded UPDATE."""


def control_queue(
    queue_ref: str | uuid.UUID,
    command: ControlCommand | ResendCommand,
    *,
    actor: Actor,
    uow: UnitOfWork,
    publisher: Publisher,
    now: datetime,
) -> QueueStatusView:
    """Apply ``command`` to a queue of the actor's tenant and answer with its status (a resend goes to
    ``resend_contacts``)."""
    if isinstance(command, ResendCommand):
        from billing.services.queues.resend import resend_contacts

        return resend_contacts(queue_ref, command, actor=actor, uow=uow, publisher=publisher, now=now)
    queue_id = queue_ref if isinstance(queue_ref, uuid.UUID) else parse_queue_id(queue_ref)
    action = command.action
    session = uow.session
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            decision, claimed, cancelled = _apply(action, queue_id, actor, session=session, now=now)
            uow.commit()
            break
        except _Moved:
            uow.rollback()
        except DBAPIError as exc:
            uow.rollback()
            if getattr(exc.orig, "pgcode", None) not in _RETRYABLE_SQLSTATES:
                raise
        logger.info(
            "queue changed during %s; retrying",
            action,
            extra={"action": "control.retry", "queue_id": str(queue_id), "attempt": attempt},
        )
    else:
        raise ConflictError("the queue changed while it was being updated; try again")
    if claimed is not None:
        publish_claimed([claimed], reason="resumed", stamp=now, publisher=publisher, uow=uow)
    logger.info(
        "queue %s: %s -> %s",
        action,
        decision.before.value,
        decision.after.value,
        extra={
            "action": f"control.{action}",
            "queue_id": str(queue_id),
            "tenant_id": str(actor.tenant_id),
            "actor": actor.kind,
            "api_key_id": str(actor.api_key_id) if actor.api_key_id else None,
            "before": decision.before.value,
            "after": decision.after.value,
            "noop": decision.noop,
            "cancelled_contacts": cancelled,
        },
    )
    return queue_status(queue_id, tenant_id=actor.tenant_id, session=session, now=now)
