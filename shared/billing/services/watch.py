"""Operator's view of one queue (``billing queue watch``), whatever its tenant."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from billing.errors import NotFoundError
from billing.http.schemas import StatusResponse
from billing.services.status import parse_queue_id, queue_status

_TENANT_OF = sa.text("SELECT tenant_id FROM billing_queues WHERE id = :id")


def operator_status(queue_ref: str, *, session: Session, now: datetime) -> StatusResponse:
    """The status body of any queue (operators are not tenant-scoped; the ERP routes are)."""
    queue_id: uuid.UUID = parse_queue_id(queue_ref)
    tenant_id = session.execute(_TENANT_OF, {"id": queue_id}).scalar()
    if tenant_id is None:
        raise NotFoundError(f"queue {queue_ref} not found")
    return queue_status(queue_id, tenant_id=tenant_id, session=session, now=now)
