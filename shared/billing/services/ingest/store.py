"""The SQL of ingest: a constant number of statements whatever the batch size.

Every query filters by tenant: another tenant's template or instance is simply not found. Contacts
go in with one INSERT ... SELECT FROM json_to_recordset: a single bind parameter carries the batch.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from billing.errors import NotFoundError

_CAMPAIGN_BY_KEY = sa.text(
    """
    SELECT idempotency_key, external_id, request_hash, response FROM billing_campaigns
    WHERE tenant_id = :tenant AND ((:key IS NOT NULL AND idempotency_key = :key)
                                   OR (:ext IS NOT NULL AND external_id = :ext))
    ORDER BY (idempotency_key IS NOT DISTINCT FROM :key) DESC LIMIT 1
    """
)
_TEMPLATE = sa.text(
    """
    SELECT t.id, t.name, t.variables_schema, v.id AS variation_id, v.body, v.weight
    FROM templates t JOIN template_variations v ON v.template_id = t.id AND v.active AND v.weight > 0
    WHERE t.tenant_id = :tenant AND t.template_type = :type
      AND ((:name IS NULL AND t.is_default) OR t.name = :name)
    ORDER BY v.position
    """
)
# The instance and its backlog: the contacts dispatch will send before a new queue of this priority
# (its queues of the same or a higher priority that are not finished or cancelled; a lower priority
# waits behind the new queue).
_INSTANCE = sa.text(
    """
    SELECT i.id, i.name, i.daily_count, i.daily_count_date,
           (SELECT count(*) FROM billing_contacts c JOIN billing_queues q ON q.id = c.queue_id
            WHERE q.instance_id = i.id AND q.tenant_id = :tenant AND q.priority >= :priority
              AND q.status NOT IN ('completed', 'cancelled', 'failed')
              AND c.status IN ('pending', 'pending_retry', 'sending')) AS backlog
    FROM whatsapp_instances i LEFT JOIN billing_configs b ON b.tenant_id = i.tenant_id
    WHERE i.tenant_id = :tenant AND ((:name IS NULL AND i.id = b.default_instance_id) OR i.name = :name)
    """
)
_SUPPRESSED = sa.text("SELECT phone FROM suppressions WHERE tenant_id = :tenant AND phone = ANY(:phones)")
_CREATE = sa.text(
    """
    WITH c AS (
      INSERT INTO billing_campaigns (id, tenant_id, external_id, idempotency_key, request_hash, response,
          template_id, instance_id, template_type, priority, scheduled_for, valid_until, api_key_id)
      VALUES (:campaign_id, :tenant, :ext, :key, :hash, CAST(:response AS jsonb), :template_id, :instance_id,
          :type, :priority, :scheduled_for, :valid_until, :api_key_id)
      ON CONFLICT DO NOTHING RETURNING id
    )
    INSERT INTO billing_queues (id, tenant_id, campaign_id, instance_id, template_type, priority, status, total,
        sent, failed, cancelled, unknown, expired, skipped, delivered, read, scheduled_for, valid_until)
    SELECT :queue_id, :tenant, c.id, :instance_id, :type, :priority, :status, :total,
        0, 0, 0, 0, 0, 0, 0, 0, :scheduled_for, :valid_until FROM c
    RETURNING id
    """
)
# All contacts travel as one JSON parameter unpacked by PostgreSQL: one statement, no giant SQL text to
# parse, and ordinary bind parameters (so it is counted by engine events like any other statement).
_INSERT_CONTACTS = sa.text(
    """
    INSERT INTO billing_contacts (id, tenant_id, queue_id, position, phone, name, due_date, amount, invoice_id,
        payment_link, pix_code, variables, variation_id, message, rendered_on, status, attempts, updated_at)
    SELECT gen_random_uuid(), :tenant, :queue, r.position, r.phone, r.name, r.due_date, r.amount, r.invoice_id,
        r.payment_link, r.pix_code, r.variables, r.variation_id, r.message, :rendered_on, 'pending', 0, :now
    FROM json_to_recordset(CAST(:rows AS json)) AS r(position int, phone text, name text, due_date date,
        amount numeric, invoice_id text, payment_link text, pix_code text, variables jsonb, variation_id uuid,
        message text)
    """
)
_MARK_PUBLISHED = sa.text(
    "UPDATE billing_queues SET published_at = :now WHERE id = :id AND tenant_id = :tenant AND published_at IS NULL"
)


@dataclass(frozen=True)
class StoredCampaign:
    idempotency_key: str | None
    external_id: str | None
    request_hash: str
    response: dict[str, Any] | None


@dataclass(frozen=True)
class TemplateChoice:
    id: uuid.UUID
    name: str
    variables_schema: dict[str, Any] | None
    variation_ids: tuple[uuid.UUID, ...]
    bodies: tuple[str, ...]
    weights: tuple[int, ...]


@dataclass(frozen=True)
class InstanceChoice:
    id: uuid.UUID
    name: str
    backlog: int
    sent_today: int


def find_campaign(
    tenant_id: uuid.UUID, key: str | None, external_id: str | None, *, session: Session
) -> StoredCampaign | None:
    if key is None and external_id is None:
        return None
    row = session.execute(_CAMPAIGN_BY_KEY, {"tenant": tenant_id, "key": key, "ext": external_id}).first()
    return None if row is None else StoredCampaign(row[0], row[1], row[2], row[3])


def find_template(tenant_id: uuid.UUID, template_type: str, name: str | None, *, session: Session) -> TemplateChoice:
    rows = session.execute(_TEMPLATE, {"tenant": tenant_id, "type": template_type, "name": name}).all()
    if not rows:
        what = f"template {name!r}" if name else "a default template"
        raise NotFoundError(f"{what} of type {template_type!r} not found (or it has no active variation)")
    first = rows[0]
    return TemplateChoice(
        id=first.id,
        name=first.name,
        variables_schema=first.variables_schema,
        variation_ids=tuple(r.variation_id for r in rows),
        bodies=tuple(r.body for r in rows),
        weights=tuple(int(r.weight) for r in rows),
    )


def find_instance(
    tenant_id: uuid.UUID, name: str | None, *, today: date, priority: int, session: Session
) -> InstanceChoice:
    row = session.execute(_INSTANCE, {"tenant": tenant_id, "name": name, "priority": priority}).first()
    if row is None:
        raise NotFoundError(f"instance {name!r} not found" if name else "the tenant has no default instance")
    sent_today = int(row.daily_count or 0) if row.daily_count_date == today else 0
    return InstanceChoice(id=row.id, name=row.name, backlog=int(row.backlog), sent_today=sent_today)


def suppressed_phones(tenant_id: uuid.UUID, phones: Sequence[str], *, session: Session) -> set[str]:
    if not phones:
        return set()
    return {r[0] for r in session.execute(_SUPPRESSED, {"tenant": tenant_id, "phones": list(phones)})}


def create_campaign(params: dict[str, Any], *, session: Session) -> bool:
    """Insert campaign and queue in one statement; False when the idempotency key or external id exists."""
    values = dict(params, response=json.dumps(params["response"], ensure_ascii=False))
    return session.execute(_CREATE, values).first() is not None


def insert_contacts(
    rows: Sequence[dict[str, Any]],
    *,
    tenant_id: uuid.UUID,
    queue_id: uuid.UUID,
    rendered_on: date,
    now: datetime,
    session: Session,
) -> None:
    """One INSERT for every contact of the batch, whatever their number."""
    if not rows:
        return
    payload = json.dumps(rows, ensure_ascii=False, default=str, separators=(",", ":"))
    params = {"tenant": tenant_id, "queue": queue_id, "rendered_on": rendered_on, "now": now, "rows": payload}
    session.execute(_INSERT_CONTACTS, params)


def contact_row(*, position: int, contact: Any, variation_id: uuid.UUID, message: str) -> dict[str, Any]:
    return {
        "position": position,
        "phone": contact.phone,
        "name": contact.name,
        "due_date": contact.due_date,
        "amount": contact.amount,
        "invoice_id": contact.invoice_id,
        "payment_link": contact.payment_link,
        "pix_code": contact.pix_code,
        "variables": contact.variables or None,
        "variation_id": variation_id,
        "message": message,
    }


_MARK_UNPUBLISHED = sa.text(
    "UPDATE billing_queues SET published_at = NULL WHERE id = :id AND tenant_id = :tenant AND published_at = :now"
)


def mark_published(tenant_id: uuid.UUID, queue_id: uuid.UUID, *, now: datetime, session: Session) -> None:
    session.execute(_MARK_PUBLISHED, {"id": queue_id, "tenant": tenant_id, "now": now})


def mark_unpublished(tenant_id: uuid.UUID, queue_id: uuid.UUID, *, now: datetime, session: Session) -> None:
    """Undo ``mark_published(now=now)`` after the token could not be published (the sweeper then does)."""
    session.execute(_MARK_UNPUBLISHED, {"id": queue_id, "tenant": tenant_id, "now": now})
