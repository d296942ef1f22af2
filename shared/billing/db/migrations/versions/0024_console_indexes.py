"""Indexes for the console's lists: a tenant's open conversations, and its queues newest first

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 05:00:00

The inbox lists open conversations, newest first. Through ``ix_conversation_tenant_last`` PostgreSQL
walked every conversation of the tenant newest first and discarded the closed ones, and with few open
among a long chat history it chose a sequential scan instead: 16-22 ms for 11 open out of 156,000
(``bench/console.py``'s tenant), growing with the history. A partial index over the open ones answers
in under a millisecond whatever the history.

The console's queue list pages a tenant's queues newest first (keyset on ``created_at, id``); with the
"all" filter PostgreSQL sorted every queue of the tenant for each page. ``ix_queue_tenant_created``
hands them over in order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_conversation_tenant_open_last",
        "conversations",
        ["tenant_id", "last_message_at", "id"],
        postgresql_where=sa.text("is_open"),
    )
    op.create_index("ix_queue_tenant_created", "billing_queues", ["tenant_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_queue_tenant_created", table_name="billing_queues")
    op.drop_index("ix_conversation_tenant_open_last", table_name="conversations")
