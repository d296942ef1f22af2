"""The event log's SQL (migration 0019): number committed events, read a tenant's events after an id.

Events are written by triggers; code only sequences and reads them. ``sequence`` must run in a short
transaction of its own that the caller commits at once (it holds the sequencer's advisory lock until
then).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

CHANNEL = "billing_events"
NUMBERED_CHANNEL = "billing_events_numbered"
# The most events one sequencer run numbers; a backlog larger than this takes several runs.
SEQUENCE_BATCH = 5000

_SEQUENCE = sa.text("SELECT billing_sequence_events(:limit)")
_NUMBERED = sa.text(f"SELECT pg_notify('{NUMBERED_CHANNEL}', '')")
_READ = sa.text(
    """
    SELECT e.seq, e.type, e.occurred_at,
           CASE WHEN e.queue_id IS NULL THEN e.data
                ELSE e.data || jsonb_build_object('external_id',
                                  (SELECT cp.external_id FROM billing_queues q
                                     JOIN billing_campaigns cp ON cp.id = q.campaign_id WHERE q.id = e.queue_id))
           END AS data
      FROM billing_events e
     WHERE e.tenant_id = :tenant_id AND e.seq > :after
       AND (CAST(:queue_id AS uuid) IS NULL OR e.queue_id = CAST(:queue_id AS uuid))
       AND (CAST(:types AS text[]) IS NULL OR e.type LIKE ANY (CAST(:types AS text[])))
     ORDER BY e.seq
     LIMIT :limit
    """
)
_LAST = sa.text("SELECT max(seq) FROM billing_events WHERE tenant_id = :tenant_id")


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One sequenced event as stored: ``id`` is its public id (``seq``)."""

    id: int
    type: str
    occurred_at: datetime
    data: dict[str, Any]


def sequence(conn: Connection, *, limit: int = SEQUENCE_BATCH) -> int:
    """Number up to ``limit`` committed events; -1 when another sequencer is at it (commit right after).
    Numbered events wake every listener (``NOTIFY billing_events_numbered``) when this commits."""
    numbered = int(conn.execute(_SEQUENCE, {"limit": limit}).scalar_one())
    if numbered > 0:
        conn.execute(_NUMBERED)
    return numbered


def read_after(
    conn: Connection,
    *,
    tenant_id: uuid.UUID,
    after: int,
    limit: int,
    queue_id: uuid.UUID | None = None,
    type_patterns: list[str] | None = None,
) -> list[StoredEvent]:
    """The tenant's sequenced events after ``after``, in order; ``type_patterns`` are SQL LIKE patterns."""
    rows = conn.execute(
        _READ,
        {
            "tenant_id": tenant_id,
            "after": after,
            "limit": limit,
            "queue_id": str(queue_id) if queue_id else None,
            "types": type_patterns,
        },
    ).all()
    return [StoredEvent(int(r.seq), str(r.type), r.occurred_at, dict(r.data)) for r in rows]


def last_id(conn: Connection, *, tenant_id: uuid.UUID) -> int:
    """The tenant's highest sequenced event id (0 before the first)."""
    value = conn.execute(_LAST, {"tenant_id": tenant_id}).scalar()
    return int(value or 0)
