"""contact listing: pages of a queue's contacts by status, and an invoice's contacts

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 20:15:00

``GET /queue/{id}/contacts?status=...`` walks each asked status in position order (one index range per
status, merged): ``(queue_id, status, position)`` replaces ``(queue_id, status)``, which it covers. The
contacts of one invoice, across a tenant's queues, are found by ``(tenant_id, invoice_id)``.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_contact_queue_status_position", "billing_contacts", ["queue_id", "status", "position"])
    op.drop_index("ix_contact_queue_status", table_name="billing_contacts")
    op.create_index(
        "ix_contact_tenant_invoice",
        "billing_contacts",
        ["tenant_id", "invoice_id"],
        postgresql_where="invoice_id IS NOT NULL",
    )


def downgrade() -> None:
    op.drop_index("ix_contact_tenant_invoice", table_name="billing_contacts")
    op.create_index("ix_contact_queue_status", "billing_contacts", ["queue_id", "status"])
    op.drop_index("ix_contact_queue_status_position", table_name="billing_contacts")
