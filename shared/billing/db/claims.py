"""Shared sender SQL: the claimed contact's shape, the instance health record, a variation's body.

The per-slot statements (claim, record, give back) are in ``billing.db.dispatch``; migration 0008 holds
their database functions, and ``tests/integration/test_sender_functions.py`` checks them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

# The one place an instance's connection state is recorded (sender, sweeper and webhook).
RECORD_HEALTH = text("""
UPDATE whatsapp_instances SET health_state = :state, health_checked_at = :now
 WHERE id = :instance_id AND NOT (:keep_auth_failed AND health_state = 'auth_failed')
""")

VARIATION_BODY = text("SELECT body FROM template_variations WHERE id = :variation_id AND tenant_id = :tenant_id")


@dataclass(frozen=True, slots=True)
class ClaimedContact:
    id: str
    tenant_id: str
    phone: str
    name: str | None
    due_date: date | None
    amount: Decimal | None
    invoice_id: str | None
    payment_link: str | None
    pix_code: str | None
    variables: dict[str, Any] | None
    variation_id: str | None
    message: str
    rendered_on: date
    attempts: int
    next_attempt_at: datetime | None
    previous_status: str
    suppressed: bool


def _params(**values: Any) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in values.items()}


def mark_instance_health(
    conn: Connection | Session,
    *,
    instance_id: str | uuid.UUID,
    state: str,
    now: datetime,
    keep_auth_failed: bool = False,
) -> None:
    """Record an instance's health. ``keep_auth_failed``: a report that says nothing about our key (the
    gateway's connection.update) leaves an ``auth_failed`` instance as it is."""
    params = _params(instance_id=instance_id, state=state, now=now)
    conn.execute(RECORD_HEALTH, {**params, "keep_auth_failed": keep_auth_failed})


def variation_body(conn: Connection, *, variation_id: str, tenant_id: str) -> str | None:
    value = conn.execute(VARIATION_BODY, _params(variation_id=variation_id, tenant_id=tenant_id)).scalar()
    return None if value is None else str(value)
