"""The sweeper's claiming statements, one per step. Each is a single guarded UPDATE ... RETURNING whose
candidates are picked with ``FOR UPDATE SKIP LOCKED``, so two sweepers running at once split the work
instead of doing it twice, and a step run again finds nothing left to do.

Queues handed to the broker are claimed by setting ``published_at`` in the same statement (see
``billing.services.publishing``); the caller commits, then publishes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from billing.services.publishing import CLAIM_RETURNING, Claimed

# A queue whose token a send function (or a releasing sender) is publishing right now has
# ``published_at`` NULL for a moment: leave such fresh rows alone.
UNPUBLISHED_GRACE = timedelta(seconds=15)
UNKNOWN_REASON = "the worker stopped between the gateway's answer and the record; not resent"
# Queue leases are gone (0008); the guard stays for rows an older version left behind.
_LEASE_GONE = "(processing_by IS NULL OR lease_expires_at IS NULL OR lease_expires_at < :now)"

# Contacts claimed longer ago than the longest a gateway call and its record can take: the sender died
# mid-call (or its database stayed away). They may have gone out, so they are reported, never resent.
_STALE = sa.text(
    """
    WITH lost AS (
        UPDATE billing_contacts c
        SET status = 'unknown', claimed_by = NULL, updated_at = :now,
            last_error = COALESCE(c.last_error, :reason)
        WHERE c.id IN (SELECT id FROM billing_contacts WHERE status = 'sending' AND updated_at < :before
                        ORDER BY updated_at LIMIT :batch FOR UPDATE SKIP LOCKED)
        RETURNING c.queue_id
    ), counts AS (
        SELECT queue_id, count(*) AS n FROM lost GROUP BY queue_id
    )
    UPDATE billing_queues q SET unknown = q.unknown + counts.n, updated_at = :now
    FROM counts WHERE q.id = counts.queue_id
    RETURNING q.id, counts.n AS lost
    """
)

# Runnable queues with nothing left open (their last outcome raced another, or the stale step above
# settled their last contacts): completed.
_FINISHED = sa.text(
    """
    SELECT billing_complete_if_done(q.id, :now) AS done FROM billing_queues q
    WHERE q.status IN ('pending', 'running')
      AND NOT EXISTS (SELECT 1 FROM billing_contacts c
                       WHERE c.queue_id = q.id AND c.status IN ('pending', 'pending_retry', 'sending'))
    LIMIT :batch
    """
)

_UNPUBLISHED = sa.text(
    f"""
    UPDATE billing_queues SET published_at = :now
    WHERE id IN (
        SELECT id FROM billing_queues
        WHERE published_at IS NULL AND status = 'pending'
          AND (resume_at IS NULL OR resume_at <= :now) AND {_LEASE_GONE}
          AND GREATEST(created_at, updated_at, COALESCE(last_heartbeat, created_at)) < :settled
        ORDER BY priority DESC, created_at LIMIT :batch
        FOR UPDATE SKIP LOCKED
    ) AND published_at IS NULL
    {CLAIM_RETURNING}
    """  # noqa: S608
)

_WAKE = (
    "UPDATE billing_queues SET status = 'pending', published_at = :now, resume_at = NULL, paused_reason = NULL, "  # noqa: S608
    "updated_at = :now WHERE id IN (SELECT id FROM billing_queues WHERE {where} AND " + _LEASE_GONE + " "
    "ORDER BY priority DESC, {order} LIMIT :batch FOR UPDATE SKIP LOCKED) " + CLAIM_RETURNING
)
_SCHEDULED = sa.text(_WAKE.format(where="status = 'scheduled' AND scheduled_for <= :now", order="scheduled_for"))
_RESUMABLE = sa.text(
    _WAKE.format(where="status IN ('pending', 'paused_business_hours') AND resume_at <= :now", order="resume_at")
)

_INSTANCES_TO_CHECK = sa.text(
    """
    UPDATE whatsapp_instances i SET health_checked_at = :now
    WHERE i.id IN (
        SELECT DISTINCT q.instance_id FROM billing_queues q
        WHERE q.status = 'instance_down'
          AND (q.processing_by IS NULL OR q.lease_expires_at IS NULL OR q.lease_expires_at < :now)
        LIMIT :batch
    ) AND (i.health_checked_at IS NULL OR i.health_checked_at < :recheck_before)
    RETURNING i.id, i.tenant_id, i.name, i.gateway_url, i.gateway_instance, i.api_key_encrypted, i.api_version
    """
)
_INSTANCE = sa.text(
    "SELECT id, tenant_id, name, gateway_url, gateway_instance, api_key_encrypted, api_version "
    "FROM whatsapp_instances WHERE id = :instance_id"
)
_RECOVER = sa.text(
    f"""
    UPDATE billing_queues SET status = 'pending', paused_reason = NULL, resume_at = NULL, published_at = :now,
        updated_at = :now
    WHERE instance_id = :instance_id AND status = 'instance_down' AND {_LEASE_GONE}
    {CLAIM_RETURNING}
    """  # noqa: S608
)


@dataclass(frozen=True)
class StaleResult:
    released: int
    unknown_contacts: int
    completed: int = 0


@dataclass(frozen=True)
class InstanceRow:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    gateway_url: str
    gateway_instance: str
    api_key_encrypted: str
    api_version: str

    @classmethod
    def from_row(cls, row: Any) -> InstanceRow:
        return cls(
            row.id,
            row.tenant_id,
            row.name,
            row.gateway_url,
            row.gateway_instance,
            row.api_key_encrypted,
            row.api_version,
        )


def release_stale(*, session: Session, now: datetime, batch: int, claim_timeout: timedelta) -> StaleResult:
    """Contacts ``sending`` for longer than ``claim_timeout`` -> ``unknown``; finished queues completed.
    Not committed."""
    rows = session.execute(
        _STALE, {"now": now, "batch": batch, "reason": UNKNOWN_REASON, "before": now - claim_timeout}
    ).all()
    completed = session.execute(_FINISHED, {"now": now, "batch": batch}).all()
    return StaleResult(
        released=len(rows),
        unknown_contacts=sum(int(r.lost) for r in rows),
        completed=sum(int(r.done) for r in completed),
    )


def claim_unpublished(*, session: Session, now: datetime, batch: int) -> list[Claimed]:
    rows = session.execute(_UNPUBLISHED, {"now": now, "batch": batch, "settled": now - UNPUBLISHED_GRACE}).all()
    return [Claimed.from_row(r) for r in rows]


def claim_scheduled(*, session: Session, now: datetime, batch: int) -> list[Claimed]:
    return [Claimed.from_row(r) for r in session.execute(_SCHEDULED, {"now": now, "batch": batch}).all()]


def claim_resumable(*, session: Session, now: datetime, batch: int) -> list[Claimed]:
    return [Claimed.from_row(r) for r in session.execute(_RESUMABLE, {"now": now, "batch": batch}).all()]


def claim_instances_to_check(
    *, session: Session, now: datetime, batch: int, recheck_after: timedelta
) -> list[InstanceRow]:
    rows = session.execute(
        _INSTANCES_TO_CHECK, {"now": now, "batch": batch, "recheck_before": now - recheck_after}
    ).all()
    return [InstanceRow.from_row(r) for r in rows]


def load_instance(instance_id: uuid.UUID, *, session: Session) -> InstanceRow | None:
    row = session.execute(_INSTANCE, {"instance_id": instance_id}).first()
    return InstanceRow.from_row(row) if row is not None else None



def claim_recovered(instance_id: uuid.UUID, *, session: Session, now: datetime) -> list[Claimed]:
    rows = session.execute(_RECOVER, {"instance_id": instance_id, "now": now}).all()
    return [Claimed.from_row(r) for r in rows]
