"""tenant settings carry a version, so every process sees a change by its next message

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 20:40:00

Functions cache a tenant's configuration, business hours and closed dates (one round trip saved per
message); a change made with ``billing hours ...`` or ``billing config set`` could go unseen for up to a
minute, so a message could go out in hours just closed. ``billing_configs.settings_version`` is bumped
by triggers on every change of the configuration, the hours or the closed dates, whoever makes it; a
cached entry older than a second is checked against it (one indexed read) before it is used.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TRIGGERS = """
CREATE OR REPLACE FUNCTION billing_settings_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'billing_configs' THEN
        NEW.settings_version := OLD.settings_version + 1;
        RETURN NEW;
    END IF;
    UPDATE billing_configs SET settings_version = settings_version + 1
     WHERE tenant_id = COALESCE(NEW.tenant_id, OLD.tenant_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER billing_config_changed BEFORE UPDATE ON billing_configs
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION billing_settings_changed();
CREATE TRIGGER billing_hours_changed AFTER INSERT OR UPDATE OR DELETE ON business_hours
    FOR EACH ROW EXECUTE FUNCTION billing_settings_changed();
CREATE TRIGGER billing_closed_dates_changed AFTER INSERT OR UPDATE OR DELETE ON closed_dates
    FOR EACH ROW EXECUTE FUNCTION billing_settings_changed();
"""


def upgrade() -> None:
    op.add_column(
        "billing_configs",
        sa.Column("settings_version", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
    )
    op.execute(TRIGGERS)


def downgrade() -> None:
    for trigger, table in (
        ("billing_closed_dates_changed", "closed_dates"),
        ("billing_hours_changed", "business_hours"),
        ("billing_config_changed", "billing_configs"),
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS billing_settings_changed()")
    op.drop_column("billing_configs", "settings_version")
