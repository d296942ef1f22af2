"""A number at its daily cap parks its queues until the next local day, with a queue.paused event

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 04:00:00

At the daily cap ``billing_dispatch`` moved the instance's next slot to the tenant's next local midnight
and left its queues ``running``: nothing was sent until then, but the status said otherwise, no
``queue.paused`` event told the ERP or the console why, and the expected end ignored the wait. The cap
branch now also moves the instance's ``pending``/``running`` queues to ``paused_business_hours`` with
``resume_at`` at that midnight and ``paused_reason`` ``daily_cap: ...``, exactly as closed hours park them:
the sweeper (or the next claim) resumes them at ``resume_at`` and the row trigger writes
``queue.resumed``. The queue trigger of 0019 now says ``reason: daily_cap`` for such a pause. The
branch runs once per capped instance per day, never on the per-message path.
"""

from __future__ import annotations

from importlib import import_module

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_0021 = import_module("billing.db.migrations.versions.0021_dispatch_settings_version")
_0019 = import_module("billing.db.migrations.versions.0019_event_log")

_SIGNATURE = _0021._SIGNATURE
_CAP = "            UPDATE whatsapp_instances SET next_send_at = v_next WHERE whatsapp_instances.id = w.id;\n"
_PARK = (  # constant SQL text, spliced into the function's constant text
    _CAP  # noqa: S608
    + "            UPDATE billing_queues\n"
    + "               SET status = 'paused_business_hours', resume_at = v_next, updated_at = p_now,\n"
    + "                   paused_reason = 'daily_cap: the instance reached its daily cap of '\n"
    + "                                   || w.daily_cap || ' messages'\n"
    + "             WHERE billing_queues.instance_id = w.id AND status IN ('pending', 'running');\n"
)
assert _0021.DISPATCH.count(_CAP) == 1
DISPATCH = _0021.DISPATCH.replace(_CAP, _PARK)

_REASON = "CASE NEW.status WHEN 'paused' THEN 'operator' WHEN 'paused_business_hours' THEN 'business_hours'"
_REASON_CAP = (
    "CASE NEW.status WHEN 'paused' THEN 'operator' WHEN 'paused_business_hours' THEN\n"
    "                CASE WHEN NEW.paused_reason LIKE 'daily_cap%' THEN 'daily_cap' ELSE 'business_hours' END"
)
_START = _0019.FUNCTIONS.index("CREATE OR REPLACE FUNCTION billing_queue_events()")
_END = _0019.FUNCTIONS.index("CREATE OR REPLACE FUNCTION", _START + 10)
QUEUE_EVENTS_0019 = _0019.FUNCTIONS[_START:_END]
assert QUEUE_EVENTS_0019.count(_REASON) == 1
QUEUE_EVENTS = QUEUE_EVENTS_0019.replace(_REASON, _REASON_CAP)


def upgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute(DISPATCH)
    op.execute(QUEUE_EVENTS)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute(_0021.DISPATCH)
    op.execute(QUEUE_EVENTS_0019)
