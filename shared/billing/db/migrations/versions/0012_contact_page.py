"""contact pages as a database function that answers JSON: billing_contact_page()

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 20:05:00

``GET /queue/{id}/contacts`` answered 470 pages of 100 a second at p50 33 ms on 16 clients (bench/status.py
--route contacts, 1M contacts): most of each request was Python turning 100 rows into objects and JSON,
and PostgreSQL planning the statement. As a PL/pgSQL function its plans are cached per backend, and it
returns the page already as the JSON array the API documents (timestamps in UTC with ``Z``, as pydantic
writes them), so the function only wraps it. One call: the queue's type (NULL when the queue is not the
tenant's), the items of at most ``p_limit`` contacts after ``p_after``, the last position listed, and
whether more follow.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_SIGNATURE = "billing_contact_page(uuid, uuid, integer, integer, text[], text)"

# A timestamp as pydantic writes an aware UTC datetime: seconds, microseconds only when not zero, Z.
_UTC = (
    "CASE WHEN {c} IS NULL THEN NULL WHEN date_part('microseconds', {c})::bigint % 1000000 = 0"
    " THEN to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    " ELSE to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END"
)
_ITEM = (
    "json_build_object('index', p.position, 'invoice_id', p.invoice_id, 'phone', p.phone, 'name', p.name,"
    " 'status', p.status, 'attempts', p.attempts, 'error', p.last_error,"
    " 'provider_message_id', p.provider_message_id, 'sent_at', " + _UTC.format(c="p.sent_at") + ","
    " 'delivered_at', " + _UTC.format(c="p.delivered_at") + ", 'read_at', " + _UTC.format(c="p.read_at") + ","
    " 'replied_at', " + _UTC.format(c="p.replied_at") + ")"
)
_COLUMNS = (
    "c.position, c.invoice_id, c.phone, c.name, c.status, c.attempts, c.last_error, c.provider_message_id,"
    " c.sent_at, c.delivered_at, c.read_at, c.replied_at"
)
_AGGREGATE = (
    "SELECT COALESCE(json_agg(__ITEM__ ORDER BY p.position) FILTER (WHERE p.rn <= p_limit), '[]'::json),"
    " max(p.position) FILTER (WHERE p.rn <= p_limit), count(*) > p_limit"
    " INTO v_items, v_last, v_more FROM (SELECT x.*, row_number() OVER (ORDER BY x.position) AS rn FROM ("
)

CONTACT_PAGE = """
CREATE OR REPLACE FUNCTION billing_contact_page(p_queue_id uuid, p_tenant_id uuid, p_after integer, p_limit integer,
                                                p_statuses text[], p_invoice_id text)
RETURNS TABLE (template_type varchar, items json, last_position integer, more boolean)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
    v_type varchar;
    v_items json;
    v_last integer;
    v_more boolean;
BEGIN
    SELECT q.template_type INTO v_type FROM billing_queues q WHERE q.id = p_queue_id AND q.tenant_id = p_tenant_id;
    IF v_type IS NULL THEN
        RETURN QUERY SELECT NULL::varchar, NULL::json, NULL::integer, false;
        RETURN;
    END IF;
    IF p_invoice_id IS NOT NULL THEN
        -- One invoice's contacts: a handful, found by (tenant_id, invoice_id).
        __AGGREGATE__
            SELECT __COLUMNS__ FROM billing_contacts c
             WHERE c.tenant_id = p_tenant_id AND c.invoice_id = p_invoice_id AND c.queue_id = p_queue_id
               AND c.position > p_after AND (p_statuses IS NULL OR c.status = ANY (p_statuses))
             ORDER BY c.position LIMIT p_limit + 1) x) p;
    ELSIF p_statuses IS NULL THEN
        __AGGREGATE__
            SELECT __COLUMNS__ FROM billing_contacts c
             WHERE c.queue_id = p_queue_id AND c.position > p_after
             ORDER BY c.position LIMIT p_limit + 1) x) p;
    ELSE
        -- Each status walked in position order on (queue_id, status, position), then merged.
        __AGGREGATE__
            SELECT m.* FROM unnest(p_statuses) AS s(status)
             CROSS JOIN LATERAL (
                 SELECT __COLUMNS__ FROM billing_contacts c
                  WHERE c.queue_id = p_queue_id AND c.status = s.status AND c.position > p_after
                  ORDER BY c.position LIMIT p_limit + 1) m
             ORDER BY m.position LIMIT p_limit + 1) x) p;
    END IF;
    RETURN QUERY SELECT v_type, v_items, v_last, v_more;
END
$$
""".replace("__AGGREGATE__", _AGGREGATE).replace("__ITEM__", _ITEM).replace("__COLUMNS__", _COLUMNS)


def upgrade() -> None:
    op.execute(CONTACT_PAGE)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
