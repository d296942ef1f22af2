"""The sender's SQL: lease claims, one-contact claims, outcome records and releases.

The two statements of every message (claim, outcome) are database functions (migration 0005) so that
PostgreSQL plans them once per backend; their bodies spell out the status lists derived here, and
``tests/integration/test_sender_functions.py`` checks they agree.

Every statement is guarded by the lease token (``processing_by``), so a worker whose lease was taken
over cannot overwrite the newer owner's work. Statuses come from ``billing.domain.states``; the moves
the statements make are checked against the state machines at import time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from billing.domain.states import (
    CONTACT_CLAIMABLE,
    ContactStatus,
    QueueStatus,
    contact_transition,
    queue_transition,
    sources_for,
)

_C, _Q = ContactStatus, QueueStatus
for _source in CONTACT_CLAIMABLE:
    contact_transition(_source, _C.SENDING)
for _target in (_C.SENT, _C.FAILED, _C.PENDING_RETRY, _C.PENDING, _C.UNKNOWN):
    contact_transition(_C.SENDING, _target)
for _target_q in (_Q.PENDING, _Q.PAUSED_BUSINESS_HOURS, _Q.INSTANCE_DOWN, _Q.COMPLETED):
    queue_transition(_Q.RUNNING, _target_q)


def _sql_list(values: Any) -> str:
    return ", ".join(f"'{v.value}'" for v in sorted(values))


# A resume token may wake any of these; ``scheduled`` only once its time came; ``running`` only when the
# owner's lease expired (checked for every status: a live lease is never stolen).
_RESUMABLE = _sql_list(sources_for(_Q.RUNNING) - {_Q.SCHEDULED})
_CLAIMABLE_CONTACTS = _sql_list(CONTACT_CLAIMABLE)


def _sql(template: str) -> Any:
    """Fill the status lists (constants derived from states.py, never input) into a statement."""
    return text(template.replace("__RESUMABLE__", _RESUMABLE).replace("__CLAIMABLE__", _CLAIMABLE_CONTACTS))


CLAIM_QUEUE = _sql("""
UPDATE billing_queues q
   SET status = 'running', processing_by = :token, lease_expires_at = :lease_until, last_heartbeat = :now,
       started_at = COALESCE(q.started_at, :now), resume_at = NULL, paused_reason = NULL, updated_at = :now
  FROM whatsapp_instances w
 WHERE q.id = :queue_id AND w.id = q.instance_id AND w.tenant_id = q.tenant_id
   AND (q.lease_expires_at IS NULL OR q.lease_expires_at <= :now)
   AND (q.status IN (__RESUMABLE__, 'running')
        OR (q.status = 'scheduled' AND (q.scheduled_for IS NULL OR q.scheduled_for <= :now)))
RETURNING q.id, q.tenant_id, q.instance_id, q.template_type, q.priority, q.valid_until,
          w.gateway_url, w.gateway_instance, w.api_key_encrypted, w.api_version
""")

# Contacts left ``sending`` by an earlier owner: it may have died between the gateway's answer and the
# record, so they are reported ``unknown`` and never resent.
MARK_ORPHANS_UNKNOWN = text("""
WITH orphans AS (
    UPDATE billing_contacts
       SET status = 'unknown', claimed_by = NULL, updated_at = :now,
           last_error = 'the worker stopped between the gateway call and the record'
     WHERE queue_id = :queue_id AND status = 'sending' AND claimed_by IS DISTINCT FROM :token
 RETURNING id
)
UPDATE billing_queues SET unknown = unknown + (SELECT count(*) FROM orphans)
 WHERE id = :queue_id AND processing_by = :token AND EXISTS (SELECT 1 FROM orphans)
""")

# One statement per message: heartbeat (and "still running and still ours?"), pick the next claimable
# contact with SKIP LOCKED, mark it sending, and say whether the phone is suppressed. The statement is
# the database function billing_claim_contact (migration 0005), so its plan is cached.
CLAIM_CONTACT = text("SELECT * FROM billing_claim_contact(:queue_id, :token, :now, :lease_until)")

HEARTBEAT = text("""
UPDATE billing_queues SET lease_expires_at = :lease_until, last_heartbeat = :now
 WHERE id = :queue_id AND processing_by = :token AND status = 'running'
""")

# The outcome, the queue counters and (for a sent message) the chat history in one statement; nothing
# changes unless the contact is still ours (``sending``, claimed by this token) and so is the lease.
# The database function billing_record_outcome (migration 0005); billing conversations close
# automatically, so the chat upsert appends the outgoing message and leaves the conversation closed.
RECORD_OUTCOME = text(
    """
