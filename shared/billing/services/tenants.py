"""What services need to know about a tenant at run time, loaded in one round trip and cached briefly.

Config, business hours and closed dates change rarely, but a change must count from the next message:
for the sender a cached entry is used as is for ``FRESH_S``; after that one indexed read of the tenant's
``settings_version`` (bumped by triggers on every change, migration 0016) says whether it still holds,
and it is re-read in full when it does not, or at the latest every ``CACHE_TTL_S``.
"""

from __future__ import annotations

import threading
import time as _time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from billing.db.models import BillingConfig, BusinessHoursWindow, ClosedDate, Tenant
from billing.domain.hours import BusinessHours, Window
from billing.errors import BusinessHoursError, NotFoundError

CACHE_TTL_S = 60.0
FRESH_S = 1.0
_VERSION = sa.text("SELECT settings_version FROM billing_configs WHERE tenant_id = :tenant_id")


@dataclass(frozen=True)
class TenantRuntime:
    tenant_id: uuid.UUID
    name: str
    company: str
    config: BillingConfig
    hours: BusinessHours | None  # None when the tenant has no windows (never open)
    loaded_at: float = 0.0  # monotonic time of the full read

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)

    def today(self, now: datetime) -> date:
        """The tenant-local date at ``now``."""
        return now.astimezone(self.tz).date()

    def require_hours(self) -> BusinessHours:
        if self.hours is None:
            raise BusinessHoursError("the tenant has no business hours: set them with `billing hours set`")
        return self.hours


_cache: dict[uuid.UUID, tuple[float, TenantRuntime]] = {}
_lock = threading.Lock()


def load_tenant_runtime(
    tenant_id: uuid.UUID, *, session: Session, use_cache: bool = True, fresh_s: float | None = None
) -> TenantRuntime:
    """The tenant's runtime. Cached up to ``CACHE_TTL_S`` (estimates may lag a change that long); with
    ``fresh_s`` (the sender, whose next message must respect a change), a cached entry older than that
    is first checked against the tenant's ``settings_version``: one indexed read, at most once per
    ``fresh_s`` per tenant and process."""
    if use_cache:
        with _lock:
            hit = _cache.get(tenant_id)
        if hit is not None:
            checked_at, cached = hit
            age = _time.monotonic() - checked_at
            if age < (CACHE_TTL_S if fresh_s is None else fresh_s):
                return cached
            if fresh_s is not None and cached.loaded_at > _time.monotonic() - CACHE_TTL_S:
                version = session.execute(_VERSION, {"tenant_id": tenant_id}).scalar()
                if version == cached.config.settings_version:
                    with _lock:
                        _cache[tenant_id] = (_time.monotonic(), cached)
                    return cached
    tenant = session.get(Tenant, tenant_id)
    config = session.exec(select(BillingConfig).where(BillingConfig.tenant_id == tenant_id)).first()
    if tenant is None or config is None:
        raise NotFoundError("tenant not found")
    windows = session.exec(select(BusinessHoursWindow).where(BusinessHoursWindow.tenant_id == tenant_id)).all()
    closed = [c.day for c in session.exec(select(ClosedDate).where(ClosedDate.tenant_id == tenant_id)).all()]
    hours = None
    if windows:
        hours = BusinessHours(
            [Window(w.weekday, w.start_time, w.end_time) for w in windows],
            timezone=config.timezone,
            country=config.country,
            subdivision=config.subdivision,
            closed_dates=closed,
        )
    # The runtime outlives this session: detach the rows with their loaded state, or the unit of
    # work's closing rollback would expire them and a later read would fail.
    session.expunge(config)
    session.expunge(tenant)
    runtime = TenantRuntime(tenant.id, tenant.name, tenant.display_name, config, hours, _time.monotonic())
    with _lock:
        _cache[tenant_id] = (_time.monotonic(), runtime)
    return runtime


def forget_tenant(tenant_id: uuid.UUID | None = None) -> None:
    """Drop cached runtime data (after an admin change, and in tests)."""
    with _lock:
        if tenant_id is None:
            _cache.clear()
        else:
            _cache.pop(tenant_id, None)
