"""Per-instance send slots, shared by every queue and replica on that WhatsApp instance.

One statement locks the instance row, reads its next free instant and the day's count, and advances
``next_send_at`` by the (jittered) gap only when the slot is near enough to sleep for and the daily cap
allows it. A slot that is too far away, or a full day, is not consumed: the caller parks the queue.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from billing.domain.pacing import interval_seconds, jittered

TAKE_SLOT = text("""
WITH cur AS (
    SELECT id, GREATEST(COALESCE(next_send_at, :now), :now) AS slot,
           CASE WHEN daily_count_date = :today THEN daily_count ELSE 0 END AS used
      FROM whatsapp_instances WHERE id = :instance_id AND tenant_id = :tenant_id
       FOR UPDATE
), taken AS (
    UPDATE whatsapp_instances w
       SET next_send_at = cur.slot + make_interval(secs => :gap_s),
           daily_count = cur.used + 1, daily_count_date = :today
      FROM cur
     WHERE w.id = cur.id AND cur.slot <= :latest
       AND (CAST(:daily_cap AS integer) IS NULL OR cur.used < CAST(:daily_cap AS integer))
 RETURNING w.id
)
SELECT cur.slot, cur.used, EXISTS (SELECT 1 FROM taken) AS taken FROM cur
""")


@dataclass(frozen=True, slots=True)
class Slot:
    """``taken``: send at ``at``. Otherwise ``cap_reached`` says why not (else: ``at`` is too far away)."""

    taken: bool
    at: datetime
    cap_reached: bool = False


def gap_seconds(per_minute: int, jitter_s: float, rng: random.Random) -> float:
    return jittered(interval_seconds(per_minute), jitter_s, rng)


def take_slot(
    conn: Connection,
    *,
    instance_id: str,
    tenant_id: str,
    now: datetime,
    today: date,
    gap_s: float,
    max_wait_s: float,
    daily_cap: int | None,
) -> Slot:
    """Take the instance's next slot if it is at most ``max_wait_s`` away and the day is not full."""
    row = conn.execute(
        TAKE_SLOT,
        {
            "instance_id": instance_id,
            "tenant_id": tenant_id,
            "now": now,
            "today": today,
            "gap_s": gap_s,
            "latest": now + timedelta(seconds=max_wait_s),
            "daily_cap": daily_cap,
        },
    ).one()
    if row.taken:
        return Slot(True, row.slot)
    cap_reached = daily_cap is not None and row.used >= daily_cap
    return Slot(False, row.slot, cap_reached=cap_reached)
