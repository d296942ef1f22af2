"""backfill what 0011 and the template checks assume of rows written before them

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 20:30:00

- A conversation open at upgrade time was opened by a customer message nobody answered: it gets
  ``unread = 1`` (the count is unknown, one is the truth that matters) so the next reminder does not
  close it, and ``last_inbound_at`` from its last message.
- ``billing_queues.replied`` counts the contacts that already have ``replied_at``.
- Default notification templates created before their schema existed declare ``mensagem``, so
  ``template edit`` (which refuses undeclared variables) can edit them.
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_SCHEMA = '{"type": "object", "properties": {"mensagem": {"type": "string", "maxLength": 1000}}}'


def upgrade() -> None:
    op.execute(
        "UPDATE conversations SET unread = 1, last_inbound_at = COALESCE(last_inbound_at, last_message_at)"
        " WHERE is_open AND unread = 0"
    )
    op.execute(
        """
        UPDATE billing_queues q SET replied = r.n
          FROM (SELECT queue_id, count(*) AS n FROM billing_contacts WHERE replied_at IS NOT NULL
                 GROUP BY queue_id) r
         WHERE q.id = r.queue_id
        """
    )
    op.execute(
        f"""
        UPDATE templates t SET variables_schema = '{_SCHEMA}'::jsonb
         WHERE t.template_type = 'notification' AND t.variables_schema IS NULL
           AND EXISTS (SELECT 1 FROM template_variations v WHERE v.template_id = t.id AND v.body LIKE '%mensagem%')
        """  # noqa: S608 - a constant
    )


def downgrade() -> None:
    """Nothing to undo: the columns these fill go with 0011's downgrade."""
