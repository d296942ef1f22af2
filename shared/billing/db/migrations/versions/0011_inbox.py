"""replies inbox: unread customer messages per conversation, replied/opted-out counters per queue

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 19:45:00

- ``conversations.unread``: customer messages since the conversation was last closed, and
  ``last_inbound_at``; the inbox lists conversations by ``last_message_at`` (index per tenant).
- A reminder no longer closes a conversation that has an unanswered customer message: the sender's
  record (``billing_record_send``) keeps it open while ``unread > 0``.
- ``billing_queues.replied`` / ``opted_out``: counted when a customer answers (or opts out after) a
  reminder of the queue; ``billing_queue_status`` returns them (its result type changes: dropped and
  created again, 0004's body with the two columns).
"""

from __future__ import annotations

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_STATUS_SIGNATURE = "billing_queue_status(uuid, uuid, integer, integer)"
_0004 = import_module("billing.db.migrations.versions.0004_hot_path_functions")
_0008 = import_module("billing.db.migrations.versions.0008_dispatch_by_slot")

_CLOSES = "DO UPDATE SET is_open = false, closed_at = EXCLUDED.closed_at, last_message_at = EXCLUDED.last_message_at"
_KEEPS_UNANSWERED = (
    "DO UPDATE SET is_open = conversations.unread > 0,"
    " closed_at = CASE WHEN conversations.unread > 0 THEN conversations.closed_at ELSE EXCLUDED.closed_at END,"
    " last_message_at = EXCLUDED.last_message_at"
)
assert _CLOSES in _0008.RECORD_SEND
RECORD_SEND = _0008.RECORD_SEND.replace(_CLOSES, _KEEPS_UNANSWERED)

QUEUE_STATUS = _0004.QUEUE_STATUS.replace(
    "read integer, paused_reason varchar,", "read integer, replied integer, opted_out integer, paused_reason varchar,"
).replace("q.delivered, q.read, q.paused_reason::varchar,", "q.delivered, q.read, q.replied, q.opted_out, q.paused_reason::varchar,")
assert QUEUE_STATUS.count("replied") == 2


def upgrade() -> None:
    op.add_column("conversations", sa.Column("unread", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.add_column("conversations", sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_conversation_tenant_last", "conversations", ["tenant_id", "last_message_at", "id"])
    op.add_column("billing_queues", sa.Column("replied", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.add_column("billing_queues", sa.Column("opted_out", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.execute(RECORD_SEND)
    op.execute(f"DROP FUNCTION IF EXISTS {_STATUS_SIGNATURE}")
    op.execute(QUEUE_STATUS)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_STATUS_SIGNATURE}")
    op.execute(_0004.QUEUE_STATUS)
    op.execute(_0008.RECORD_SEND)
    op.drop_column("billing_queues", "opted_out")
    op.drop_column("billing_queues", "replied")
    op.drop_index("ix_conversation_tenant_last", table_name="conversations")
    op.drop_column("conversations", "last_inbound_at")
    op.drop_column("conversations", "unread")