SELECT billing_record_outcome(
    p_contact_id => :contact_id, p_queue_id => :queue_id, p_instance_id => :instance_id, p_token => :token,
    p_now => :now, p_status => :status, p_attempt_inc => :attempt_inc, p_next_attempt_at => :next_attempt_at,
    p_error => :error, p_provider_id => :provider_id, p_remote_jid => :remote_jid, p_sent_at => :sent_at,
    p_message => :message, p_rendered_on => :rendered_on, p_record_chat => :record_chat, p_d_sent => :d_sent,
    p_d_failed => :d_failed, p_d_expired => :d_expired, p_d_skipped => :d_skipped, p_d_unknown => :d_unknown,
    p_conversation_id => :conversation_id, p_message_id => :message_id
) AS recorded
"""
)

# Give a claimed contact back untouched (no attempt consumed): instance down, or a long pacing wait.
UNCLAIM_CONTACT = text("""
UPDATE billing_contacts SET status = :previous_status, claimed_by = NULL, updated_at = :now
 WHERE id = :contact_id AND status = 'sending' AND claimed_by = :token
""")

REMAINING = _sql("""
SELECT count(*) FILTER (WHERE status IN (__CLAIMABLE__, 'sending')) AS open,
       count(*) FILTER (WHERE status = 'sending') AS sending,
       min(next_attempt_at) FILTER (WHERE status = 'pending_retry') AS next_retry_at
  FROM billing_contacts
 WHERE queue_id = :queue_id AND status IN (__CLAIMABLE__, 'sending')
""")


def _release_sql() -> Any:
    mine = "status = 'running' AND CAST(:status AS varchar) IS NOT NULL"
    new_status = "CASE WHEN __MINE__ THEN CAST(:status AS varchar) ELSE status END"
    new_resume = "CASE WHEN __MINE__ THEN CAST(:resume_at AS timestamptz) ELSE resume_at END"
    template = """
UPDATE billing_queues SET
       status = __NEW_STATUS__,
       resume_at = __NEW_RESUME__,
       paused_reason = CASE WHEN __MINE__ THEN CAST(:reason AS varchar) ELSE paused_reason END,
       completed_at = CASE WHEN __MINE__ AND :status = 'completed' THEN :now ELSE completed_at END,
       published_at = CASE WHEN __NEW_STATUS__ = 'pending' AND __NEW_RESUME__ IS NULL THEN NULL
                           WHEN __MINE__ THEN :now ELSE published_at END,
       processing_by = NULL, lease_expires_at = NULL, last_heartbeat = :now, updated_at = :now
 WHERE id = :queue_id AND processing_by = :token
