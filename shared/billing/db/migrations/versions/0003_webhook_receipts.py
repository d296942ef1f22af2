"""webhook receipts: dedupe of gateway events on (tenant, message key id, status)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_receipts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "provider_message_id", "status", name="uq_webhook_receipt"),
    )
    op.create_index(op.f("ix_webhook_receipts_tenant_id"), "webhook_receipts", ["tenant_id"], unique=False)
    # Old receipts are only pruned by age; the index keeps that delete cheap.
    op.create_index(op.f("ix_webhook_receipts_received_at"), "webhook_receipts", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_receipts_received_at"), table_name="webhook_receipts")
    op.drop_index(op.f("ix_webhook_receipts_tenant_id"), table_name="webhook_receipts")
    op.drop_table("webhook_receipts")
