"""dispatch finds due instances through an index, at a cost that follows the due ones, not all of them

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01 13:30:00

``billing_dispatch`` looked for due instances with ``next_send_at IS NULL OR next_send_at <= p_now``
ordered ``NULLS FIRST``: no index serves that, so every round started from every runnable queue, checked
each for a claimable contact, joined the instances and sorted them. With 1,000 instances that was 13.5
ms a round, and the next-due lookup (a ``min()`` behind an EXISTS) 9.3 ms more (EXPLAIN ANALYZE during
``bench/fleet.py --instances 1000 --senders 2``, 2026-12-01): PostgreSQL spent about one core on it,
34.6 ms a call in all.

Now the due instances are read in slot order from an index on ``coalesce(next_send_at, '-infinity')``
(never claimed first, as before), each checked for work by its own EXISTS (``OFFSET 0`` keeps the
planner from flattening it into a join that starts from the queues again), stopping at the round's
limit; the next-due instant is the first slot after now in ``ix_instance_next_send`` order with work
behind it. Same rows, same order. The
function is 0026's, changed by checked replacement.
"""

from __future__ import annotations

from importlib import import_module

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

_0026 = import_module("billing.db.migrations.versions.0026_slot_reserve")

_SIGNATURE = _0026._DISPATCH_SIGNATURE
DUE = "coalesce(next_send_at, '-infinity'::timestamptz)"


DISPATCH = _0026._edit(
    _0026.DISPATCH,
    (
        (
            "WHERE (p_pacing_off OR i.next_send_at IS NULL OR i.next_send_at <= p_now)",
            "WHERE coalesce(i.next_send_at, '-infinity'::timestamptz)\n"
            "               <= CASE WHEN p_pacing_off THEN 'infinity'::timestamptz ELSE p_now END",
        ),
        (
            "ORDER BY i.next_send_at NULLS FIRST",
            "ORDER BY coalesce(i.next_send_at, '-infinity'::timestamptz)",
        ),
        # OFFSET 0 keeps each EXISTS a check of the instance at hand: flattened into a join, the planner
        # started from every runnable queue again.
        (
            "AND (bc.status = 'pending' OR bc.next_attempt_at IS NULL OR bc.next_attempt_at <= p_now)))\n"
            "         ORDER BY coalesce",
            "AND (bc.status = 'pending' OR bc.next_attempt_at IS NULL OR bc.next_attempt_at <= p_now))\n"
            "                OFFSET 0)\n"
            "         ORDER BY coalesce",
        ),
        (
            """(SELECT min(i.next_send_at) FROM whatsapp_instances i
              WHERE i.next_send_at > p_now AND (i.health_state IS NULL OR i.health_state NOT IN ('close', 'auth_failed'))
                AND EXISTS (SELECT 1 FROM billing_queues bq
                             WHERE bq.instance_id = i.id AND bq.status IN ('pending', 'running')
                               AND (bq.resume_at IS NULL OR bq.resume_at <= p_now))),""",
            """(SELECT i.next_send_at FROM whatsapp_instances i
              WHERE i.next_send_at > p_now AND (i.health_state IS NULL OR i.health_state NOT IN ('close', 'auth_failed'))
                AND EXISTS (SELECT 1 FROM billing_queues bq
                             WHERE bq.instance_id = i.id AND bq.status IN ('pending', 'running')
                               AND (bq.resume_at IS NULL OR bq.resume_at <= p_now) OFFSET 0)
              ORDER BY i.next_send_at LIMIT 1),""",
        ),
    ),
)


def upgrade() -> None:
    op.execute(f"CREATE INDEX ix_instance_due ON whatsapp_instances (({DUE}))")
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute(DISPATCH)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute(_0026.DISPATCH)
    op.execute("DROP INDEX IF EXISTS ix_instance_due")
