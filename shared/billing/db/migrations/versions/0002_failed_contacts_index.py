"""partial index on failed contacts for the status route's failure pages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Failed contacts are few; a partial index keeps "first 100 failures after position P" an index
    # range scan on a queue of any size, without bloating the table's other indexes.
    op.create_index(
        "ix_contact_failed",
        "billing_contacts",
        ["queue_id", "position"],
        unique=False,
        postgresql_where=sa.text("status = 'failed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_contact_failed", table_name="billing_contacts", postgresql_where=sa.text("status = 'failed'"))
