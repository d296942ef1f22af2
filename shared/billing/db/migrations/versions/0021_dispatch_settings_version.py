"""billing_dispatch also returns the claimed contact's tenant settings_version

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 00:10:00

A change of business hours or tenant settings must count from the next message after it commits. The
sender kept its copy of a tenant's settings for a second before checking ``settings_version`` (0016),
so a message could still go out within that second under hours just closed. Each claim now carries
the tenant's ``settings_version`` as the claim statement read it (one index lookup inside the function,
no extra statement): a copy of another version is re-read before the message is sent. The function is
0017's with the column added to every row it returns.
"""

from __future__ import annotations

from importlib import import_module

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_0017 = import_module("billing.db.migrations.versions.0017_dispatch_campaign")

_SIGNATURE = _0017._SIGNATURE
# (old text, new text, how many times the old text occurs)
_EDITS = (
    (
        "    suppressed boolean, campaign_id uuid\n)",
        "    suppressed boolean, campaign_id uuid, settings_version bigint\n)",
        1,
    ),
    (
        "               v_qcampaign;",
        "               v_qcampaign,\n"
        "               (SELECT g.settings_version FROM billing_configs g WHERE g.tenant_id = bc.tenant_id);",
        1,
    ),
    # the 'next' row and every row about an instance alone
    ("NULL::boolean, NULL::uuid;", "NULL::boolean, NULL::uuid, NULL::bigint;", 5),
)
DISPATCH = _0017.DISPATCH
for _old, _new, _count in _EDITS:
    assert DISPATCH.count(_old) == _count, _old
    DISPATCH = DISPATCH.replace(_old, _new)


def upgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute(DISPATCH)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute(_0017.DISPATCH)
