"""The sender's SQL: claim due pacing slots, record outcomes, give a claim back, find the next due slot.

``billing_dispatch`` and ``billing_record_send`` are database functions (migration 0008) so PostgreSQL
plans them once per backend. A claim is guarded by its token (``billing_contacts.claimed_by``): an
outcome is recorded only while the contact is still ``sending`` under that token, so a retry after a
lost commit, or a record after the sweeper reported the contact ``unknown``, changes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from billing.db.claims import ClaimedContact
from billing.domain.states import ContactStatus, QueueStatus, contact_transition, queue_transition

_C, _Q = ContactStatus, QueueStatus
for _source in (_C.PENDING, _C.PENDING_RETRY):
    contact_transition(_source, _C.SENDING)
contact_transition(_C.SENDING, _C.PENDING)  # a claim given back (pending_retry goes back to pending)
for _target in (_C.SENT, _C.FAILED, _C.PENDING_RETRY, _C.UNKNOWN, _C.EXPIRED, _C.SKIPPED):
    contact_transition(_C.SENDING, _target)
for _target_q in (_Q.PAUSED_BUSINESS_HOURS, _Q.INSTANCE_DOWN, _Q.COMPLETED):
    queue_transition(_Q.RUNNING, _target_q)
queue_transition(_Q.PENDING, _Q.RUNNING)

DISPATCH = text(
    "SELECT * FROM billing_dispatch(:now, :claim, :limit, :pacing_off, :check_before, CAST(:busy AS uuid[]),"
    " CAST(:outcomes AS jsonb))"
)

_OUTCOME_COLUMNS = (
    "contact_id uuid, queue_id uuid, instance_id uuid, claim text, now timestamptz, status text, "
    "attempt_inc integer, next_attempt_at timestamptz, error text, provider_id text, remote_jid text, "
    "sent_at timestamptz, message text, rendered_on date, record_chat boolean, d_sent integer, "
    "d_failed integer, d_expired integer, d_skipped integer, d_unknown integer, conversation_id uuid, "
    "message_id uuid, slot_move_s double precision, slot timestamptz"
)
_OUTCOME_ARGS = ", ".join(column.split()[0] for column in _OUTCOME_COLUMNS.split(", "))
# Outcomes to record without a claim (a round that stops, or the last try after an error), in one
# statement and in the lock order billing_dispatch uses (by queue, then contact).
RECORD = text(
    f"SELECT coalesce(sum(billing_record_send({_OUTCOME_ARGS})), 0) AS recorded "  # noqa: S608 - fixed columns
    f"FROM (SELECT * FROM jsonb_to_recordset(CAST(:outcomes AS jsonb)) AS r({_OUTCOME_COLUMNS}) "
    "ORDER BY r.queue_id, r.contact_id) AS x"
)

# The slot a given-back claim took is returned unless someone moved the instance's slot since.
# Never waits: an instance locked by another sender is being claimed; its slot then simply stays taken
# (one gap later), which also spares a lock-order deadlock with that sender's own writes.
RESTORE_SLOT = text("""
UPDATE whatsapp_instances
   SET next_send_at = :previous, daily_count = GREATEST(daily_count - 1, 0)
 WHERE id = (SELECT id FROM whatsapp_instances WHERE id = :instance_id AND next_send_at = :taken
               FOR NO KEY UPDATE SKIP LOCKED)
""")

# A call about to start later than its slot's reserve allows moves the instance's next slot by as
# much, but only while that slot is still the one this claim set (nobody has claimed after it); never
# waits for a lock. Returns where the slot now is, as the database rounded it.
SHIFT_SLOT = text("""
UPDATE whatsapp_instances SET next_send_at = next_send_at + make_interval(secs => :late_s)
 WHERE id = (SELECT id FROM whatsapp_instances WHERE id = :instance_id AND next_send_at = :taken
               FOR NO KEY UPDATE SKIP LOCKED)
RETURNING next_send_at
""")

PARK_QUEUE = text("""
UPDATE billing_queues
   SET status = :status, resume_at = :resume_at, paused_reason = :reason, updated_at = :now, published_at = :now
 WHERE id = :queue_id AND status IN ('pending', 'running')
