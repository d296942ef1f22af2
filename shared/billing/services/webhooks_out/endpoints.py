"""A tenant's ERP webhook endpoints (``billing endpoint ...``): add, list, show, disable, enable, remove
and replay. A stored secret is never shown again: ``add`` answers the one it made (or was given) once.

A new endpoint starts after the tenant's latest event (it receives what happens from now on; ``replay``
sends older ones). Disabling, enabling and replaying take the endpoint from a deliverer that holds it
(the lease is cleared, so its next write changes nothing) and the last two wake the deliverer.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, col, select

from billing.adapters.broker import Publisher
from billing.clock import iso_utc
from billing.config import Settings
from billing.crypto import encrypt_secret
from billing.db import events as event_store
from billing.db.engine import UnitOfWork
from billing.db.models import Tenant, WebhookEndpoint
from billing.domain.events import InvalidEventFilterError, parse_type_filter
from billing.domain.webhooks import check_url, format_secret, parse_secret
from billing.errors import InvalidValueError, NotFoundError, ValidationFailedError
from billing.services.admin.lookups import resolve_tenant
from billing.services.webhooks_out.wake import wake_deliverer

T = TypeVar("T")

SECRET_BYTES = 32
RECENT_DELIVERIES = 20
DISABLED_BY_OPERATOR = "disabled by an operator"
_RECENT = sa.text(
    """
    SELECT event_id, event_type, attempt, status_code, outcome, error, duration_ms, attempted_at
      FROM billing_endpoint_deliveries WHERE endpoint_id = :endpoint_id ORDER BY id DESC LIMIT :limit
    """
)


def _valid(field: str, check: Callable[[], T]) -> T:
    try:
        return check()
    except (InvalidValueError, InvalidEventFilterError) as exc:
        raise ValidationFailedError(f"--{field}: {exc}", [{"loc": [field], "msg": str(exc)}]) from None


def _when(value: datetime | None) -> str | None:
    return iso_utc(value) if value is not None else None


def endpoint_view(row: WebhookEndpoint) -> dict[str, Any]:
    """What an operator sees of an endpoint: never its secret."""
    return {
        "id": str(row.id),
        "url": row.url,
        "events": row.event_types or ["*"],
        "enabled": row.enabled,
        "disabled_reason": row.disabled_reason,
        "disabled_at": _when(row.disabled_at),
        "last_event_id": row.last_event_id,
        "attempts": row.attempts,
        "failing_since": _when(row.failing_since),
        "next_attempt_at": _when(row.next_attempt_at),
        "created_at": _when(row.created_at),
    }


def _endpoint(tenant: Tenant, ref: str, *, session: Session) -> WebhookEndpoint:
    """The tenant's endpoint ``ref`` (its id), locked for the change; another tenant's is "not found"."""
    try:
        endpoint_id = uuid.UUID(ref)
    except ValueError:
        endpoint_id = None
    row = None
    if endpoint_id is not None:
        statement = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant.id)
        row = session.exec(statement.where(WebhookEndpoint.id == endpoint_id).with_for_update()).first()
    if row is None:
        raise NotFoundError(f"endpoint {ref!r} not found for tenant {tenant.name!r}")
    return row


def add_endpoint(
    tenant_ref: str, *, uow: UnitOfWork, url: str, events: str | None, secret: str | None, settings: Settings
) -> dict[str, Any]:
    """Register ``url`` for the tenant's events of ``events`` (``queue.*,contact.failed``; every type when
    None), signed with ``secret`` (``whsec_...``) or a new one; the answer carries the secret, once."""
    session = uow.session
    tenant = resolve_tenant(tenant_ref, session=session)
    checked = _valid("url", lambda: check_url(url, production=settings.environment == "production"))
    filters = _valid("events", lambda: parse_type_filter(events))
    if secret is None:
        secret = format_secret(secrets.token_bytes(SECRET_BYTES))
    else:
        _valid("secret", lambda: parse_secret(secret))
    row = WebhookEndpoint(
        tenant_id=tenant.id,
        url=checked,
        event_types=list(filters) or None,
        secret_encrypted=encrypt_secret(secret, secret_key=settings.billing_secret_key.get_secret_value()),
        last_event_id=event_store.last_id(session.connection(), tenant_id=tenant.id),
    )
    session.add(row)
    session.flush()
    uow.commit()
    return {**endpoint_view(row), "secret": secret}


def list_endpoints(tenant_ref: str, *, session: Session) -> list[dict[str, Any]]:
    tenant = resolve_tenant(tenant_ref, session=session)
    statement = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant.id)
    return [endpoint_view(row) for row in session.exec(statement.order_by(col(WebhookEndpoint.created_at))).all()]


def show_endpoint(tenant_ref: str, endpoint_ref: str, *, session: Session) -> dict[str, Any]:
    """The endpoint, the tenant's latest event id (how far behind it is) and its latest deliveries."""
    tenant = resolve_tenant(tenant_ref, session=session)
    row = _endpoint(tenant, endpoint_ref, session=session)
    recent = session.execute(_RECENT, {"endpoint_id": row.id, "limit": RECENT_DELIVERIES}).mappings().all()
    return {
        **endpoint_view(row),
        "latest_event_id": event_store.last_id(session.connection(), tenant_id=tenant.id),
        "recent_deliveries": [{**r, "attempted_at": iso_utc(r["attempted_at"])} for r in recent],
    }


