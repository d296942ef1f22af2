"""per-tenant retention: billing_configs.retention_days (default 180)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 15:00:00

LGPD asks for minimisation: contacts of finished queues (with their rendered messages), chat history
and audit entries older than the tenant's retention are purged by the sweeper in bounded batches.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "billing_configs",
        sa.Column("retention_days", sa.Integer(), nullable=False, server_default=sa.text("180")),
    )
    # The purge finds old chat messages by tenant and age every tick: without this it scans the table.
    op.create_index("ix_message_tenant_created", "messages", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_message_tenant_created", table_name="messages")
    op.drop_column("billing_configs", "retention_days")
