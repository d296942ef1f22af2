"""Administrative use cases behind the ``billing`` CLI (and the test factories)."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, col, delete, select

from billing.crypto import encrypt_secret, generate_api_key, hash_webhook_secret
from billing.db.models import (
    ApiKey,
    BillingConfig,
    BusinessHoursWindow,
    ClosedDate,
    Template,
    TemplateVariation,
    Tenant,
    WhatsAppInstance,
)
from billing.domain.states import TemplateType
from billing.errors import ConflictError, NotFoundError, ValidationFailedError
from billing.services.default_templates import DEFAULT_TEMPLATES

DEFAULT_WEEKDAYS = (0, 1, 2, 3, 4)
DEFAULT_OPEN, DEFAULT_CLOSE = time(8, 0), time(18, 0)
MAX_VARIATIONS = 5


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
        )
    )
    for weekday in DEFAULT_WEEKDAYS:
        session.add(
            BusinessHoursWindow(tenant_id=tenant.id, weekday=weekday, start_time=DEFAULT_OPEN, end_time=DEFAULT_CLOSE)
        )
    for template_type, (tpl_name, bodies) in DEFAULT_TEMPLATES.items():
        add_template(tenant, template_type=template_type, name=tpl_name, bodies=bodies, default=True, session=session)
    session.flush()
    return tenant


def add_instance(
    tenant: Tenant,
    *,
    session: Session,
    name: str,
    url: str,
    api_key: str,
    secret_key: str,
    default: bool = False,
    gateway_instance: str | None = None,
    api_version: str = "v2",
    webhook_secret: str | None = None,
) -> WhatsAppInstance:
    if not url.startswith(("http://", "https://")):
        raise ValidationFailedError("gateway URL must start with http:// or https://")
    if api_version not in {"v1", "v2"}:
        raise ValidationFailedError("api version must be v1 or v2")
    if not api_key:
        raise ValidationFailedError("gateway API key must not be empty")
    exists = session.exec(
        select(WhatsAppInstance.id).where(WhatsAppInstance.tenant_id == tenant.id, WhatsAppInstance.name == name)
    ).first()
    if exists is not None:
        raise ConflictError(f"instance {name!r} already exists for tenant {tenant.name!r}")
    inst = WhatsAppInstance(
        tenant_id=tenant.id,
        name=name,
        gateway_url=url.rstrip("/"),
        gateway_instance=gateway_instance or name,
        api_key_encrypted=encrypt_secret(api_key, secret_key=secret_key),
        api_version=api_version,
        webhook_secret_hash=hash_webhook_secret(webhook_secret) if webhook_secret else None,
    )
    session.add(inst)
    session.flush()
    config = get_config(tenant.id, session=session)
    if default or config.default_instance_id is None:
        config.default_instance_id = inst.id
        session.add(config)
    session.flush()
    return inst


def update_instance(
    inst: WhatsAppInstance,
    *,
    session: Session,
    secret_key: str,
    url: str | None = None,
    api_key: str | None = None,
    webhook_secret: str | None = None,
) -> WhatsAppInstance:
    if url is not None:
        if not url.startswith(("http://", "https://")):
            raise ValidationFailedError("gateway URL must start with http:// or https://")
        inst.gateway_url = url.rstrip("/")
    if api_key is not None:
        inst.api_key_encrypted = encrypt_secret(api_key, secret_key=secret_key)
    if webhook_secret is not None:
        inst.webhook_secret_hash = hash_webhook_secret(webhook_secret)
    session.add(inst)
    session.flush()
    return inst


def _parse_types(types: Sequence[str] | None) -> list[str] | None:
    if not types:
        return None
    try:
        return sorted({TemplateType(t.strip()).value for t in types if t.strip()})
    except ValueError as exc:
        raise ValidationFailedError(f"unknown template type in {list(types)!r}") from exc


def _parse_cidrs(ips: Sequence[str] | None) -> list[str] | None:
    if not ips:
        return None
    try:
        return [str(ipaddress.ip_network(ip.strip(), strict=False)) for ip in ips if ip.strip()]
    except ValueError as exc:
        raise ValidationFailedError(f"invalid CIDR in {list(ips)!r}: {exc}") from exc


def create_api_key(
    tenant: Tenant,
    *,
    session: Session,
    name: str,
    types: Sequence[str] | None = None,
    ips: Sequence[str] | None = None,
    expires: date | None = None,
    rate_limit: int | None = None,
    now: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext, which is shown once and never stored."""
    now = now or datetime.now(UTC)
    if expires is not None and datetime.combine(expires, time(0), tzinfo=UTC) <= now:
        raise ValidationFailedError("expiry date must be in the future")
    if rate_limit is not None and rate_limit < 1:
        raise ValidationFailedError("rate limit must be a positive number of requests per minute")
    if session.exec(select(ApiKey.id).where(ApiKey.tenant_id == tenant.id, ApiKey.name == name)).first():
        raise ConflictError(f"API key {name!r} already exists for tenant {tenant.name!r}")
    full, prefix, key_hash = generate_api_key()
    key = ApiKey(
        tenant_id=tenant.id,
        name=name,
        prefix=prefix,
        key_hash=key_hash,
        allowed_types=_parse_types(types),
        allowed_ips=_parse_cidrs(ips),
        expires_at=datetime.combine(expires, time(0), tzinfo=UTC) if expires else None,
        rate_limit_per_minute=rate_limit,
    )
    session.add(key)
    session.flush()
    return key, full


