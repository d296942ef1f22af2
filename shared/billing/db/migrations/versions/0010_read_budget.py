"""reads have their own rate-limit budget: billing_configs.api_read_rate_limit_per_minute

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 19:40:00

Status polls counted against the same per-key limit as sending (60 a minute by default), so an ERP that
polled every second locked itself out of sending. billing_guard() takes the request's scope: ``write``
(send, control) counts on ``key:<id>`` with the key's limit as before; ``read`` (status, contacts,
queues lookup) on ``read:<id>`` with the tenant's read limit (default 600 a minute). The signature
changes, so the function is dropped and created again; the body is 0006's with the scope added
(by checked replacement, like 0011 and 0013).
"""

from __future__ import annotations

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_OLD_SIGNATURE = "billing_guard(text, text, timestamptz, text, text, timestamptz)"
_SIGNATURE = "billing_guard(text, text, timestamptz, text, text, timestamptz, text)"

_0006 = import_module("billing.db.migrations.versions.0006_read_only_keys")

# 0006's body with the scope: its parameter, the read limit, and the read counter's name.
_EDITS = (
    ("p_window_suffix text, p_expires timestamptz)", "p_window_suffix text, p_expires timestamptz, p_scope text)"),
    (
        "COALESCE(k.rate_limit_per_minute, c.api_rate_limit_per_minute) AS rate_limit, k.last_used_at",
        "CASE WHEN p_scope = 'read' THEN c.api_read_rate_limit_per_minute\n"
        "                    ELSE COALESCE(k.rate_limit_per_minute, c.api_rate_limit_per_minute) END AS rate_limit,\n"
        "               k.last_used_at",
    ),
    ("SELECT 'key:' || a.id::text", "SELECT CASE WHEN p_scope = 'read' THEN 'read:' ELSE 'key:' END || a.id::text"),
)
GUARD = _0006.GUARD
for _old, _new in _EDITS:
    assert GUARD.count(_old) == 1, _old
    GUARD = GUARD.replace(_old, _new)


def upgrade() -> None:
    op.add_column(
        "billing_configs",
        sa.Column("api_read_rate_limit_per_minute", sa.Integer(), nullable=False, server_default=sa.text("600")),
    )
    op.execute(f"DROP FUNCTION IF EXISTS {_OLD_SIGNATURE}")
    op.execute(GUARD)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute(_0006.GUARD)
    op.drop_column("billing_configs", "api_read_rate_limit_per_minute")
