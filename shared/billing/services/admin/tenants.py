"""Tenants, their configuration, business hours and closed dates (the rest of admin: see the package)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, col, delete, select

from billing.db.models import BillingConfig, BusinessHoursWindow, ClosedDate, Tenant
from billing.errors import ConflictError, ValidationFailedError
from billing.services.admin.default_templates import (
    DEFAULT_OPT_OUT_CONFIRMATION,
    DEFAULT_SCHEMAS,
    DEFAULT_TEMPLATES,
)
from billing.services.admin.lookups import get_config, resolve_instance
from billing.services.admin.templates import add_template

DEFAULT_WEEKDAYS = (0, 1, 2, 3, 4)
DEFAULT_OPEN, DEFAULT_CLOSE = time(8, 0), time(18, 0)


def _check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailedError(f"unknown time zone {name!r}") from exc


def _check_region(country: str, subdivision: str | None) -> None:
    import holidays

    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as exc:
        where = f"{country}/{subdivision}" if subdivision else country
        raise ValidationFailedError(f"unknown country or subdivision {where!r} for holidays") from exc


def create_tenant(
    name: str,
    *,
    session: Session,
    display_name: str | None = None,
    timezone: str = "America/Sao_Paulo",
    country: str = "BR",
    subdivision: str | None = None,
    locale: str = "pt_BR",
) -> Tenant:
    """A tenant that works at once: config, Mon-Fri 08:00-18:00 and a default template of each type."""
    if not name.strip() or len(name) > 100:
        raise ValidationFailedError("tenant name must be 1-100 characters")
    _check_timezone(timezone)
    _check_region(country.upper(), subdivision.upper() if subdivision else None)
    if session.exec(select(Tenant.id).where(Tenant.name == name)).first() is not None:
        raise ConflictError(f"tenant {name!r} already exists")
    tenant = Tenant(name=name, display_name=display_name or name)
    session.add(tenant)
    session.flush()
    session.add(
        BillingConfig(
            tenant_id=tenant.id,
            timezone=timezone,
            country=country.upper(),
            subdivision=subdivision.upper() if subdivision else None,
            locale=locale,
            opt_out_confirmation=DEFAULT_OPT_OUT_CONFIRMATION.format(company=tenant.display_name),
        )
    )
    for weekday in DEFAULT_WEEKDAYS:
        session.add(
            BusinessHoursWindow(tenant_id=tenant.id, weekday=weekday, start_time=DEFAULT_OPEN, end_time=DEFAULT_CLOSE)
        )
    for template_type, (tpl_name, bodies) in DEFAULT_TEMPLATES.items():
        add_template(
            tenant,
            template_type=template_type,
            name=tpl_name,
            bodies=bodies,
            default=True,
            variables_schema=DEFAULT_SCHEMAS.get(template_type),
            session=session,
        )
    session.flush()
    return tenant


def ensure_tenant(name: str, *, session: Session, **options: Any) -> tuple[Tenant, bool]:
    """The tenant called ``name`` and whether this call created it (``create_tenant`` with ``options``).

    An existing tenant is left as it is, whatever ``options`` say: ``set_config`` changes a tenant."""
    existing = session.exec(select(Tenant).where(Tenant.name == name)).first()
    if existing is not None:
        return existing, False
    return create_tenant(name, session=session, **options), True


def set_hours(
    tenant: Tenant, *, session: Session, weekdays: Sequence[int], start: time, end: time, add: bool = False
) -> list[BusinessHoursWindow]:
    """Set (or with ``add`` append) one window on each given weekday."""
    if end <= start:
        raise ValidationFailedError("closing time must be after opening time")
    if not weekdays:
        raise ValidationFailedError("no weekdays given")
    if not add:
        session.exec(  # type: ignore[call-overload]
            delete(BusinessHoursWindow).where(
                col(BusinessHoursWindow.tenant_id) == tenant.id, col(BusinessHoursWindow.weekday).in_(weekdays)
            )
        )
    rows = [BusinessHoursWindow(tenant_id=tenant.id, weekday=d, start_time=start, end_time=end) for d in weekdays]
    session.add_all(rows)
    session.flush()
    return rows


def remove_hours(tenant: Tenant, *, session: Session, weekdays: Sequence[int]) -> int:
    """Remove every business-hours window on the given weekdays (the tenant no longer sends on them);
    returns how many windows went."""
    if not weekdays:
        raise ValidationFailedError("no weekdays given")
    removed = session.exec(  # type: ignore[call-overload]
        delete(BusinessHoursWindow).where(
            col(BusinessHoursWindow.tenant_id) == tenant.id, col(BusinessHoursWindow.weekday).in_(weekdays)
        )
    )
    session.flush()
    return int(removed.rowcount or 0)


def add_closed_date(tenant: Tenant, *, session: Session, day: date, reason: str | None = None) -> ClosedDate:
    if session.exec(select(ClosedDate.id).where(ClosedDate.tenant_id == tenant.id, ClosedDate.day == day)).first():
        raise ConflictError(f"{day.isoformat()} is already a closed date")
    row = ClosedDate(tenant_id=tenant.id, day=day, reason=reason)
    session.add(row)
    session.flush()
    return row


CONFIG_FIELDS = {
    "throttle_per_minute": (1, 600),
    "jitter_s": (0, 600),
    "daily_cap": (1, 1_000_000),
    "batch_size": (1, 10_000),
    "max_contacts_per_request": (1, 100_000),
    "api_rate_limit_per_minute": (1, 100_000),
    "api_read_rate_limit_per_minute": (1, 100_000),
    "retention_days": (7, 3650),
}


def set_config(tenant: Tenant, *, session: Session, **changes: Any) -> BillingConfig:
    config = get_config(tenant.id, session=session)
    for field, value in changes.items():
        if value is None:
            continue
        if field in CONFIG_FIELDS:
            low, high = CONFIG_FIELDS[field]
            if not low <= value <= high:
                raise ValidationFailedError(f"{field.replace('_', '-')} must be between {low} and {high}")
        elif field == "timezone":
            _check_timezone(value)
        elif field == "default_instance":
            config.default_instance_id = resolve_instance(tenant, value, session=session).id
            continue
        elif field not in {"locale", "country", "subdivision", "opt_out_keywords", "opt_out_confirmation"}:
            raise ValidationFailedError(f"unknown setting {field!r}")
        setattr(config, field, value)
    if "country" in changes or "subdivision" in changes:
        _check_region(config.country, config.subdivision)
    session.add(config)
    session.flush()
    return config


def public_dict(row: Any, *, hide: Sequence[str] = ()) -> dict[str, Any]:
    """A JSON-ready view of a row without secret columns."""
    secret = {"api_key_encrypted", "key_hash", "webhook_secret_hash", *hide}
    out: dict[str, Any] = {}
    for key, value in row.model_dump().items():
        if key in secret:
            continue
        if isinstance(value, uuid.UUID):
            out[key] = str(value)
        elif isinstance(value, (datetime, date, time)):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out
