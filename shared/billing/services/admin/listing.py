"""What an operator can see of a tenant's setup (``billing ... list|show``), never a secret.

Every function answers plain rows (lists of dicts) that the CLI prints as a table or as JSON. Constant
statements per command: one query per list (counts come from joins, not one query per row).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from billing.db.models import Tenant
from billing.errors import NotFoundError, ValidationFailedError
from billing.services.admin.tenants import public_dict

MAX_QUEUES = 200
QUEUE_STATUSES = (
    "pending", "scheduled", "running", "paused", "paused_business_hours", "instance_down", "completed",
    "cancelled", "failed",
)  # fmt: skip

_TENANTS = sa.text(
    """
    SELECT t.name, t.display_name, c.timezone,
           (SELECT count(*) FROM whatsapp_instances i WHERE i.tenant_id = t.id) AS instances,
           (SELECT count(*) FROM api_keys k WHERE k.tenant_id = t.id AND k.active) AS active_keys,
           (SELECT count(*) FROM billing_queues q WHERE q.tenant_id = t.id
               AND q.status NOT IN ('completed', 'cancelled', 'failed')) AS active_queues,
           t.created_at
      FROM tenants t LEFT JOIN billing_configs c ON c.tenant_id = t.id
     ORDER BY t.name
    """
)
_INSTANCES = sa.text(
    """
    SELECT i.name, i.gateway_url, i.gateway_instance, i.api_version, i.health_state, i.health_checked_at,
           i.next_send_at, i.daily_count, (c.default_instance_id = i.id) AS is_default,
           count(q.id) FILTER (WHERE q.status NOT IN ('completed', 'cancelled', 'failed')) AS active_queues,
           i.created_at
      FROM whatsapp_instances i
      JOIN billing_configs c ON c.tenant_id = i.tenant_id
      LEFT JOIN billing_queues q ON q.instance_id = i.id
     WHERE i.tenant_id = :tenant_id AND (CAST(:name AS text) IS NULL OR i.name = :name)
     GROUP BY i.id, c.default_instance_id
     ORDER BY i.name
    """
)
_KEYS = sa.text(
    """
    SELECT name, prefix, active, read_only, allowed_types, allowed_ips, rate_limit_per_minute, expires_at,
           last_used_at, created_at
      FROM api_keys
     WHERE tenant_id = :tenant_id AND (CAST(:name AS text) IS NULL OR name = :name)
     ORDER BY name
    """
)
_TEMPLATES = sa.text(
    """
    SELECT t.name, t.template_type, t.is_default, t.variables_schema, v.position, v.weight, v.active, v.body
      FROM templates t JOIN template_variations v ON v.template_id = t.id
     WHERE t.tenant_id = :tenant_id AND (CAST(:name AS text) IS NULL OR t.name = :name)
     ORDER BY t.template_type, t.name, v.position
    """
)
_QUEUES = sa.text(
    """
    SELECT q.id, t.name AS tenant, q.template_type, q.status, q.total, q.sent, q.failed, q.unknown,
           q.cancelled, q.total - (q.sent + q.failed + q.cancelled + q.unknown + q.expired + q.skipped) AS pending,
           i.name AS instance, c.external_id, q.paused_reason, q.created_at
      FROM billing_queues q
      JOIN tenants t ON t.id = q.tenant_id
      JOIN whatsapp_instances i ON i.id = q.instance_id
      JOIN billing_campaigns c ON c.id = q.campaign_id
     WHERE (CAST(:tenant_id AS uuid) IS NULL OR q.tenant_id = :tenant_id)
       AND (CAST(:status AS text) IS NULL OR q.status = :status)
     ORDER BY q.created_at DESC
     LIMIT :limit
    """
)


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return value


def _rows(session: Session, statement: sa.TextClause, **params: Any) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in session.execute(statement, params).mappings()]


def list_tenants(*, session: Session) -> list[dict[str, Any]]:
    return _rows(session, _TENANTS)


def show_tenant(tenant: Tenant, *, session: Session) -> dict[str, Any]:
    """The tenant, its configuration, business hours and closed dates."""
    from billing.services.admin.lookups import get_config

    config = public_dict(get_config(tenant.id, session=session), hide=("id", "tenant_id"))
    hours = _rows(
        session,
        sa.text(
            "SELECT weekday, start_time, end_time FROM business_hours WHERE tenant_id = :t ORDER BY weekday, start_time"
        ),
        t=tenant.id,
    )
    closed = _rows(
        session,
        sa.text("SELECT day, reason FROM closed_dates WHERE tenant_id = :t ORDER BY day"),
        t=tenant.id,
    )
    return {**public_dict(tenant), "config": config, "business_hours": hours, "closed_dates": closed}


def list_instances(tenant: Tenant, *, session: Session, name: str | None = None) -> list[dict[str, Any]]:
    rows = _rows(session, _INSTANCES, tenant_id=tenant.id, name=name)
    if name is not None and not rows:
        raise NotFoundError(f"instance {name!r} not found for tenant {tenant.name!r}")
    return rows


def list_api_keys(tenant: Tenant, *, session: Session, name: str | None = None) -> list[dict[str, Any]]:
    """Keys by name with their prefix (never the key or its hash)."""
    rows = _rows(session, _KEYS, tenant_id=tenant.id, name=name)
    if name is not None and not rows:
        raise NotFoundError(f"API key {name!r} not found for tenant {tenant.name!r}")
    return rows


def list_templates(tenant: Tenant, *, session: Session, name: str | None = None) -> list[dict[str, Any]]:
    """One row per template with its variations (position, weight, enabled, body)."""
    templates: dict[str, dict[str, Any]] = {}
    for row in _rows(session, _TEMPLATES, tenant_id=tenant.id, name=name):
        entry = templates.setdefault(
            row["name"],
            {
                "name": row["name"],
                "type": row["template_type"],
                "default": row["is_default"],
                "variables_schema": row["variables_schema"],
                "variations": [],
            },
        )
        entry["variations"].append(
            {"variation": row["position"], "weight": row["weight"], "enabled": row["active"], "body": row["body"]}
        )
    if name is not None and not templates:
        raise NotFoundError(f"template {name!r} not found for tenant {tenant.name!r}")
    return list(templates.values())


def list_queues(*, session: Session, tenant: Tenant | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """The most recent queues (at most MAX_QUEUES), of one tenant and one status when given."""
    if status is not None and status not in QUEUE_STATUSES:
        raise ValidationFailedError(f"unknown queue status {status!r}: one of {', '.join(QUEUE_STATUSES)}")
    return _rows(session, _QUEUES, tenant_id=tenant.id if tenant is not None else None, status=status, limit=MAX_QUEUES)
