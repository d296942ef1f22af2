"""instances whose API key the gateway refuses: health_state 'auth_failed'

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 20:10:00

A wrong or rotated gateway key showed as ``instance_down: instance unreachable`` forever, and a key
rotated mid-run failed contacts as "Unauthorized". A 401/403 now marks the instance ``auth_failed``:
dispatch treats it like a closed instance (its queues park ``instance_down`` with a reason that says
which key to fix, no contact consumes an attempt, a stale flag is checked again), until
``billing instance update --api-key`` clears it. billing_dispatch is 0008's with ``close`` widened to
both states.
"""

from __future__ import annotations

from importlib import import_module

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_0008 = import_module("billing.db.migrations.versions.0008_dispatch_by_slot")

_REASON = (
    "CASE WHEN w.health_state = 'auth_failed' THEN 'instance_down: auth_failed: the gateway refused this"
    " instance''s API key; set it with billing instance update --api-key'"
    " ELSE 'instance_down: the gateway reported it closed' END"
)
_EDITS = (
    ("IF w.health_state = 'close' AND", "IF w.health_state IN ('close', 'auth_failed') AND"),
    ("IF w.health_state = 'close' THEN", "IF w.health_state IN ('close', 'auth_failed') THEN"),
    ("paused_reason = 'instance_down: the gateway reported it closed'", f"paused_reason = {_REASON}"),
    (
        "i.health_state IS DISTINCT FROM 'close'",
        "(i.health_state IS NULL OR i.health_state NOT IN ('close', 'auth_failed'))",
    ),
)
DISPATCH = _0008.DISPATCH
for _old, _new in _EDITS:
    assert DISPATCH.count(_old) == 1, _old
    DISPATCH = DISPATCH.replace(_old, _new)


def upgrade() -> None:
    op.execute(DISPATCH)


def downgrade() -> None:
    op.execute("UPDATE whatsapp_instances SET health_state = 'close' WHERE health_state = 'auth_failed'")
    op.execute(_0008.DISPATCH)
