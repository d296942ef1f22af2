"""read-only API keys: api_keys.read_only, returned by billing_guard()

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 14:30:00

A read-only key reads queues (status) but may neither send nor control. billing_guard() returns the
new column, so its result type changes: the function is dropped and created again (CREATE OR REPLACE
cannot change a function's result columns). The body is 0004's with the one column added.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SIGNATURE = "billing_guard(text, text, timestamptz, text, text, timestamptz)"

GUARD = """
CREATE OR REPLACE FUNCTION billing_guard(p_prefix text, p_key_hash text, p_now timestamptz, p_ip_bucket text,
                                         p_window_suffix text, p_expires timestamptz)
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
               COALESCE(k.rate_limit_per_minute, c.api_rate_limit_per_minute) AS rate_limit, k.last_used_at
        FROM api_keys k
        JOIN billing_configs c ON c.tenant_id = k.tenant_id
        WHERE k.prefix = p_prefix
    ), counted AS (
        INSERT INTO rate_limit_buckets AS b (key, hits, expires_at)
        SELECT p_ip_bucket, 1, p_expires
        UNION ALL
        SELECT 'key:' || a.id::text || p_window_suffix, 1, p_expires
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

OLD_GUARD = """
CREATE OR REPLACE FUNCTION billing_guard(p_prefix text, p_key_hash text, p_now timestamptz, p_ip_bucket text,
                                         p_window_suffix text, p_expires timestamptz)
RETURNS TABLE (
    id uuid, tenant_id uuid, name varchar, key_hash varchar, active boolean, expires_at timestamptz,
    allowed_ips jsonb, allowed_types jsonb, rate_limit integer, last_used_at timestamptz, hits json
)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH api_key AS (
        SELECT k.id, k.tenant_id, k.name, k.key_hash, k.active, k.expires_at, k.allowed_ips, k.allowed_types,
               COALESCE(k.rate_limit_per_minute, c.api_rate_limit_per_minute) AS rate_limit, k.last_used_at
        FROM api_keys k
        JOIN billing_configs c ON c.tenant_id = k.tenant_id
        WHERE k.prefix = p_prefix
    ), counted AS (
        INSERT INTO rate_limit_buckets AS b (key, hits, expires_at)
        SELECT p_ip_bucket, 1, p_expires
        UNION ALL
        SELECT 'key:' || a.id::text || p_window_suffix, 1, p_expires
        FROM api_key a
        WHERE a.key_hash = p_key_hash AND a.active AND (a.expires_at IS NULL OR a.expires_at > p_now)
              AND (a.allowed_ips IS NULL OR a.allowed_ips IN ('null'::jsonb, '[]'::jsonb))
        ON CONFLICT (key) DO UPDATE SET hits = b.hits + 1
        RETURNING b.key, b.hits
    )
    SELECT a.id, a.tenant_id, a.name::varchar, a.key_hash::varchar, a.active, a.expires_at, a.allowed_ips,
           a.allowed_types, a.rate_limit, a.last_used_at,
           (SELECT json_object_agg(counted.key, counted.hits) FROM counted)
    FROM (SELECT 1) AS one
    LEFT JOIN api_key a ON true;
END
$$
"""


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("read_only", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute(GUARD)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute(OLD_GUARD)
    op.drop_column("api_keys", "read_only")
