"""the event log: every state change that matters, written with the change itself

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 23:00:00

ERP webhooks and the live stream both read ``billing_events``. Rows are written by row triggers on the
tables whose changes matter (contacts, queues, instances, suppressions), in the transaction of the
change, so an event exists exactly when its change committed, whichever code path made it (sender,
webhook, control, CLI, sweeper). Each trigger's WHEN clause is checked before any function runs, so the
hot path's other statements (a claim, a slot moved, a queue's counters) fire nothing; the sender gains
no statement and no commit: its outcome UPDATE carries its event. The batch's ``external_id`` is
added when events are read (a join off the hot path), not written into each event. (Statement triggers with transition
tables, tried first, cost the sender 25 % of its rate: every UPDATE of those tables built its
transition tables and ran the function, event or not.)

Public event ids (``seq``) are given in commit order by ``billing_sequence_events()``: an identity
column alone is assigned at insert time, so a reader resuming "after 41" could skip an event numbered 40
whose transaction committed after 41 was read. The sequencer numbers only rows it can see (committed),
one sequencer at a time (an advisory lock), each run above the last: every event gets a ``seq`` higher
than any a reader has seen. The triggers ``NOTIFY billing_events`` so a listener sequences and streams at
once; a listener that misses a notification finds the rows on its next poll.
"""

from __future__ import annotations

from importlib import import_module

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_0012 = import_module("billing.db.migrations.versions.0012_contact_page")

# The advisory lock that makes the sequencer single (any constant no other code uses).
SEQUENCER_LOCK = 7310452261

FUNCTIONS = """
CREATE OR REPLACE FUNCTION billing_contact_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO billing_events (tenant_id, type, queue_id, data)
    SELECT NEW.tenant_id, e.type, NEW.queue_id,
           jsonb_build_object('queue_id', NEW.queue_id, 'index', NEW.position, 'invoice_id', NEW.invoice_id, 'phone', NEW.phone,
                              'status', NEW.status, 'attempts', NEW.attempts, 'error', NEW.last_error,
                              'provider_message_id', NEW.provider_message_id)
      FROM (VALUES
          (CASE WHEN NEW.status IS DISTINCT FROM OLD.status
                     AND NEW.status IN ('sent', 'failed', 'unknown', 'expired', 'skipped', 'cancelled')
                THEN 'contact.' || NEW.status END, 1),
          (CASE WHEN NEW.delivered_at IS NOT NULL AND OLD.delivered_at IS NULL THEN 'contact.delivered' END, 2),
          (CASE WHEN NEW.read_at IS NOT NULL AND OLD.read_at IS NULL THEN 'contact.read' END, 3),
          (CASE WHEN NEW.replied_at IS NOT NULL AND OLD.replied_at IS NULL THEN 'contact.replied' END, 4)
      ) AS e(type, ord)
     WHERE e.type IS NOT NULL
     ORDER BY e.ord;
__NOTIFY_AND_END__

CREATE OR REPLACE FUNCTION billing_queue_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO billing_events (tenant_id, type, queue_id, data)
    SELECT NEW.tenant_id, e.type, NEW.id,
           jsonb_build_object('queue_id', NEW.id, 'status', NEW.status, 'reason', e.reason, 'paused_reason', NEW.paused_reason,
                              'resume_at', __RESUME_AT__, 'total', NEW.total, 'sent', NEW.sent,
                              'failed', NEW.failed, 'cancelled', NEW.cancelled, 'unknown', NEW.unknown,
                              'expired', NEW.expired, 'skipped', NEW.skipped)
      FROM (VALUES
          (CASE WHEN OLD.started_at IS NULL AND NEW.started_at IS NOT NULL THEN 'queue.started' END, NULL::text, 1),
          (CASE WHEN NEW.status IS DISTINCT FROM OLD.status
                     AND OLD.status IN ('paused', 'paused_business_hours', 'instance_down')
                     AND NEW.status IN ('pending', 'running')
                THEN 'queue.resumed' END, NULL, 2),
          (CASE WHEN NEW.status IS DISTINCT FROM OLD.status
                     AND NEW.status IN ('paused', 'paused_business_hours', 'instance_down')
                THEN 'queue.paused' END,
           CASE NEW.status WHEN 'paused' THEN 'operator' WHEN 'paused_business_hours' THEN 'business_hours'
                ELSE CASE WHEN NEW.paused_reason LIKE '%auth_failed%' THEN 'auth_failed' ELSE 'instance_down' END
           END, 3),
          (CASE WHEN NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('completed', 'cancelled')
                THEN 'queue.' || NEW.status END, NULL, 4)
      ) AS e(type, reason, ord)
     WHERE e.type IS NOT NULL
     ORDER BY e.ord;
__NOTIFY_AND_END__

CREATE OR REPLACE FUNCTION billing_instance_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO billing_events (tenant_id, type, queue_id, data)
    SELECT NEW.tenant_id, CASE WHEN NEW.health_state = 'open' THEN 'instance.up' ELSE 'instance.down' END, NULL,
           jsonb_build_object('instance_id', NEW.id, 'name', NEW.name, 'state', NEW.health_state)
     WHERE NEW.health_state = 'open' OR NEW.health_state IN ('close', 'auth_failed');
__NOTIFY_AND_END__

-- An opt-out (a customer's keyword, or an operator's ``billing suppression add``): the reminder it
-- answers, when there is one, is the latest sent to that phone.
CREATE OR REPLACE FUNCTION billing_suppression_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO billing_events (tenant_id, type, queue_id, data)
    SELECT NEW.tenant_id, 'contact.opted_out', c.queue_id,
           jsonb_build_object('queue_id', c.queue_id, 'index', c.position, 'invoice_id', c.invoice_id, 'phone', NEW.phone,
                              'reason', NEW.reason)
      FROM (SELECT 1) AS one
      LEFT JOIN LATERAL (SELECT bc.queue_id, bc.position, bc.invoice_id FROM billing_contacts bc
                          WHERE bc.tenant_id = NEW.tenant_id AND bc.phone = NEW.phone AND bc.status = 'sent'
                          ORDER BY bc.sent_at DESC NULLS LAST, bc.id DESC LIMIT 1) c ON true;
__NOTIFY_AND_END__

-- Numbers visible (committed) events in commit order, at most p_limit per call; -1 when another
-- sequencer holds the lock (its numbers will be visible when it commits). Run it in a short
-- transaction of its own and commit.
CREATE OR REPLACE FUNCTION billing_sequence_events(p_limit integer) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_last bigint;
    v_count bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(__SEQUENCER_LOCK__) THEN
        RETURN -1;
    END IF;
    SELECT COALESCE(max(seq), 0) INTO v_last FROM billing_events WHERE seq IS NOT NULL;
    WITH todo AS (
        SELECT t.id, row_number() OVER (ORDER BY t.id) AS rn
          FROM (SELECT id FROM billing_events WHERE seq IS NULL ORDER BY id LIMIT p_limit) t
    )
    UPDATE billing_events e SET seq = v_last + todo.rn FROM todo WHERE e.id = todo.id;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
""".replace("__SEQUENCER_LOCK__", str(SEQUENCER_LOCK))
# Every trigger function ends alike: wake the listeners (once per transaction, at commit).
_NOTIFY_AND_END = """    PERFORM pg_notify('billing_events', '');
    RETURN NULL;
END
$$;"""
FUNCTIONS = FUNCTIONS.replace("__NOTIFY_AND_END__", _NOTIFY_AND_END)
# Timestamps in data as the API writes them: UTC with Z, whatever the writer's session time zone.
FUNCTIONS = FUNCTIONS.replace("__RESUME_AT__", _0012._UTC.format(c="NEW.resume_at"))

