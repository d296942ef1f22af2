"""an invoice cancelled while one of its reminders is in flight: that reminder never goes out later

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 20:25:00

The invoice cancel cancels pending reminders and leaves a ``sending`` one alone (its call may already
have reached the gateway). But a call that does not go out (a transient error that becomes
``pending_retry``, a claim handed back to ``pending``) used to be sent later, after the ERP was told
the invoice's reminders had stopped. The cancel now marks such contacts (``cancel_requested_at`` and
the reason): a BEFORE trigger turns any later move of a marked contact back to ``pending`` or
``pending_retry`` into ``cancelled`` with that reason, and an AFTER trigger counts it on its queue (after
the statement's own writes, contact row before queue row, the order every writer uses).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BEFORE = """
CREATE OR REPLACE FUNCTION billing_contact_cancel_requested() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.status := 'cancelled';
    NEW.next_attempt_at := NULL;
    NEW.claimed_by := NULL;
    NEW.last_error := COALESCE(NEW.cancel_reason, NEW.last_error);
    RETURN NEW;
END
$$;
CREATE TRIGGER billing_contact_cancel_requested
    BEFORE UPDATE ON billing_contacts
    FOR EACH ROW
    WHEN (NEW.cancel_requested_at IS NOT NULL AND NEW.status IN ('pending', 'pending_retry'))
    EXECUTE FUNCTION billing_contact_cancel_requested();
"""

AFTER = """
CREATE OR REPLACE FUNCTION billing_contact_cancel_counted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE billing_queues SET cancelled = cancelled + 1, updated_at = now() WHERE id = NEW.queue_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER billing_contact_cancel_counted
    AFTER UPDATE ON billing_contacts
    FOR EACH ROW
    WHEN (NEW.cancel_requested_at IS NOT NULL AND NEW.status = 'cancelled' AND OLD.status <> 'cancelled')
    EXECUTE FUNCTION billing_contact_cancel_counted();
"""


def upgrade() -> None:
    op.add_column("billing_contacts", sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("billing_contacts", sa.Column("cancel_reason", sa.String(length=500), nullable=True))
    op.execute(BEFORE)
    op.execute(AFTER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS billing_contact_cancel_counted ON billing_contacts")
    op.execute("DROP TRIGGER IF EXISTS billing_contact_cancel_requested ON billing_contacts")
    op.execute("DROP FUNCTION IF EXISTS billing_contact_cancel_counted()")
    op.execute("DROP FUNCTION IF EXISTS billing_contact_cancel_requested()")
    op.drop_column("billing_contacts", "cancel_reason")
    op.drop_column("billing_contacts", "cancel_requested_at")