""")

INSTANCE_DOWN = text("""
WITH inst AS (
    UPDATE whatsapp_instances SET health_state = :state, health_checked_at = :now WHERE id = :instance_id
    RETURNING id
)
UPDATE billing_queues
   SET status = 'instance_down', paused_reason = :reason, resume_at = NULL, updated_at = :now
 WHERE instance_id = (SELECT id FROM inst) AND status IN ('pending', 'running')
""")

# A round's answers in one statement per kind, whatever their number (a burst of first sends brings a
# health check per instance, and a busy process gives some claims back): contacts given back (a
# re-rendered message kept, so the next claim need not render it again) ...
GIVE_BACK_MANY = text("""
UPDATE billing_contacts bc
   SET status = g.previous_status, claimed_by = NULL, updated_at = :now,
       message = COALESCE(g.message, bc.message), rendered_on = COALESCE(g.rendered_on, bc.rendered_on)
  FROM jsonb_to_recordset(CAST(:items AS jsonb))
       AS g(contact_id uuid, claim text, previous_status text, message text, rendered_on date)
 WHERE bc.id = g.contact_id AND bc.status = 'sending' AND bc.claimed_by = g.claim
""")

# ... the slots they took (as RESTORE_SLOT: only where nobody moved the slot since, never waiting, rows
# locked by id) ...
RESTORE_SLOTS = text("""
WITH r AS (
    SELECT * FROM jsonb_to_recordset(CAST(:items AS jsonb))
                  AS x(instance_id uuid, previous timestamptz, taken timestamptz)
)
UPDATE whatsapp_instances w
   SET next_send_at = r.previous, daily_count = GREATEST(w.daily_count - 1, 0)
  FROM r
 WHERE w.id = r.instance_id AND w.next_send_at = r.taken
   AND w.id IN (SELECT wi.id FROM whatsapp_instances wi JOIN r ON wi.id = r.instance_id AND wi.next_send_at = r.taken
                 ORDER BY wi.id FOR NO KEY UPDATE OF wi SKIP LOCKED)
""")

# ... and the instances a health check found open (locked by id, the order every sender uses), unless
# someone recorded the instance's state after the claim stamped the check (the webhook reporting it
# closed meanwhile, the sweeper's recovery check): that newer word stands.
HEALTH_OPEN_MANY = text("""
WITH o AS (
    SELECT * FROM jsonb_to_recordset(CAST(:items AS jsonb)) AS x(instance_id uuid, checked_at timestamptz)
)
UPDATE whatsapp_instances w SET health_state = 'open', health_checked_at = :now
  FROM o
 WHERE w.id = o.instance_id AND (w.health_checked_at IS NULL OR w.health_checked_at <= o.checked_at)
   AND w.id IN (SELECT id FROM whatsapp_instances WHERE id IN (SELECT instance_id FROM o) ORDER BY id
                   FOR NO KEY UPDATE)