def revoke_api_key(tenant: Tenant, *, session: Session, name: str) -> ApiKey:
    key = session.exec(select(ApiKey).where(ApiKey.tenant_id == tenant.id, ApiKey.name == name)).first()
    if key is None:
        raise NotFoundError(f"API key {name!r} not found for tenant {tenant.name!r}")
    if key.active:
        key.active = False
        key.revoked_at = datetime.now(UTC)
        session.add(key)
        session.flush()
    return key


def add_template(
    tenant: Tenant,
    *,
    session: Session,
    template_type: TemplateType | str,
    name: str,
    bodies: Sequence[str],
    default: bool = False,
    weights: Sequence[int] | None = None,
    variables_schema: dict[str, Any] | None = None,
) -> Template:
    from billing.domain.sanitize import sanitize_template_body
    from billing.errors import TemplateError

    try:
        ttype = TemplateType(template_type)
    except ValueError as exc:
        raise ValidationFailedError(f"unknown template type {template_type!r}") from exc
    if not 1 <= len(bodies) <= MAX_VARIATIONS:
        raise ValidationFailedError(f"a template needs 1 to {MAX_VARIATIONS} bodies")
    if weights is not None and (len(weights) != len(bodies) or any(w < 1 for w in weights)):
        raise ValidationFailedError("weights must be positive and one per body")
    clean: list[str] = []
    for i, body in enumerate(bodies, start=1):
        try:
            clean.append(sanitize_template_body(body))
        except TemplateError as exc:
            raise ValidationFailedError(f"body {i}: {exc}") from exc
    if variables_schema is not None:
        _check_json_schema(variables_schema)
    if session.exec(select(Template.id).where(Template.tenant_id == tenant.id, Template.name == name)).first():
        raise ConflictError(f"template {name!r} already exists for tenant {tenant.name!r}")
    if default:
        for other in session.exec(
            select(Template).where(
                Template.tenant_id == tenant.id, Template.template_type == ttype.value, col(Template.is_default)
            )
        ):
            other.is_default = False
            session.add(other)
        session.flush()
    template = Template(
        tenant_id=tenant.id, template_type=ttype.value, name=name, is_default=default, variables_schema=variables_schema
    )
    session.add(template)
    session.flush()
    for position, body in enumerate(clean, start=1):
        weight = weights[position - 1] if weights else 1
        session.add(
            TemplateVariation(tenant_id=tenant.id, template_id=template.id, position=position, body=body, weight=weight)
        )
    session.flush()
    return template


def _check_json_schema(schema: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValidationFailedError(f"invalid JSON Schema: {exc.message}") from exc


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
