"""the status read returns its page of failures as JSON text, cut to the page, with the queue's last event

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01 14:40:00

``billing_queue_status`` returns one row more than a page of failures as a ``json`` value: psycopg2 parsed
it into 101 dicts, Python cut the page, and pydantic checked and wrote the 100 items out again. That was
14 % of the status function's time (py-spy, ``bench/status.py``, 2026-12-01). The new function
``billing_queue_status_page`` returns the same row with the page already cut, as text the answer carries
as it is, the position of its last item when more failures follow (else NULL), and the queue's latest
numbered event, so the read is one cached plan rather than a query planned around the function on every
call. ``billing_queue_status`` stays for functions of the previous release while a deploy rolls out.
"""

from __future__ import annotations

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

SIGNATURE = "billing_queue_status_page(uuid, uuid, integer, integer)"

# A failure as the API lists it: json_agg of this row type writes each item with the API's names (items
# separated by json_agg's comma, newline and space), 20 % faster than json_build_object (single-client
# loop on the bench database, 2026-12-01).
FAILURE_ITEM = "CREATE TYPE billing_failure_item AS (index integer, phone text, invoice_id text, error text)"

# The page is read one row longer than p_limit (the partial index ix_contact_failed, position order);
# that row only says whether another page follows.
QUEUE_STATUS_PAGE = """
CREATE OR REPLACE FUNCTION billing_queue_status_page(p_queue_id uuid, p_tenant_id uuid, p_after integer,
                                                     p_limit integer)
RETURNS TABLE (
    id uuid, tenant_id uuid, status varchar, template_type varchar, total integer, sent integer,
    failed integer, cancelled integer, unknown integer, expired integer, skipped integer, delivered integer,
    read integer, replied integer, opted_out integer, paused_reason varchar, resume_at timestamptz,
    scheduled_for timestamptz, created_at timestamptz, started_at timestamptz, completed_at timestamptz,
    external_id varchar, failures text, failures_last integer, last_event_id bigint
)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT q.id, q.tenant_id, q.status::varchar, q.template_type::varchar, q.total, q.sent, q.failed,
           q.cancelled, q.unknown, q.expired, q.skipped, q.delivered, q.read, q.replied, q.opted_out,
           q.paused_reason::varchar, q.resume_at, q.scheduled_for, q.created_at, q.started_at, q.completed_at,
           c.external_id::varchar, page.items, page.last,
           (SELECT max(e.seq) FROM billing_events e WHERE e.queue_id = q.id AND e.seq IS NOT NULL)
    FROM billing_queues q
    JOIN billing_campaigns c ON c.id = q.campaign_id
    CROSS JOIN LATERAL (
        SELECT COALESCE(json_agg((f.position, f.phone, f.invoice_id, f.last_error)::billing_failure_item
                                 ORDER BY f.position) FILTER (WHERE f.n <= p_limit), '[]'::json)::text AS items,
               CASE WHEN count(*) > p_limit THEN max(f.position) FILTER (WHERE f.n <= p_limit) END AS last
        FROM (SELECT b.position, b.phone, b.invoice_id, b.last_error, row_number() OVER (ORDER BY b.position) AS n
              FROM billing_contacts b
              WHERE b.queue_id = q.id AND b.tenant_id = q.tenant_id AND b.status = 'failed'
                    AND b.position > p_after
              ORDER BY b.position
              LIMIT p_limit + 1) f
    ) page
    WHERE q.id = p_queue_id AND q.tenant_id = p_tenant_id;
END
$$
"""


def upgrade() -> None:
    op.execute(FAILURE_ITEM)
    op.execute(QUEUE_STATUS_PAGE)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
    op.execute("DROP TYPE IF EXISTS billing_failure_item")