def _changed(
    tenant_ref: str, endpoint_ref: str, change: Callable[[WebhookEndpoint], bool], *, uow: UnitOfWork,
    publisher: Publisher | None,
) -> dict[str, Any]:  # fmt: skip
    """Apply ``change`` to the endpoint (taking it from any deliverer), commit, and wake the deliverer
    when ``change`` says there may be something to send."""
    session = uow.session
    row = _endpoint(resolve_tenant(tenant_ref, session=session), endpoint_ref, session=session)
    wake = change(row)
    row.leased_by = None
    row.lease_until = None
    session.add(row)
    session.flush()
    uow.commit()
    if wake and row.enabled and publisher is not None:
        wake_deliverer(publisher, reason="operator")
    return endpoint_view(row)


def _retry_now(row: WebhookEndpoint) -> None:
    row.attempts = 0
    row.failing_since = None
    row.next_attempt_at = None


def set_enabled(
    tenant_ref: str, endpoint_ref: str, *, enabled: bool, uow: UnitOfWork, publisher: Publisher, now: datetime
) -> dict[str, Any]:
    """Disable an endpoint (nothing more is posted; an ``endpoint.disabled`` event says so), or enable it
    again: it resumes at its cursor at once, its failures forgotten."""

    def change(row: WebhookEndpoint) -> bool:
        if enabled and not row.enabled:
            row.enabled, row.disabled_reason, row.disabled_at = True, None, None
            _retry_now(row)
        elif not enabled and row.enabled:
            row.enabled, row.disabled_reason, row.disabled_at = False, DISABLED_BY_OPERATOR, now
        return enabled

    return _changed(tenant_ref, endpoint_ref, change, uow=uow, publisher=publisher)


def replay(tenant_ref: str, endpoint_ref: str, *, since: int, uow: UnitOfWork, publisher: Publisher) -> dict[str, Any]:
    """Send the endpoint every event from id ``since`` on again (its cursor moves back to ``since - 1``).
    A replay only moves back: ``since`` above the cursor + 1 would skip events, and is refused."""

    def change(row: WebhookEndpoint) -> bool:
        if since < 1 or since - 1 > row.last_event_id:
            raise ValidationFailedError(
                f"--since: a replay moves the cursor back: give an event id from 1 to {row.last_event_id + 1}",
                [{"loc": ["since"], "msg": "above the endpoint's cursor"}],
            )
        row.last_event_id = since - 1
        _retry_now(row)
        return True

    return {**_changed(tenant_ref, endpoint_ref, change, uow=uow, publisher=publisher), "replay_from": since}


def remove_endpoint(tenant_ref: str, endpoint_ref: str, *, uow: UnitOfWork) -> dict[str, Any]:
    """Forget an endpoint and its deliveries; nothing more is posted to it."""
    session = uow.session
    tenant = resolve_tenant(tenant_ref, session=session)
    row = _endpoint(tenant, endpoint_ref, session=session)
    session.delete(row)
    session.flush()
    uow.commit()
    return {"removed": str(row.id), "tenant": tenant.name}
