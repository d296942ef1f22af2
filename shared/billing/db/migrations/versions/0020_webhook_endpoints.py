"""ERP webhook endpoints: where a tenant's events are posted (Standard Webhooks), and recent deliveries

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 09:00:00

Each endpoint keeps its own cursor (``last_event_id``) into the event log: the deliverer posts the
events after it one at a time, in id order, and moves it on each 2xx; a failure leaves it where it is
and schedules the next attempt (``attempts``, ``failing_since``, ``next_attempt_at``). A deliverer holds
an endpoint through a lease (``leased_by``, ``lease_until``), so two replicas never post to one endpoint
at once. The secret is stored encrypted with BILLING_SECRET_KEY, like an instance's gateway key.

``billing_endpoint_deliveries`` records each POST for ``billing endpoint show``; the sweeper keeps the
latest few per endpoint. Disabling an endpoint (410 Gone, five days of failures, an operator) writes an
``endpoint.disabled`` event in the same transaction, like the triggers of 0019.
"""

from __future__ import annotations

from importlib import import_module

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_0012 = import_module("billing.db.migrations.versions.0012_contact_page")

FUNCTIONS = """
CREATE OR REPLACE FUNCTION billing_endpoint_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO billing_events (tenant_id, type, queue_id, data)
    VALUES (NEW.tenant_id, 'endpoint.disabled', NULL,
            jsonb_build_object('endpoint_id', NEW.id, 'reason', NEW.disabled_reason,
                               'failing_since', __FAILING_SINCE__, 'last_event_id', NEW.last_event_id));
    PERFORM pg_notify('billing_events', '');
    RETURN NULL;
END
$$;
""".replace("__FAILING_SINCE__", _0012._UTC.format(c="NEW.failing_since"))
# Row level with a WHEN clause: the deliverer's UPDATE per delivered event never runs the function.
TRIGGERS = """
CREATE TRIGGER billing_endpoint_events AFTER UPDATE OF enabled ON billing_endpoints
    FOR EACH ROW WHEN (OLD.enabled AND NOT NEW.enabled) EXECUTE FUNCTION billing_endpoint_events();
"""


def upgrade() -> None:
    op.create_table(
        "billing_endpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("event_types", postgresql.JSONB(), nullable=True),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_id", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=40), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_billing_endpoints_tenant_id"), "billing_endpoints", ["tenant_id"], unique=False)
    op.create_table(
        "billing_endpoint_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["endpoint_id"], ["billing_endpoints.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_endpoint_delivery_recent", "billing_endpoint_deliveries", ["endpoint_id", "id"], unique=False)
    op.execute(FUNCTIONS)
    op.execute(TRIGGERS)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS billing_endpoint_events ON billing_endpoints")
    op.execute("DROP FUNCTION IF EXISTS billing_endpoint_events()")
    op.drop_index("ix_endpoint_delivery_recent", table_name="billing_endpoint_deliveries")
    op.drop_table("billing_endpoint_deliveries")
    op.drop_index(op.f("ix_billing_endpoints_tenant_id"), table_name="billing_endpoints")
    op.drop_table("billing_endpoints")
