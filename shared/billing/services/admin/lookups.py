"""Find a tenant's objects by name or id (the CLI accepts either)."""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from billing.db.models import BillingConfig, Tenant, WhatsAppInstance
from billing.errors import NotFoundError


def _as_uuid(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


def resolve_tenant(ref: str, *, session: Session) -> Tenant:
    ref_id = _as_uuid(ref)
    stmt = select(Tenant).where(Tenant.id == ref_id) if ref_id else select(Tenant).where(Tenant.name == ref)
    tenant = session.exec(stmt).first()
    if tenant is None:
        raise NotFoundError(f"tenant {ref!r} not found")
    return tenant


def resolve_instance(tenant: Tenant, ref: str, *, session: Session) -> WhatsAppInstance:
    ref_id = _as_uuid(ref)
    cond = WhatsAppInstance.id == ref_id if ref_id else WhatsAppInstance.name == ref
    inst = session.exec(select(WhatsAppInstance).where(WhatsAppInstance.tenant_id == tenant.id, cond)).first()
    if inst is None:
        raise NotFoundError(f"instance {ref!r} not found for tenant {tenant.name!r}")
    return inst


def get_config(tenant_id: uuid.UUID, *, session: Session) -> BillingConfig:
    config = session.exec(select(BillingConfig).where(BillingConfig.tenant_id == tenant_id)).first()
    if config is None:
        raise NotFoundError("tenant has no billing configuration")
    return config
