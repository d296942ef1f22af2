"""Operators of the web console: people who sign in with an email and a password

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 03:00:00

An operator belongs to one tenant, or to every tenant (``tenant_id`` NULL: the platform's own staff).
``role`` says what the console lets them do: ``viewer`` reads, ``operator`` also acts on queues and
conversations, ``admin`` also manages templates, instances, keys, hours and webhook endpoints. The
password is stored as an Argon2id hash. ``session_epoch`` is part of every signed session cookie: signing
out (or disabling the operator) bumps it, so every cookie issued before stops working at once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_operators",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("session_epoch", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("role IN ('viewer', 'operator', 'admin')", name="ck_console_operator_role"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_console_operator_email", "console_operators", [sa.text("lower(email)")], unique=True)
    op.create_index("ix_console_operators_tenant_id", "console_operators", ["tenant_id"])


def downgrade() -> None:
    op.drop_table("console_operators")
