"""billing_dispatch also returns the claimed contact's campaign id

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 22:40:00

Every per-message log line names its queue, campaign, template type and instance, so an operator can
follow one ERP batch through the logs by the id the ERP knows it by. The campaign id comes from the
queue row dispatch already locks (no extra statement on the hot path). A new output column changes the
function's row type, which ``CREATE OR REPLACE`` cannot do: the function is dropped and created again,
in the migration's transaction. billing_dispatch is 0013's with the column added to every row it
returns.
"""

from __future__ import annotations

from importlib import import_module

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_0013 = import_module("billing.db.migrations.versions.0013_auth_failed")

_SIGNATURE = "billing_dispatch(timestamptz, text, integer, boolean, timestamptz, uuid[], jsonb)"
# (old text, new text, how many times the old text occurs)
_EDITS = (
    ("    suppressed boolean\n)", "    suppressed boolean, campaign_id uuid\n)", 1),
    ("    v_qtype varchar;\n", "    v_qtype varchar;\n    v_qcampaign uuid;\n", 1),
    (
        "SELECT bq.id, bq.template_type, bq.valid_until, bq.status FROM billing_queues bq",
        "SELECT bq.id, bq.template_type, bq.valid_until, bq.status, bq.campaign_id FROM billing_queues bq",
        1,
    ),
    ("v_qstatus := q.status;", "v_qstatus := q.status; v_qcampaign := q.campaign_id;", 1),
    (
        "EXISTS (SELECT 1 FROM suppressions s WHERE s.tenant_id = bc.tenant_id AND s.phone = bc.phone);",
        "EXISTS (SELECT 1 FROM suppressions s WHERE s.tenant_id = bc.tenant_id AND s.phone = bc.phone),\n"
        "               v_qcampaign;",
        1,
    ),
    # the 'next' row and every row about an instance alone (down, cap, check, ...)
    (
        "NULL::timestamptz, NULL::varchar, NULL::boolean;",
        "NULL::timestamptz, NULL::varchar, NULL::boolean, NULL::uuid;",
        5,
    ),
)
DISPATCH = _0013.DISPATCH
for _old, _new, _count in _EDITS:
    assert DISPATCH.count(_old) == _count, _old
    DISPATCH = DISPATCH.replace(_old, _new)


def upgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute(DISPATCH)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute(_0013.DISPATCH)
