"""Pause, resume and cancel a queue (CONTRACT.md 1.3) through the queue state machine.

The sender re-reads the queue's status under its lease before every message, so a committed pause or
cancel stops it before its next message; its lease is left alone so the one message in flight is still
recorded. Cancel turns every cancellable contact into ``cancelled`` with one UPDATE and moves the
counters and the status in the same transaction. Contacts are locked before the queue row (the
sender's order), so a cancel racing a sender waits instead of deadlocking; a queue that changed status
meanwhile is re-read and the decision taken again.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from billing.adapters.broker import Publisher
from billing.db.models import AuditEntry
from billing.domain.states import CONTACT_CANCELLABLE, CONTROL_NOOP, CONTROL_TARGETS, QueueStatus, queue_transition
from billing.errors import (
    ConflictError,
    MalformedRequestError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)
from billing.http.auth import Principal
from billing.http.schemas import ControlRequest, StatusResponse
from billing.services.publishing import CLAIM_RETURNING, Claimed, publish_claimed
from billing.services.status import parse_queue_id, queue_status

logger = logging.getLogger(__name__)

MAX_CONTROL_BODY = 4096
MAX_ATTEMPTS = 5
PAUSED_BY_API = "paused through the control API"
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure

_READ = sa.text("SELECT status, scheduled_for FROM billing_queues WHERE id = :queue_id AND tenant_id = :tenant_id")
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


def parse_control_body(content_type: str | None, raw: bytes) -> ControlRequest:
    """The control request from a raw body: 413 too big, 415 not JSON, 400 unparsable, 422 invalid."""
    if len(raw) > MAX_CONTROL_BODY:
        raise PayloadTooLargeError(f"the control body is larger than {MAX_CONTROL_BODY} bytes")
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise UnsupportedMediaTypeError("send the control request as application/json")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedRequestError("the body is not valid JSON", [{"loc": ["body"], "msg": "not JSON"}]) from exc
    try:
        return ControlRequest.model_validate(data)
    except ValidationError as exc:
        errors: list[dict[str, object]] = [
            {"loc": ["body", *err["loc"]], "msg": err["msg"]} for err in exc.errors(include_url=False)
        ]
        raise ValidationFailedError('action must be one of "pause", "resume", "cancel"', errors) from exc


@dataclass(frozen=True)
class _Decision:
    before: QueueStatus
    after: QueueStatus
    noop: bool
    resume_at: datetime | None = None


def _decide(action: str, row: Any, now: datetime) -> _Decision:
    before = QueueStatus(row.status)
    if before in CONTROL_NOOP[action]:
        return _Decision(before, before, noop=True)
    after = queue_transition(before, CONTROL_TARGETS[action])
    # A paused queue that was scheduled for later keeps its start time; the sweeper wakes it then.
    later = row.scheduled_for if row.scheduled_for is not None and row.scheduled_for > now else None
    return _Decision(before, after, noop=False, resume_at=later if action == "resume" else None)


def _apply(
    action: str, queue_id: uuid.UUID, principal: Principal, *, session: Session, now: datetime
) -> tuple[_Decision, Claimed | None, int]:
    """One attempt in one transaction; ``None`` decision means the queue moved under us."""
    keys = {"queue_id": queue_id, "tenant_id": principal.tenant_id}
    row = session.execute(_READ, keys).first()
    if row is None:
        raise NotFoundError("queue not found")
    decision = _decide(action, row, now)
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
                "reason": PAUSED_BY_API,
                "resume_at": decision.resume_at,
                "cancelled": cancelled,
            },
        ).first()
        if moved is None:
            raise _Moved
        if action == "resume" and decision.resume_at is None:
            claimed = Claimed.from_row(moved)
    session.add(
        AuditEntry(
            tenant_id=principal.tenant_id,
            api_key_id=principal.api_key_id,
            client_ip=principal.client_ip,
            action=f"queue.{action}",
            queue_id=queue_id,
            before_status=decision.before.value,
            after_status=decision.after.value,
            details={"noop": decision.noop, "cancelled_contacts": cancelled},
        )
    )
    session.commit()
    return decision, claimed, cancelled


class _Moved(Exception):
    """The queue's status changed between our read and our guarded UPDATE."""


def control_queue(
    queue_ref: str,
    command: ControlRequest,
    *,
    principal: Principal,
    session: Session,
    publisher: Publisher,
    now: datetime,
) -> StatusResponse:
    """Apply ``command`` to a queue of the principal's tenant and answer with its status body."""
    queue_id = parse_queue_id(queue_ref)
    action = command.action
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            decision, claimed, cancelled = _apply(action, queue_id, principal, session=session, now=now)
            break
        except _Moved:
            session.rollback()
        except DBAPIError as exc:
            session.rollback()
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
        publish_claimed([claimed], reason="resumed", stamp=now, publisher=publisher, session=session)
    logger.info(
        "queue %s: %s -> %s",
        action,
        decision.before.value,
        decision.after.value,
        extra={
            "action": f"control.{action}",
            "queue_id": str(queue_id),
            "tenant_id": str(principal.tenant_id),
            "api_key_id": str(principal.api_key_id),
            "before": decision.before.value,
            "after": decision.after.value,
            "noop": decision.noop,
            "cancelled_contacts": cancelled,
        },
    )
    return queue_status(queue_id, tenant_id=principal.tenant_id, session=session, now=now)