# Row triggers whose WHEN is checked before any function runs: the statements of the hot path (a claim,
# a slot moved, a queue's counters) fire nothing; only a change worth an event calls the function.
TRIGGERS = """
CREATE TRIGGER billing_contact_events AFTER UPDATE ON billing_contacts FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          AND NEW.status IN ('sent', 'failed', 'unknown', 'expired', 'skipped', 'cancelled')
          OR OLD.delivered_at IS NULL AND NEW.delivered_at IS NOT NULL
          OR OLD.read_at IS NULL AND NEW.read_at IS NOT NULL
          OR OLD.replied_at IS NULL AND NEW.replied_at IS NOT NULL)
    EXECUTE FUNCTION billing_contact_events();
CREATE TRIGGER billing_queue_events AFTER UPDATE ON billing_queues FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.started_at IS NULL AND NEW.started_at IS NOT NULL)
    EXECUTE FUNCTION billing_queue_events();
CREATE TRIGGER billing_instance_events AFTER UPDATE ON whatsapp_instances FOR EACH ROW
    WHEN (OLD.health_state IS DISTINCT FROM NEW.health_state)
    EXECUTE FUNCTION billing_instance_events();
CREATE TRIGGER billing_suppression_events AFTER INSERT ON suppressions FOR EACH ROW
    EXECUTE FUNCTION billing_suppression_events();
"""


def upgrade() -> None:
    op.create_table(
        "billing_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("queue_id", sa.Uuid(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("data", postgresql.JSONB(), nullable=False),
    )
    op.create_index("ix_event_tenant_seq", "billing_events", ["tenant_id", "seq"])
    op.create_index("ix_event_queue_seq", "billing_events", ["queue_id", "seq"])
    op.create_index("ix_event_seq", "billing_events", ["seq"], unique=True)
    op.create_index("ix_event_unsequenced", "billing_events", ["id"], postgresql_where=sa.text("seq IS NULL"))
    op.execute(FUNCTIONS)
    op.execute(TRIGGERS)


def downgrade() -> None:
    for trigger, table in (
        ("billing_contact_events", "billing_contacts"),
        ("billing_queue_events", "billing_queues"),
        ("billing_instance_events", "whatsapp_instances"),
        ("billing_suppression_events", "suppressions"),
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {trigger}()")
    op.execute("DROP FUNCTION IF EXISTS billing_sequence_events(integer)")
    op.drop_table("billing_events")
