"""Sweeper upkeep beyond the four steps: queues whose token was lost after it was confirmed, receipts
that arrived before the sender stored their message id, old receipts and expired rate-limit windows.

All set-based and safe with two sweepers at once (claims use ``FOR UPDATE SKIP LOCKED``; catching up a
receipt locks its contact and only ever raises its level).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from billing.domain.receipts import GATEWAY_LEVELS, ReceiptLevel
from billing.services.publishing import CLAIM_RETURNING, Claimed

# A confirmed token can still be lost (a broker failure before it was persisted, a purged queue). A
# pending queue nobody touched for this long is published again; a duplicate token claims nothing.
STRANDED_AFTER = timedelta(minutes=10)
RECEIPT_RETENTION = timedelta(days=7)
CATCH_UP_WINDOW = timedelta(days=1)

_STRANDED = sa.text(
    f"""
    UPDATE billing_queues SET published_at = :now, updated_at = :now
    WHERE id IN (
        SELECT id FROM billing_queues
        WHERE status = 'pending' AND published_at IS NOT NULL AND published_at < :before
          AND updated_at < :before AND (resume_at IS NULL OR resume_at <= :now)
          AND (processing_by IS NULL OR lease_expires_at IS NULL OR lease_expires_at < :now)
        ORDER BY priority DESC, updated_at LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    {CLAIM_RETURNING}
    """  # noqa: S608
)

def _case(column: str, levels: dict[str, int]) -> str:
    """SQL for "the receipt level of ``column``", from the one mapping the webhook uses."""
    branches = " ".join(f"WHEN '{name}' THEN {int(level)}" for name, level in levels.items())
    return f"CASE {column} {branches} ELSE 0 END"


_GATEWAY_LEVEL = _case("r.status", dict(GATEWAY_LEVELS))
_CONTACT_LEVEL = _case(
    "c.delivery_status", {level.label: level for level in ReceiptLevel if level.label is not None}
)
_LAGGING = sa.text(
    f"""
    SELECT r.tenant_id, r.provider_message_id
    FROM webhook_receipts r
    JOIN billing_contacts c ON c.tenant_id = r.tenant_id AND c.provider_message_id = r.provider_message_id
    WHERE r.received_at > :since
    GROUP BY r.tenant_id, r.provider_message_id, c.delivery_status
    HAVING max({_GATEWAY_LEVEL}) > {_CONTACT_LEVEL}
    LIMIT :batch
    """  # noqa: S608
)
_PURGE_RECEIPTS = sa.text("DELETE FROM webhook_receipts WHERE received_at < :before")
_PURGE_RATE_LIMITS = sa.text("DELETE FROM rate_limit_buckets WHERE expires_at < :now")


def claim_stranded(*, session: Session, now: datetime, batch: int) -> list[Claimed]:
    rows = session.execute(_STRANDED, {"now": now, "before": now - STRANDED_AFTER, "batch": batch}).all()
    return [Claimed.from_row(r) for r in rows]


def catch_up_receipts(*, session: Session, now: datetime, batch: int) -> int:
    """Apply receipts that overtook the sender's record of the message id. Returns contacts moved."""
    from billing.services.inbound.receipts import catch_up_receipts as catch_up

    moved = 0
    for tenant_id, key_id in session.execute(_LAGGING, {"since": now - CATCH_UP_WINDOW, "batch": batch}).all():
        if catch_up(tenant_id, key_id, session=session, now=now).advanced:
            moved += 1
    return moved


def _deleted(result: Any) -> int:
    """Rows a DELETE removed."""
    return int(getattr(result, "rowcount", 0) or 0)


def purge_receipts(*, session: Session, now: datetime) -> int:
    return _deleted(session.execute(_PURGE_RECEIPTS, {"before": now - RECEIPT_RETENTION}))


def purge_rate_limits(*, session: Session, now: datetime) -> int:
    """Delete the rate-limit windows that are over (the guard only ever counts the current one)."""
    return _deleted(session.execute(_PURGE_RATE_LIMITS, {"now": now}))


# Retention (LGPD minimisation): what is older than the tenant's retention_days goes, one bounded batch
# of each kind per tick. Contacts only of finished queues (their counters stay on the queue row);
# a conversation with nothing newer goes whole (its messages cascade); audit entries by age.
_RETAINED = "make_interval(days => g.retention_days)"
_PURGE_CONTACTS = sa.text(
    f"""
    DELETE FROM billing_contacts WHERE id IN (
        SELECT c.id FROM billing_contacts c
        JOIN billing_queues q ON q.id = c.queue_id
        JOIN billing_configs g ON g.tenant_id = q.tenant_id
        WHERE q.status IN ('completed', 'cancelled', 'failed') AND q.completed_at < :now - {_RETAINED}
        LIMIT :batch
    )
    """  # noqa: S608
)
_PURGE_MESSAGES = sa.text(
    f"""
    DELETE FROM messages WHERE id IN (
        SELECT m.id FROM messages m JOIN billing_configs g ON g.tenant_id = m.tenant_id
        WHERE m.created_at < :now - {_RETAINED} LIMIT :batch
    )
    """  # noqa: S608
)
_PURGE_CONVERSATIONS = sa.text(
    f"""
    DELETE FROM conversations WHERE id IN (
        SELECT v.id FROM conversations v JOIN billing_configs g ON g.tenant_id = v.tenant_id
        WHERE COALESCE(v.last_message_at, v.created_at) < :now - {_RETAINED} LIMIT :batch
    )
    """  # noqa: S608
)
_PURGE_AUDIT = sa.text(
    f"""
    DELETE FROM audit_entries WHERE id IN (
        SELECT a.id FROM audit_entries a JOIN billing_configs g ON g.tenant_id = a.tenant_id
        WHERE a.created_at < :now - {_RETAINED} LIMIT :batch
    )
    """  # noqa: S608
)
# Events hold phones and invoice ids like the contacts they describe. Only numbered ones go, and never
# the newest: the sequencer numbers on from the highest id left, so ids are never given twice.
_PURGE_EVENTS = sa.text(
    f"""
    DELETE FROM billing_events WHERE id IN (
        SELECT e.id FROM billing_events e JOIN billing_configs g ON g.tenant_id = e.tenant_id
        WHERE e.occurred_at < :now - {_RETAINED} AND e.seq IS NOT NULL
          AND e.seq < (SELECT max(seq) FROM billing_events WHERE seq IS NOT NULL)
        LIMIT :batch
    )
    """  # noqa: S608
)
RETENTION_BATCH = 1000


def purge_retained(*, session: Session, now: datetime, batch: int = RETENTION_BATCH) -> int:
    """Delete one batch of each kind of data past its tenant's retention; returns rows deleted."""
    deleted = 0
    for statement in (_PURGE_CONTACTS, _PURGE_MESSAGES, _PURGE_CONVERSATIONS, _PURGE_AUDIT, _PURGE_EVENTS):
        deleted += _deleted(session.execute(statement, {"now": now, "batch": batch}))
    return deleted
