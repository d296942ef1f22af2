"""reads have their own rate-limit budget: billing_configs.api_read_rate_limit_per_minute

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 19:40:00

Status polls counted against the same per-key limit as sending (60 a minute by default), so an ERP that
polled every second locked itself out of sending. billing_guard() takes the request's scope: ``write``
(send, control) counts on ``key:<id>`` with the key's limit as before; ``read`` (status, contacts,
queues lookup) on ``read:<id>`` with the tenant's read limit (default 600 a minute). The signature
changes, so the function is dropped and created again; the body is 0006's with the scope added.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_OLD_SIGNATURE = "billing_guard(text, text, timestamptz, text, text, timestamptz)"
_SIGNATURE = "billing_guard(text, text, timestamptz, text, text, timestamptz, text)"

GUARD = """
CREATE OR REPLACE FUNCTION billing_guard(p_prefix text, p_key_hash text, p_now timestamptz, p_ip_bucket text,
                                         p_window_suffix text, p_expires timestamptz, p_scope text)
RETURNS TABLE (
    id uuid, tenant_id uuid, name varchar, key_hash varchar, active boolean, expires_at timestamptz,
    allowed_ips jsonb, allowed_types jsonb, read_only boolean, rate_limit integer, last_used_at timestamptz,
    hits json
)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH api_key AS (
        SELECT k.id, k.tenant_id, k.name, k.key_hash, k.active, k.expires_at, k.allowed_ips, k.allowed_types,
               k.read_only,
               CASE WHEN p_scope = 'read' THEN c.api_read_rate_limit_per_minute
                    ELSE COALESCE(k.rate_limit_per_minute, c.api_rate_limit_per_minute) END AS rate_limit,
               k.last_used_at
        FROM api_keys k
        JOIN billing_configs c ON c.tenant_id = k.tenant_id
        WHERE k.prefix = p_prefix
    ), counted AS (
        INSERT INTO rate_limit_buckets AS b (key, hits, expires_at)
        SELECT p_ip_bucket, 1, p_expires
        UNION ALL
        SELECT CASE WHEN p_scope = 'read' THEN 'read:' ELSE 'key:' END || a.id::text || p_window_suffix, 1, p_expires
        FROM api_key a
        WHERE a.key_hash = p_key_hash AND a.active AND (a.expires_at IS NULL OR a.expires_at > p_now)
              AND (a.allowed_ips IS NULL OR a.allowed_ips IN ('null'::jsonb, '[]'::jsonb))
        ON CONFLICT (key) DO UPDATE SET hits = b.hits + 1
        RETURNING b.key, b.hits
    )
    SELECT a.id, a.tenant_id, a.name::varchar, a.key_hash::varchar, a.active, a.expires_at, a.allowed_ips,
           a.allowed_types, a.read_only, a.rate_limit, a.last_used_at,
           (SELECT json_object_agg(counted.key, counted.hits) FROM counted)
    FROM (SELECT 1) AS one
    LEFT JOIN api_key a ON true;
END
$$
"""


def upgrade() -> None:
    op.add_column(
        "billing_configs",
        sa.Column("api_read_rate_limit_per_minute", sa.Integer(), nullable=False, server_default=sa.text("600")),
    )
    op.execute(f"DROP FUNCTION IF EXISTS {_OLD_SIGNATURE}")
    op.execute(GUARD)


def downgrade() -> None:
    from importlib import import_module

    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute(import_module("billing.db.migrations.versions.0006_read_only_keys").GUARD)
    op.drop_column("billing_configs", "api_read_rate_limit_per_minute")
