"""What the console's instances page reads and does.

``instances_page``: the tenant's WhatsApp numbers (``list_instances``), its pace and daily cap
(``get_config``) and, per number, its id, today's count and the queues parked because the gateway refused
its key: four statements whatever the tenant's size. ``update_key``: a new gateway key for one number,
as ``billing instance update --api-key`` (clears ``auth_failed``, resumes the parked queues, publishes
their tokens after the commit), audited with the operator; the key is never logged nor answered.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from billing.adapters.broker import Publisher
from billing.contract.queues import Actor
from billing.db.engine import UnitOfWork
from billing.db.models import Tenant, WhatsAppInstance
from billing.errors import NotFoundError, ValidationFailedError
from billing.services.admin.credentials import resume_instance_queues, update_instance
from billing.services.admin.listing import list_instances
from billing.services.admin.lookups import get_config
from billing.services.audit import audit_entry
from billing.services.publishing import publish_claimed

logger = logging.getLogger(__name__)

MAX_KEY_CHARS = 512
_NOT_FOUND = "instance not found"

# What ``list_instances`` leaves out: the id (the key form's address), the day its count is of, and how
# many of its queues are parked because the gateway refused its key.
_EXTRA = sa.text(
    """
    SELECT i.id, i.name, i.daily_count_date,
           count(q.id) FILTER (WHERE q.paused_reason LIKE '%auth_failed%') AS key_refused_queues
      FROM whatsapp_instances i
      LEFT JOIN billing_queues q ON q.instance_id = i.id AND q.status = 'instance_down'
     WHERE i.tenant_id = :tenant_id
     GROUP BY i.id
    """
)


@dataclass(frozen=True)
class InstanceRow:
    id: str
    name: str
    health_state: str
    health_checked_at: datetime | None
    sent_today: int
    active_queues: int
    key_refused_queues: int
    is_default: bool

    @property
    def key_refused(self) -> bool:
        """The gateway refused this number's key: only a new key makes it send again."""
        return self.health_state == "auth_failed" or self.key_refused_queues > 0


@dataclass(frozen=True)
class InstancesPage:
    rows: list[InstanceRow]
    throttle_per_minute: int
    jitter_s: float
    daily_cap: int | None


@dataclass(frozen=True)
class KeyUpdated:
    instance: str
    queues_resumed: int


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def instances_page(tenant_id: uuid.UUID, *, session: Session, now: datetime) -> InstancesPage:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFoundError("tenant not found")
    config = get_config(tenant_id, session=session)
    today = now.astimezone(ZoneInfo(config.timezone)).date()
    listed = list_instances(tenant, session=session)
    extra = {r.name: r for r in session.execute(_EXTRA, {"tenant_id": tenant_id}).all()}
    rows = []
    for item in listed:
        more = extra.get(item["name"])
        if more is None:  # created between the two statements: shown on the next load
            continue
        counted_on: date | None = more.daily_count_date
        rows.append(
            InstanceRow(
                id=str(more.id),
                name=item["name"],
                health_state=item["health_state"] or "unknown",
                health_checked_at=_when(item["health_checked_at"]),
                sent_today=int(item["daily_count"] or 0) if counted_on == today else 0,
                active_queues=int(item["active_queues"] or 0),
                key_refused_queues=int(more.key_refused_queues or 0),
                is_default=bool(item["is_default"]),
            )
        )
    return InstancesPage(rows, config.throttle_per_minute, float(config.jitter_s), config.daily_cap)


def _check_key(raw: str) -> str:
    key = raw.strip()
    if not key:
        raise ValidationFailedError("informe a chave nova da instância")
    if len(key) > MAX_KEY_CHARS or any(ch.isspace() or not ch.isprintable() for ch in key):
        raise ValidationFailedError(
            f"a chave deve ter até {MAX_KEY_CHARS} caracteres, sem espaços: cole-a como o gateway mostra"
        )
    return key


def update_key(
    instance_id: uuid.UUID,
    api_key: str,
    *,
    actor: Actor,
    uow: UnitOfWork,
    publisher: Publisher,
    secret_key: str,
    now: datetime,
) -> KeyUpdated:
    """Store a new gateway key for one of the actor's tenant's numbers, clear ``auth_failed`` and resume
    its parked queues (their tokens published after the commit). Audited; the key never leaves here."""
    session = uow.session
    inst = session.exec(
        select(WhatsAppInstance).where(
            WhatsAppInstance.id == instance_id, WhatsAppInstance.tenant_id == actor.tenant_id
        )
    ).first()
    if inst is None:
        raise NotFoundError(_NOT_FOUND)
    key = _check_key(api_key)
    before = inst.health_state
    update_instance(inst, session=session, secret_key=secret_key, api_key=key)
    resumed = resume_instance_queues(inst, session=session, now=now)
    queue_ids = [str(c.queue_id) for c in resumed]
    session.add(
        audit_entry(
            actor,
            "instance.key_updated",
            instance_id=str(inst.id),
            instance=inst.name,
            health_before=before,
            queues_resumed=queue_ids,
        )
    )
    uow.commit()
    if resumed:  # without a broker the claims are given back and the sweeper publishes them
        publish_claimed(resumed, reason="instance_key_updated", stamp=now, publisher=publisher, uow=uow)
    logger.info(
        "instance key updated",
        extra={
            "action": "console.instance_key_updated",
            "tenant_id": str(actor.tenant_id),
            "instance_id": str(inst.id),
            "health_before": before,
            "queues_resumed": len(queue_ids),
        },
    )
    return KeyUpdated(inst.name, len(queue_ids))