""")

# The instance rows a round is about to write health on, locked in id order first, as every sender
# locks them, so two rounds writing downs and opens of the same instances cannot wait on each other.
LOCK_INSTANCES = text("""
SELECT id FROM whatsapp_instances WHERE id = ANY (CAST(:ids AS uuid[])) ORDER BY id FOR NO KEY UPDATE
""")

# Is any slot due now with work behind it? (the sweeper's tick wakes dispatch when so)
ANY_DUE = text("""
SELECT EXISTS (
    SELECT 1 FROM whatsapp_instances i
     WHERE (i.next_send_at IS NULL OR i.next_send_at <= :now)
       AND (i.health_state IS NULL OR i.health_state NOT IN ('close', 'auth_failed'))
       AND EXISTS (SELECT 1 FROM billing_queues q
                    WHERE q.instance_id = i.id
                      AND (q.status IN ('pending', 'running') AND (q.resume_at IS NULL OR q.resume_at <= :now)
                           OR q.status = 'paused_business_hours' AND q.resume_at <= :now)
                      AND EXISTS (SELECT 1 FROM billing_contacts c
                                   WHERE c.queue_id = q.id AND (c.status = 'pending'
                                      OR (c.status = 'pending_retry' AND c.next_attempt_at <= :now))))
)
""")


@dataclass(frozen=True, slots=True)
class SlotInstance:
    """The instance a slot belongs to, with what the gateway client needs (a ``GatewayInstance``)."""

    id: str
    tenant_id: str
    gateway_url: str
    gateway_instance: str
    api_key_encrypted: str
    api_version: str


@dataclass(frozen=True, slots=True)
class SlotClaim:
    """One row of ``billing_dispatch``: ``kind`` is send, check, down or cap; ``contact`` only for send."""

    kind: str
    instance: SlotInstance
    claim: str
    claimed_at: datetime
    previous_slot: datetime | None
    slot: datetime | None
    queue_id: str | None
    template_type: str | None
    valid_until: datetime | None
    contact: ClaimedContact | None
    campaign_id: str | None = None
    settings_version: int | None = None  # the tenant's, as the claim read it (0021)


_CONTACT_FIELDS = ClaimedContact.__slots__


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def claim_slots(
    conn: Connection,
    *,
    now: datetime,
    claim: str,
    limit: int,
    pacing_off: bool,
    check_before: datetime,
    busy: list[str] | None = None,
    outcomes: list[dict[str, Any]] | None = None,
) -> tuple[list[SlotClaim], datetime | None, int]:
    """Record ``outcomes`` first (same statement), then claim up to ``limit`` due slots, skipping the
    instances in ``busy`` (calls in flight on them). Returns the claims, the next due instant when
    nothing was claimed, and how many outcomes were still ours to record."""
    params = {
        "now": now,
        "claim": claim,
        "limit": limit,
        "pacing_off": pacing_off,
        "check_before": check_before,
        "busy": busy or [],
        "outcomes": _outcomes_json(outcomes) if outcomes else None,
    }
    rows = conn.execute(DISPATCH, params).mappings()
    claims = []
    next_due: datetime | None = None
    recorded = 0
    for row in rows:
        if row["kind"] == "next":
            next_due, recorded = row["next_send_at"], int(row["attempts"] or 0)
            continue
        instance = SlotInstance(
            str(row["instance_id"]),
            str(row["tenant_id"]),
            row["gateway_url"],
            row["gateway_instance"],
            row["api_key_encrypted"],
            row["api_version"],
        )
        contact = None
        if row["kind"] == "send":
            values = {name: row[name] for name in _CONTACT_FIELDS}
            for key in ("id", "tenant_id", "variation_id"):
                values[key] = _str(values[key])
            contact = ClaimedContact(**values)
        claims.append(
            SlotClaim(
                kind=row["kind"],
                instance=instance,
                claim=claim,
                claimed_at=now,
                previous_slot=row["prev_next_send_at"],
                slot=row["next_send_at"],
                queue_id=_str(row["queue_id"]),
                template_type=row["template_type"],
                valid_until=row["valid_until"],
                contact=contact,
                campaign_id=_str(row.get("campaign_id")),
                settings_version=row.get("settings_version"),
            )
        )
    return claims, next_due, recorded


def _outcomes_json(outcomes: list[dict[str, Any]]) -> str:
    rows = [{**outcome, "conversation_id": str(uuid.uuid4()), "message_id": str(uuid.uuid4())} for outcome in outcomes]
    return json.dumps(rows, default=str)


def record_outcomes(conn: Connection, outcomes: list[dict[str, Any]]) -> int:
    """Record every outcome in one statement; returns how many were still ours to record."""
    if not outcomes:
        return 0
    return int(conn.execute(RECORD, {"outcomes": _outcomes_json(outcomes)}).scalar_one())


def return_slot(conn: Connection, claim: SlotClaim) -> None:
    """Give the instance back the slot ``claim`` took (no message went out on it), unless it was
    taken again since."""
    if claim.slot is not None and claim.slot != claim.previous_slot:
        conn.execute(
            RESTORE_SLOT, {"instance_id": claim.instance.id, "previous": claim.previous_slot, "taken": claim.slot}
        )


def give_back_many(
    conn: Connection,
    items: Sequence[tuple[SlotClaim, bool, tuple[str, date] | None]],
    *,
    now: datetime,
) -> None:
    """``give_back`` for a round's worth of ``(claim, restore_slot, keep)``: the contacts in one
    statement, then their slots (``return_slots``)."""
    if not items:
        return
    contacts = []
    for claim, _, keep in sorted(items, key=lambda item: _contact_id(item[0])):
        message, rendered_on = keep if keep is not None else (None, None)
        contacts.append(
            {
                "contact_id": _contact_id(claim),
                "claim": claim.claim,
                "previous_status": _previous_status(claim),
                "message": message,
                "rendered_on": None if rendered_on is None else rendered_on.isoformat(),
            }
        )
    conn.execute(GIVE_BACK_MANY, {"items": json.dumps(contacts), "now": now})
    return_slots(conn, [claim for claim, restore, _ in items if restore])


def return_slots(conn: Connection, claims: Sequence[SlotClaim]) -> None:
    """``return_slot`` for several claims, in one statement (one by one, in order, when an instance
    appears twice: each restore undoes the slot the one before it may have set)."""
    taken = [claim for claim in claims if _slot_taken(claim)]
    if len({claim.instance.id for claim in taken}) < len(taken):
        for claim in taken:
            return_slot(conn, claim)
        return
    items = [
        {
            "instance_id": claim.instance.id,
            "previous": None if claim.previous_slot is None else claim.previous_slot.isoformat(),
            "taken": claim.slot.isoformat() if claim.slot is not None else None,
        }
        for claim in taken
    ]
    if items:
        conn.execute(RESTORE_SLOTS, {"items": json.dumps(items)})


def _slot_taken(claim: SlotClaim) -> bool:
    return claim.slot is not None and claim.slot != claim.previous_slot


def _contact_id(claim: SlotClaim) -> str:
    assert claim.contact is not None
    return str(claim.contact.id)


def _previous_status(claim: SlotClaim) -> str:
    assert claim.contact is not None
    return str(claim.contact.previous_status)


def shift_slot(conn: Connection, claim: SlotClaim, *, late_s: float) -> datetime | None:
    """Move the instance's next slot by ``late_s``; returns where it now is, or None when it was
    claimed again meanwhile."""
    if claim.slot is None:
        return None
    params = {"instance_id": claim.instance.id, "taken": claim.slot, "late_s": late_s}
    moved: datetime | None = conn.execute(SHIFT_SLOT, params).scalar_one_or_none()
    return moved


def park_queue(
    conn: Connection, *, queue_id: str, status: QueueStatus, resume_at: datetime | None, reason: str, now: datetime
) -> bool:
    result = conn.execute(
        PARK_QUEUE,
        {"queue_id": queue_id, "status": status.value, "resume_at": resume_at, "reason": reason, "now": now},
    )
    return bool(result.rowcount)


def instance_down(conn: Connection, *, instance_id: str, reason: str, now: datetime, state: str = "close") -> int:
    """Record the instance ``close`` (or ``auth_failed``) and park its runnable queues ``instance_down``;
    returns how many."""
    params = {"instance_id": instance_id, "reason": reason[:200], "now": now, "state": state}
    return int(conn.execute(INSTANCE_DOWN, params).rowcount)


def instances_open(conn: Connection, *, checks: Sequence[tuple[str, datetime]], now: datetime) -> None:
    """Record open the instances of ``checks`` (instance id, when its check was claimed), in one
    statement; an instance whose state was recorded after its check was claimed is left as it is."""
    if checks:
        items = [{"instance_id": i, "checked_at": at.isoformat()} for i, at in dict(checks).items()]
        conn.execute(HEALTH_OPEN_MANY, {"items": json.dumps(items), "now": now})


def lock_instances(conn: Connection, instance_ids: Sequence[str]) -> None:
    if instance_ids:
        conn.execute(LOCK_INSTANCES, {"ids": sorted(set(instance_ids))})


def any_due(conn: Connection, *, now: datetime) -> bool:
    return bool(conn.execute(ANY_DUE, {"now": now}).scalar())