RETURNING status, resume_at, published_at
"""
    sql = template.replace("__NEW_STATUS__", new_status).replace("__NEW_RESUME__", new_resume)
    return text(sql.replace("__MINE__", mine))


# Release the lease. With ``status`` set (and the queue still ``running``) move it there; a queue the
# control function paused, cancelled or resumed meanwhile keeps its status. A ``pending`` queue without
# ``resume_at`` needs a token: ``published_at`` goes NULL until the continuation is confirmed (the sweeper
# republishes if we die first); a parked queue is marked published, the sweeper wakes it at ``resume_at``.
RELEASE = _release_sql()

MARK_PUBLISHED = text("""
UPDATE billing_queues SET published_at = :now WHERE id = :queue_id AND published_at IS NULL
""")

# The one place an instance's connection state is recorded (sender, sweeper and webhook).
RECORD_HEALTH = text("""
UPDATE whatsapp_instances SET health_state = :state, health_checked_at = :now WHERE id = :instance_id
""")

VARIATION_BODY = text("SELECT body FROM template_variations WHERE id = :variation_id AND tenant_id = :tenant_id")


@dataclass(frozen=True, slots=True)
class ClaimedQueue:
    id: str
    tenant_id: str
    instance_id: str
    template_type: str
    priority: int
    valid_until: datetime | None
    gateway_url: str
    gateway_instance: str
    api_key_encrypted: str
    api_version: str


@dataclass(frozen=True, slots=True)
class ClaimedContact:
    id: str
    tenant_id: str
    phone: str
    name: str | None
    due_date: date | None
    amount: Decimal | None
    invoice_id: str | None
    payment_link: str | None
    pix_code: str | None
    variables: dict[str, Any] | None
    variation_id: str | None
    message: str
    rendered_on: date
    attempts: int
    next_attempt_at: datetime | None
    previous_status: str
    suppressed: bool


def _params(**values: Any) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in values.items()}


def claim_queue(
    conn: Connection, *, queue_id: uuid.UUID, token: str, now: datetime, lease_until: datetime
) -> ClaimedQueue | None:
    row = (
        conn.execute(CLAIM_QUEUE, _params(queue_id=queue_id, token=token, now=now, lease_until=lease_until))
        .mappings()
        .first()
    )
    if row is None:
        return None
    conn.execute(MARK_ORPHANS_UNKNOWN, _params(queue_id=queue_id, token=token, now=now))
    return ClaimedQueue(
        id=str(row["id"]),
        tenant_id=str(row["tenant_id"]),
        instance_id=str(row["instance_id"]),
        template_type=row["template_type"],
        priority=int(row["priority"]),
        valid_until=row["valid_until"],
        gateway_url=row["gateway_url"],
        gateway_instance=row["gateway_instance"],
        api_key_encrypted=row["api_key_encrypted"],
        api_version=row["api_version"],
    )


@dataclass(frozen=True)
class ContactClaim:
    lease_ok: bool  # the lease is still ours and the queue still running
    instance_closed: bool  # the gateway reported the instance closed (nothing was claimed)
    contact: ClaimedContact | None  # None when nothing is claimable now


def claim_contact(
    conn: Connection, *, queue_id: str, token: str, now: datetime, lease_until: datetime
) -> ContactClaim:
    row = (
        conn.execute(CLAIM_CONTACT, _params(queue_id=queue_id, token=token, now=now, lease_until=lease_until))
        .mappings()
        .one()
    )
    if not row["lease_ok"] or row["id"] is None:
        return ContactClaim(bool(row["lease_ok"]), bool(row["instance_closed"]), None)
    values = {k: v for k, v in row.items() if k not in {"lease_ok", "instance_closed"}}
    for key in ("id", "tenant_id", "variation_id"):
        values[key] = None if values[key] is None else str(values[key])
    return ContactClaim(True, False, ClaimedContact(**values))


def heartbeat(conn: Connection, *, queue_id: str, token: str, now: datetime, lease_until: datetime) -> bool:
    result = conn.execute(HEARTBEAT, _params(queue_id=queue_id, token=token, now=now, lease_until=lease_until))
    return bool(result.rowcount)


def record_outcome(conn: Connection, *, record_chat: bool, **values: Any) -> bool:
    """Record one outcome (and the chat history when ``record_chat``); False when the lease was lost."""
    ids = {"conversation_id": str(uuid.uuid4()), "message_id": str(uuid.uuid4())}
    return bool(conn.execute(RECORD_OUTCOME, _params(record_chat=record_chat, **ids, **values)).scalar_one())


def unclaim_contact(conn: Connection, *, contact_id: str, previous_status: str, token: str, now: datetime) -> None:
    conn.execute(UNCLAIM_CONTACT, _params(contact_id=contact_id, previous_status=previous_status, token=token, now=now))


def remaining(conn: Connection, *, queue_id: str) -> tuple[int, int, datetime | None]:
    row = conn.execute(REMAINING, _params(queue_id=queue_id)).one()
    return int(row.open), int(row.sending), row.next_retry_at


def release(
    conn: Connection,
    *,
    queue_id: str,
    token: str,
    now: datetime,
    status: QueueStatus | None,
    resume_at: datetime | None = None,
    reason: str | None = None,
) -> tuple[str, datetime | None, datetime | None] | None:
    """Release the lease; returns the queue's (status, resume_at, published_at), None if it was not ours."""
    row = conn.execute(
        RELEASE,
        _params(
            queue_id=queue_id,
            token=token,
            now=now,
            status=None if status is None else status.value,
            resume_at=resume_at,
            reason=reason,
        ),
    ).first()
    return None if row is None else (row.status, row.resume_at, row.published_at)


def mark_published(conn: Connection, *, queue_id: str, now: datetime) -> None:
    conn.execute(MARK_PUBLISHED, _params(queue_id=queue_id, now=now))


def mark_instance_health(
    conn: Connection | Session, *, instance_id: str | uuid.UUID, state: str, now: datetime
) -> None:
    conn.execute(RECORD_HEALTH, _params(instance_id=instance_id, state=state, now=now))


def variation_body(conn: Connection, *, variation_id: str, tenant_id: str) -> str | None:
    value = conn.execute(VARIATION_BODY, _params(variation_id=variation_id, tenant_id=tenant_id)).scalar()
    return None if value is None else str(value)
