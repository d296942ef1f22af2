"""The operator's view and control of any queue (``billing queue watch|pause|resume|cancel``).

Operators are not tenant-scoped like the ERP's routes: a queue is found by its id alone, and an
operator who names a tenant is told "not found" for another tenant's queue. Control goes through the
same use case as the ERP's, recorded in the audit log as done by the named operator.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from billing.adapters.broker import Publisher
from billing.contract.queues import Actor, ControlCommand, QueueStatusView
from billing.db.engine import UnitOfWork
from billing.errors import NotFoundError
from billing.services.admin.lookups import resolve_tenant
from billing.services.queues.control import control_queue
from billing.services.queues.status import parse_queue_id, queue_status

_TENANT_OF = sa.text("SELECT tenant_id FROM billing_queues WHERE id = :id")


def _tenant_of(queue_id: uuid.UUID, tenant_ref: str | None, *, session: Session) -> uuid.UUID:
    tenant_id: uuid.UUID | None = session.execute(_TENANT_OF, {"id": queue_id}).scalar()
    if tenant_id is None or (tenant_ref is not None and resolve_tenant(tenant_ref, session=session).id != tenant_id):
        raise NotFoundError(f"queue {queue_id} not found")
    return tenant_id


def operator_status(queue_ref: str, *, session: Session, now: datetime) -> QueueStatusView:
    """The status of any queue, whatever its tenant."""
    queue_id = parse_queue_id(queue_ref)
    return queue_status(queue_id, tenant_id=_tenant_of(queue_id, None, session=session), session=session, now=now)


def operator_control(
    queue_ref: str,
    command: ControlCommand,
    *,
    operator: str,
    tenant_ref: str | None,
    uow: UnitOfWork,
    publisher: Publisher,
    now: datetime,
) -> QueueStatusView:
    """Pause, resume or cancel any queue (of ``tenant_ref`` when given) as ``operator``."""
    queue_id = parse_queue_id(queue_ref)
    tenant_id = _tenant_of(queue_id, tenant_ref, session=uow.session)
    actor = Actor.for_operator(tenant_id, operator)
    return control_queue(queue_id, command, actor=actor, uow=uow, publisher=publisher, now=now)
