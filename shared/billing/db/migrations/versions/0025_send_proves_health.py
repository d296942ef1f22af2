"""A send the gateway accepted counts as the instance's health check

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 06:00:00

``billing_dispatch`` claims a health check of an instance whose last one is older than the check
interval (30 s) before it sends anything more, so an instance busy sending costs a gateway round trip
every 30 s that tells nothing a send did not already tell: the gateway accepted a message a moment
ago, so the number is connected. With 1,000 instances that is 33 checks a second competing with the
sends for the dispatcher's concurrency. Now the outcomes a round records stamp ``health_checked_at``
of each ``open`` instance that had a message accepted, once its stamp is two thirds of the interval old
(so a steady sender writes the row about once every 20 s, not once a message), skipping an instance
another replica holds. A quiet instance, or one reported ``close`` or ``auth_failed``, is still checked
as before. The function is 0023's with that statement after the outcomes are recorded.
"""

from __future__ import annotations

from importlib import import_module

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_0023 = import_module("billing.db.migrations.versions.0023_daily_cap_pause")

_SIGNATURE = _0023._SIGNATURE
_AFTER_OUTCOMES = """                 ORDER BY r.queue_id, r.contact_id) AS x;
    END IF;
"""
_STAMP = """                 ORDER BY r.queue_id, r.contact_id) AS x;
        -- An accepted send is as good a health check as the gateway's connectionState: stamp it.
        UPDATE whatsapp_instances SET health_checked_at = p_now
         WHERE id IN (SELECT wi.id FROM whatsapp_instances wi
                       WHERE wi.id IN (SELECT (o->>'instance_id')::uuid FROM jsonb_array_elements(p_outcomes) o
                                        WHERE o->>'status' = 'sent')
                         AND wi.health_state = 'open'
                         AND wi.health_checked_at < p_check_before + (p_now - p_check_before) / 3
                         FOR NO KEY UPDATE SKIP LOCKED);
    END IF;
"""
assert _0023.DISPATCH.count(_AFTER_OUTCOMES) == 1
DISPATCH = _0023.DISPATCH.replace(_AFTER_OUTCOMES, _STAMP)


def upgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute(DISPATCH)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute(_0023.DISPATCH)
