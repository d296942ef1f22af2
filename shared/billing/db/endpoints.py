"""The deliverer's SQL over webhook endpoints (migration 0020): claim the due ones under a lease, write
back each attempt, and keep the delivery history short.

An endpoint is due when it is enabled, its next attempt has come, nobody holds a live lease on it, and
its tenant has an event after its cursor. Every write after the claim is guarded by the lease owner, so
a deliverer whose lease expired (or an operator who disabled, re-enabled or replayed the endpoint
meanwhile) changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# How many deliveries of each endpoint the sweeper keeps (``billing endpoint show``).
DELIVERIES_KEPT = 100

_DUE = """
    FROM billing_endpoints ep
    WHERE ep.enabled AND (ep.next_attempt_at IS NULL OR ep.next_attempt_at <= :now)
      AND (ep.lease_until IS NULL OR ep.lease_until < :now)
      AND ep.last_event_id < COALESCE((SELECT max(e.seq) FROM billing_events e WHERE e.tenant_id = ep.tenant_id), 0)
"""
_CLAIM = sa.text(
    f"""
    UPDATE billing_endpoints SET leased_by = :owner, lease_until = :until
    WHERE id IN (
        SELECT ep.id {_DUE}
        ORDER BY ep.next_attempt_at NULLS FIRST, ep.id LIMIT :batch
        FOR UPDATE OF ep SKIP LOCKED
    )
    RETURNING id, tenant_id, url, event_types, secret_encrypted, last_event_id, attempts, failing_since
    """  # noqa: S608
)
_ANY_DUE = sa.text(f"SELECT EXISTS (SELECT 1 {_DUE})")
_RECORD = sa.text(
    """
    UPDATE billing_endpoints
       SET last_event_id = :last_event_id, attempts = :attempts, failing_since = :failing_since,
           next_attempt_at = :next_attempt_at, enabled = :enabled, disabled_reason = :disabled_reason,
           disabled_at = :disabled_at, lease_until = :lease_until,
           leased_by = CASE WHEN CAST(:lease_until AS timestamptz) IS NULL THEN NULL ELSE leased_by END
     WHERE id = :id AND leased_by = :owner
    RETURNING tenant_id
    """
)
_DELIVERY = sa.text(
    """
    INSERT INTO billing_endpoint_deliveries (tenant_id, endpoint_id, event_id, event_type, attempt, status_code,
                                             outcome, error, duration_ms, attempted_at)
    VALUES (:tenant_id, :endpoint_id, :event_id, :event_type, :attempt, :status_code, :outcome, :error,
            :duration_ms, :attempted_at)
    """
)
_ADVANCE = sa.text(
    "UPDATE billing_endpoints SET last_event_id = GREATEST(last_event_id, :to) WHERE id = :id AND leased_by = :owner"
)
_RELEASE = sa.text(
    "UPDATE billing_endpoints SET leased_by = NULL, lease_until = NULL WHERE id = :id AND leased_by = :owner"
)
_PURGE = sa.text(
    """
    DELETE FROM billing_endpoint_deliveries d
     USING (SELECT ep.id, (SELECT x.id FROM billing_endpoint_deliveries x WHERE x.endpoint_id = ep.id
                            ORDER BY x.id DESC OFFSET :keep LIMIT 1) AS cutoff
              FROM billing_endpoints ep) c
     WHERE d.endpoint_id = c.id AND d.id <= c.cutoff
    """
)


@dataclass(frozen=True, slots=True)
class ClaimedEndpoint:
    id: uuid.UUID
    tenant_id: uuid.UUID
    url: str
    event_types: tuple[str, ...]
    secret_encrypted: str
    last_event_id: int
    attempts: int
    failing_since: datetime | None


@dataclass(frozen=True, slots=True)
class EndpointState:
    """An endpoint after an attempt. ``lease_until`` None gives the endpoint back."""

    last_event_id: int
    attempts: int = 0
    failing_since: datetime | None = None
    next_attempt_at: datetime | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    lease_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST, as ``billing endpoint show`` lists it."""

    event_id: int
    event_type: str
    attempt: int
    status_code: int | None
    outcome: str
    error: str | None
    duration_ms: int
    attempted_at: datetime


def claim_due(conn: Connection, *, now: datetime, owner: str, until: datetime, batch: int) -> list[ClaimedEndpoint]:
    rows = conn.execute(_CLAIM, {"now": now, "owner": owner, "until": until, "batch": batch}).all()
    return [
        ClaimedEndpoint(
            r.id, r.tenant_id, r.url, tuple(r.event_types or ()), r.secret_encrypted, int(r.last_event_id),
            int(r.attempts), r.failing_since,
        )
        for r in rows
    ]  # fmt: skip


def any_due(conn: Connection, *, now: datetime) -> bool:
    return bool(conn.execute(_ANY_DUE, {"now": now}).scalar_one())


def record(conn: Connection, endpoint_id: uuid.UUID, *, owner: str, state: EndpointState, attempt: Attempt) -> bool:
    """Write the endpoint's state after ``attempt`` and the attempt itself; False (nothing written) when
    ``owner`` no longer holds the endpoint."""
    params: dict[str, Any] = {"id": endpoint_id, "owner": owner, **asdict(state)}
    tenant_id = conn.execute(_RECORD, params).scalar()
    if tenant_id is None:
        return False
    conn.execute(_DELIVERY, {"tenant_id": tenant_id, "endpoint_id": endpoint_id, **asdict(attempt)})
    return True


def advance(conn: Connection, endpoint_id: uuid.UUID, *, owner: str, to: int) -> None:
    """Move the cursor past events the endpoint's filters leave out."""
    conn.execute(_ADVANCE, {"id": endpoint_id, "owner": owner, "to": to})


def release(conn: Connection, endpoint_id: uuid.UUID, *, owner: str) -> None:
    conn.execute(_RELEASE, {"id": endpoint_id, "owner": owner})


def purge_deliveries(conn: Connection, *, keep: int = DELIVERIES_KEPT) -> int:
    """Delete every delivery but the latest ``keep`` of each endpoint; returns how many went."""
    return int(getattr(conn.execute(_PURGE, {"keep": keep}), "rowcount", 0) or 0)
