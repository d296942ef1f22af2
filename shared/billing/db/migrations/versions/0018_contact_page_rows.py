"""billing_contact_page builds its JSON from rows and probes for a next page

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 23:00:00

A page of 100 contacts cost the database 1.1 ms, most of it building each item with
``json_build_object`` (twelve key/value pairs a row) and numbering the rows with a window function to
see whether more follow. ``json_agg`` of a row with named columns writes the same object for about half
the cost, and one index probe past the last listed position answers "more?" (pgbench, one client, a
1M-contact database: 1.12 ms before, 0.74 ms as two separate statements). Same signature, same items
(keys in the same order, timestamps still in UTC with ``Z``); only the whitespace between items differs.
"""

from __future__ import annotations

from importlib import import_module

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_0012 = import_module("billing.db.migrations.versions.0012_contact_page")

# The item's fields, in the API's order, as columns named like its keys: json_agg of such a row writes
# exactly the item object.
_COLUMNS = (
    "c.position AS index, c.invoice_id, c.phone, c.name, c.status, c.attempts, c.last_error AS error,"
    " c.provider_message_id, "
    + ", ".join(
        f"{_0012._UTC.format(c='c.' + name)} AS {name}" for name in ("sent_at", "delivered_at", "read_at", "replied_at")
    )
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
    v_more boolean := false;
BEGIN
    SELECT q.template_type INTO v_type FROM billing_queues q WHERE q.id = p_queue_id AND q.tenant_id = p_tenant_id;
    IF v_type IS NULL THEN
        RETURN QUERY SELECT NULL::varchar, NULL::json, NULL::integer, false;
        RETURN;
    END IF;
    IF p_invoice_id IS NOT NULL THEN
        -- One invoice's contacts: a handful, found by (tenant_id, invoice_id).
        SELECT json_agg(p ORDER BY p.index), max(p.index) INTO v_items, v_last FROM (
            SELECT __COLUMNS__ FROM billing_contacts c
             WHERE c.tenant_id = p_tenant_id AND c.invoice_id = p_invoice_id AND c.queue_id = p_queue_id
               AND c.position > p_after AND (p_statuses IS NULL OR c.status = ANY (p_statuses))
             ORDER BY c.position LIMIT p_limit) p;
        IF v_last IS NOT NULL THEN
            v_more := EXISTS (SELECT 1 FROM billing_contacts c
                               WHERE c.tenant_id = p_tenant_id AND c.invoice_id = p_invoice_id
                                 AND c.queue_id = p_queue_id AND c.position > v_last
                                 AND (p_statuses IS NULL OR c.status = ANY (p_statuses)));
        END IF;
    ELSIF p_statuses IS NULL THEN
        SELECT json_agg(p ORDER BY p.index), max(p.index) INTO v_items, v_last FROM (
            SELECT __COLUMNS__ FROM billing_contacts c
             WHERE c.queue_id = p_queue_id AND c.position > p_after
             ORDER BY c.position LIMIT p_limit) p;
        IF v_last IS NOT NULL THEN
            v_more := EXISTS (SELECT 1 FROM billing_contacts c WHERE c.queue_id = p_queue_id AND c.position > v_last);
        END IF;
    ELSE
        -- Each status walked in position order on (queue_id, status, position), then merged.
        SELECT json_agg(p ORDER BY p.index), max(p.index) INTO v_items, v_last FROM (
            SELECT m.* FROM unnest(p_statuses) AS s(status)
             CROSS JOIN LATERAL (
                 SELECT __COLUMNS__ FROM billing_contacts c
                  WHERE c.queue_id = p_queue_id AND c.status = s.status AND c.position > p_after
                  ORDER BY c.position LIMIT p_limit) m
             ORDER BY m.index LIMIT p_limit) p;
        IF v_last IS NOT NULL THEN
            v_more := EXISTS (SELECT 1 FROM unnest(p_statuses) AS s(status)
                               WHERE EXISTS (SELECT 1 FROM billing_contacts c
                                              WHERE c.queue_id = p_queue_id AND c.status = s.status
                                                AND c.position > v_last));
        END IF;
    END IF;
    RETURN QUERY SELECT v_type, COALESCE(v_items, '[]'::json), v_last, v_more;
END
$$
""".replace("__COLUMNS__", _COLUMNS)


def upgrade() -> None:
    op.execute(CONTACT_PAGE)


def downgrade() -> None:
    op.execute(_0012.CONTACT_PAGE)
