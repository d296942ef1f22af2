"""A tenant's run-time view built in memory, for use-case unit tests (no database)."""

from __future__ import annotations

import uuid
from datetime import time
from typing import Any

from billing.db.models import BillingConfig
from billing.domain.hours import BusinessHours, Window
from billing.services.tenants import TenantRuntime

WEEKDAYS_9_TO_18 = tuple(Window(day, time(9), time(18)) for day in range(5))


def tenant_runtime(*, open_windows: tuple[Window, ...] | None = WEEKDAYS_9_TO_18, **config: Any) -> TenantRuntime:
    """Acme: São Paulo, weekdays 9-18 (or never open with ``open_windows=None``), 20 messages a minute."""
    tenant_id = uuid.uuid4()
    settings = BillingConfig(tenant_id=tenant_id, **config)
    hours = (
        BusinessHours(open_windows, timezone=settings.timezone, country=settings.country)
        if open_windows is not None
        else None
    )
    return TenantRuntime(tenant_id=tenant_id, name="acme", company="Acme Ltda", config=settings, hours=hours)
