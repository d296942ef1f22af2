"""the event log: every state change that matters, written with the change itself

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 23:00:00

ERP webhooks and the live stream both read ``billing_events``. Rows are written by statement-level
triggers on the tables whose changes matter (contacts, queues, instances, suppressions), in the
transaction of the change, so an event exists exactly when its change committed, whichever code path
made it (sender, webhook, control, CLI, sweeper), and a bulk change (a cancel of 100,000 contacts) writes
its events with one INSERT. The hot path gains no statement and no commit: the sender's outcome UPDATE
carries its event.

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

# External id of a queue's batch, for every event about a queue or its contacts.
_EXTERNAL_ID = (
    "(SELECT cp.external_id FROM billing_queues q JOIN billing_campaigns cp ON cp.id = q.campaign_id WHERE q.id = {q})"
)

FUNCTIONS = """
CREATE OR REPLACE FUNCTION billing_contact_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO billing_events (tenant_id, type, queue_id, data)
    SELECT x.tenant_id, x.type, x.queue_id,
           jsonb_build_object('queue_id', x.queue_id, 'external_id', __EXTERNAL_ID__x.queue_id__,
                              'index', x.position, 'invoice_id', x.invoice_id, 'phone', x.phone,
                              'status', x.status, 'attempts', x.attempts, 'error', x.last_error,
                              'provider_message_id', x.provider_message_id)
      FROM (SELECT n.*, e.type, e.ord FROM new_rows n JOIN old_rows o ON o.id = n.id
             CROSS JOIN LATERAL (VALUES
                 (CASE WHEN n.status IS DISTINCT FROM o.status
                            AND n.status IN ('sent', 'failed', 'unknown', 'expired', 'skipped', 'cancelled')
                       THEN 'contact.' || n.status END, 1),
                 (CASE WHEN n.delivered_at IS NOT NULL AND o.delivered_at IS NULL THEN 'contact.delivered' END, 2),
                 (CASE WHEN n.read_at IS NOT NULL AND o.read_at IS NULL THEN 'contact.read' END, 3),
                 (CASE WHEN n.replied_at IS NOT NULL AND o.replied_at IS NULL THEN 'contact.replied' END, 4)
             ) AS e(type, ord)
             WHERE e.type IS NOT NULL) x
     ORDER BY x.queue_id, x.position, x.ord;
__NOTIFY_AND_END__

CREATE OR REPLACE FUNCTION billing_queue_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO billing_events (tenant_id, type, queue_id, data)
    SELECT x.tenant_id, x.type, x.id,
           jsonb_build_object('queue_id', x.id, 'external_id', __EXTERNAL_ID__x.id__,
                              'status', x.status, 'reason', x.reason, 'paused_reason', x.paused_reason,
                              'resume_at', __RESUME_AT__, 'total', x.total, 'sent', x.sent, 'failed', x.failed,
                              'cancelled', x.cancelled, 'unknown', x.unknown, 'expired', x.expired,
                              'skipped', x.skipped)
      FROM (SELECT n.*, e.type, e.reason, e.ord FROM new_rows n JOIN old_rows o ON o.id = n.id
             CROSS JOIN LATERAL (VALUES
                 (CASE WHEN o.started_at IS NULL AND n.started_at IS NOT NULL THEN 'queue.started' END,
                  NULL::text, 1),
                 (CASE WHEN n.status IS DISTINCT FROM o.status
                            AND o.status IN ('paused', 'paused_business_hours', 'instance_down')
                            AND n.status IN ('pending', 'running')
                       THEN 'queue.resumed' END, NULL, 2),
                 (CASE WHEN n.status IS DISTINCT FROM o.status
                            AND n.status IN ('paused', 'paused_business_hours', 'instance_down')
                       THEN 'queue.paused' END,
                  CASE n.status WHEN 'paused' THEN 'operator' WHEN 'paused_business_hours' THEN 'business_hours'
                       ELSE CASE WHEN n.paused_reason LIKE '%auth_failed%' THEN 'auth_failed' ELSE 'instance_down' END
                  END, 3),
                 (CASE WHEN n.status IS DISTINCT FROM o.status AND n.status IN ('completed', 'cancelled')
                       THEN 'queue.' || n.status END, NULL, 4)
             ) AS e(type, reason, ord)
             WHERE e.type IS NOT NULL) x
     ORDER BY x.id, x.ord;
__NOTIFY_AND_END__

CREATE OR REPLACE FUNCTION billing_instance_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO billing_events (tenant_id, type, queue_id, data)
    SELECT n.tenant_id, CASE WHEN n.health_state = 'open' THEN 'instance.up' ELSE 'instance.down' END, NULL,
           jsonb_build_object('instance_id', n.id, 'name', n.name, 'state', n.health_state)
      FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE n.health_state IS DISTINCT FROM o.health_state
       AND (n.health_state = 'open' AND o.health_state IN ('close', 'auth_failed')
            OR n.health_state IN ('close', 'auth_failed'))
     ORDER BY n.id;
__NOTIFY_AND_END__

-- An opt-out (a customer's keyword, or an operator's ``billing suppression add``): the reminder it
-- answers, when there is one, is the latest sent to that phone.
CREATE OR REPLACE FUNCTION billing_suppression_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO billing_events (tenant_id, type, queue_id, data)
    SELECT n.tenant_id, 'contact.opted_out', c.queue_id,
           jsonb_build_object('queue_id', c.queue_id,
                              'external_id', CASE WHEN c.queue_id IS NOT NULL THEN __EXTERNAL_ID__c.queue_id__ END,
                              'index', c.position, 'invoice_id', c.invoice_id, 'phone', n.phone,
                              'reason', n.reason)
      FROM new_rows n
      LEFT JOIN LATERAL (SELECT bc.queue_id, bc.position, bc.invoice_id FROM billing_contacts bc
                          WHERE bc.tenant_id = n.tenant_id AND bc.phone = n.phone AND bc.status = 'sent'
                          ORDER BY bc.sent_at DESC NULLS LAST, bc.id DESC LIMIT 1) c ON true
     ORDER BY n.created_at, n.id;
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
# Every trigger function ends alike: wake the listeners (once per transaction, at commit) if it wrote.
_NOTIFY_AND_END = """    IF FOUND THEN
        PERFORM pg_notify('billing_events', '');
    END IF;
    RETURN NULL;
END
$$;"""
FUNCTIONS = FUNCTIONS.replace("__NOTIFY_AND_END__", _NOTIFY_AND_END)
# Timestamps in data as the API writes them: UTC with Z, whatever the writer's session time zone.
FUNCTIONS = FUNCTIONS.replace("__RESUME_AT__", _0012._UTC.format(c="x.resume_at"))
for _ref in ("x.queue_id", "x.id", "c.queue_id"):
    FUNCTIONS = FUNCTIONS.replace(f"__EXTERNAL_ID__{_ref}__", _EXTERNAL_ID.replace("{q}", _ref))

TRIGGERS = """
CREATE TRIGGER billing_contact_events AFTER UPDATE ON billing_contacts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION billing_contact_events();
CREATE TRIGGER billing_queue_events AFTER UPDATE ON billing_queues
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION billing_queue_events();
CREATE TRIGGER billing_instance_events AFTER UPDATE ON whatsapp_instances
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION billing_instance_events();
CREATE TRIGGER billing_suppression_events AFTER INSERT ON suppressions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION billing_suppression_events();
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
