"""Gateway instances (API key encrypted at rest) and API keys (hash only) of a tenant."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Generic, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from billing.crypto import (
    API_KEY_PREFIX_LEN,
    decrypt_secret,
    encrypt_secret,
    generate_api_key,
    hash_api_key,
    hash_webhook_secret,
    verify_api_key,
)
from billing.db.models import ApiKey, Tenant, WebhookEndpoint, WhatsAppInstance
from billing.domain.states import TemplateType
from billing.errors import ConflictError, MalformedApiKeyError, NotFoundError, ValidationFailedError
from billing.services.admin.lookups import get_config
from billing.services.publishing import Claimed

MIN_WEBHOOK_SECRET_CHARS = 32
# A given API key must be of our own format (``bk_<prefix>_<secret>``) with at least as much randomness as
# we generate.
API_KEY_FORMAT = re.compile(rf"bk_(?P<prefix>[0-9a-f]{{{API_KEY_PREFIX_LEN}}})_[A-Za-z0-9_-]{{32,}}")

Row = TypeVar("Row", WhatsAppInstance, ApiKey)


class Ensured(NamedTuple, Generic[Row]):
    """What an ``ensure_*`` use case answers: the row, whether this call created it, and the secret a row
    it created was made with (webhook secret or API key, given or generated), for the door to show once;
    None for a row that existed (only a hash of its secret is stored)."""

    row: Row
    created: bool
    secret: str | None = None


def new_webhook_secret() -> str:
    """A webhook secret of 256 random bits (43 URL-safe characters), for when the operator gives none."""
    import secrets

    return secrets.token_urlsafe(32)


def _check_webhook_secret(secret: str) -> None:
    if len(secret) < MIN_WEBHOOK_SECRET_CHARS:
        raise ValidationFailedError(
            f"a webhook secret needs at least {MIN_WEBHOOK_SECRET_CHARS} characters; "
            "leave it out to get a generated one"
        )


def _check_gateway_url(url: str) -> None:
    from billing.config import get_settings

    if not url.startswith(("http://", "https://")):
        raise ValidationFailedError("gateway URL must start with http:// or https://")
    settings = get_settings()
    if url.startswith("http://") and settings.environment == "production" and not settings.allow_http_gateway:
        raise ValidationFailedError(
            "an http:// gateway URL sends the gateway's API key and every message in clear text; use https://, "
            "or set BILLING_ALLOW_HTTP_GATEWAY=true for a gateway reached only inside the cluster"
        )


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
    _check_gateway_url(url)
    if webhook_secret is not None:
        _check_webhook_secret(webhook_secret)
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


def ensure_instance(
    tenant: Tenant,
    *,
    session: Session,
    secret_key: str,
    name: str,
    url: str,
    gateway_instance: str | None = None,
    api_key: str,
    webhook_secret: str | None = None,
    **options: Any,
) -> Ensured[WhatsAppInstance]:
    """The tenant's instance ``name`` when it is the one asked for, else a new one (``add_instance`` with
    ``options``; a generated webhook secret when none is given).

    An existing instance is kept only when it is the one asked for: a changed URL, gateway instance, API
    key or (when given) webhook secret would otherwise be reported as done while the gateway keeps failing,
    so it is a ConflictError naming the fields, never their values. Nothing of it changes here
    (``update_instance`` does that)."""
    inst = session.exec(
        select(WhatsAppInstance).where(WhatsAppInstance.tenant_id == tenant.id, WhatsAppInstance.name == name)
    ).first()
    if inst is None:
        secret = webhook_secret or new_webhook_secret()
        inst = add_instance(
            tenant,
            session=session,
            name=name,
            url=url,
            api_key=api_key,
            secret_key=secret_key,
            gateway_instance=gateway_instance,
            webhook_secret=secret,
            **options,
        )
        return Ensured(inst, True, secret)
    different = [
        field
        for field, same in (
            ("URL", inst.gateway_url == url.rstrip("/")),
            ("gateway instance", inst.gateway_instance == (gateway_instance or name)),
            ("API key", decrypt_secret(inst.api_key_encrypted, secret_key=secret_key) == api_key),
            (
                "webhook secret",
                webhook_secret is None or inst.webhook_secret_hash == hash_webhook_secret(webhook_secret),
            ),
        )
        if not same
    ]
    if different:
        raise ConflictError(
            f"instance {inst.name!r} exists with a different {', '.join(different)}: "
            "change it with `billing instance update` or correct what was given, then run this again"
        )
    return Ensured(inst, False)


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
        _check_gateway_url(url)
        inst.gateway_url = url.rstrip("/")
    if api_key is not None:
        inst.api_key_encrypted = encrypt_secret(api_key, secret_key=secret_key)
        # A new key deserves a fresh look: an auth_failed (or closed) flag no longer says anything.
        inst.health_state = "unknown"
        inst.health_checked_at = None
    if webhook_secret is not None:
        _check_webhook_secret(webhook_secret)
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


def _given_key_prefix(key: str) -> str:
    """The lookup prefix of an API key the operator gives, refused unless it is of our format."""
    match = API_KEY_FORMAT.fullmatch(key)
    if match is None:
        raise MalformedApiKeyError(
            f"is not an API key of the form bk_<{API_KEY_PREFIX_LEN} hex digits>_<32+ characters of A-Z a-z 0-9 _ ->; "
            "deploy/README.md shows how to generate one"
        )
    return match["prefix"]


def create_api_key(
    tenant: Tenant,
    *,
    session: Session,
    name: str,
    types: Sequence[str] | None = None,
    ips: Sequence[str] | None = None,
    expires: date | None = None,
    rate_limit: int | None = None,
    read_only: bool = False,
    now: datetime | None = None,
    key: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext, which is never stored (only its prefix and hash).

    ``key``: the operator's own key (``API_KEY_FORMAT``, a prefix no other key has) instead of a generated
    one, which the door shows once. ``expires`` is the last day the key works: it stops at the end of that
    day in the tenant's time zone (midnight UTC would cut a São Paulo key off at 21:00 the evening before)."""
    given = (key, _given_key_prefix(key)) if key is not None else None  # a malformed key is refused first
    now = now or datetime.now(UTC)
    expires_at = None
    if expires is not None:
        zone = ZoneInfo(get_config(tenant.id, session=session).timezone)
        expires_at = datetime.combine(expires + timedelta(days=1), time(0), tzinfo=zone)
        if expires_at <= now:
            raise ValidationFailedError("expiry date must not be in the past")
    if rate_limit is not None and rate_limit < 1:
        raise ValidationFailedError("rate limit must be a positive number of requests per minute")
    if session.exec(select(ApiKey.id).where(ApiKey.tenant_id == tenant.id, ApiKey.name == name)).first():
        raise ConflictError(f"API key {name!r} already exists for tenant {tenant.name!r}")
    if given is None:
        full, prefix, key_hash = generate_api_key()
    else:
        full, prefix = given
        if session.exec(select(ApiKey.id).where(ApiKey.prefix == prefix)).first() is not None:
            raise ConflictError("another API key already starts with this one's prefix: generate a new key")
        key_hash = hash_api_key(full)
    row = ApiKey(
        tenant_id=tenant.id,
        name=name,
        prefix=prefix,
        key_hash=key_hash,
        allowed_types=_parse_types(types),
        allowed_ips=_parse_cidrs(ips),
        expires_at=expires_at,
        rate_limit_per_minute=rate_limit,
        read_only=read_only,
    )
    session.add(row)
    session.flush()
    return row, full


def ensure_api_key(
    tenant: Tenant, *, session: Session, name: str, key: str | None = None, **options: Any
) -> Ensured[ApiKey]:
    """The tenant's API key ``name`` when it still works and, if ``key`` is given, is that key; else a new
    one (``create_api_key`` with ``key`` and ``options``).

    A key is never overwritten: a revoked one, or one with another value, is a ConflictError (the new key
    belongs under another name)."""
    if key is not None:
        _given_key_prefix(key)  # a malformed key is named as such, not as "another value"
    existing = session.exec(select(ApiKey).where(ApiKey.tenant_id == tenant.id, ApiKey.name == name)).first()
    if existing is None:
        row, plaintext = create_api_key(tenant, session=session, name=name, key=key, **options)
        return Ensured(row, True, plaintext)
    if not existing.active:
        raise ConflictError(f"API key {name!r} exists but was revoked: create the new one under another name")
    if key is not None and not verify_api_key(key, existing.key_hash):
        raise ConflictError(
            f"API key {name!r} exists with another value: revoke it and create the new one under another name"
        )
    return Ensured(existing, False)


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


def rotate_gateway_keys(*, session: Session, secret_key: str) -> int:
    """Re-encrypt every stored secret (gateway API keys, ERP webhook endpoint secrets) with the newest key
    of ``secret_key``; returns how many changed. Run after putting the new key first in BILLING_SECRET_KEY
    (``new,old``); once it reports every instance and endpoint, the old key can be dropped."""
    from billing.crypto import reencrypt_secret

    stored: list[tuple[WhatsAppInstance | WebhookEndpoint, str]] = [
        *((inst, "api_key_encrypted") for inst in session.exec(select(WhatsAppInstance)).all()),
        *((endpoint, "secret_encrypted") for endpoint in session.exec(select(WebhookEndpoint)).all()),
    ]
    changed = 0
    for row, column in stored:
        rotated = reencrypt_secret(getattr(row, column), secret_key=secret_key)
        if rotated != getattr(row, column):
            setattr(row, column, rotated)
            session.add(row)
            changed += 1
    session.flush()
    return changed


def resume_instance_queues(inst: WhatsAppInstance, *, session: Session, now: datetime) -> list[Claimed]:
    """The instance's ``instance_down`` queues back to ``pending`` (after its key was fixed): dispatch
    checks the instance's health before its first send. Returns the claims to publish after commit."""
    from billing.services.sweep.steps import claim_recovered

    return claim_recovered(inst.id, session=session, now=now)


_QUEUES_OF_INSTANCE = sa.text(
    "SELECT count(*) AS total, count(*) FILTER (WHERE status NOT IN ('completed', 'cancelled', 'failed')) AS active"
    " FROM billing_queues WHERE instance_id = :instance_id"
)


def remove_instance(tenant: Tenant, inst: WhatsAppInstance, *, session: Session) -> None:
    """Forget an instance no queue uses. Refused (409) while any queue refers to it: active ones must
    finish or be cancelled, finished ones keep their history until the tenant's retention purges them."""
    counts = session.execute(_QUEUES_OF_INSTANCE, {"instance_id": inst.id}).one()
    if counts.total:
        raise ConflictError(
            f"instance {inst.name!r} is used by {counts.total} queue(s), {counts.active} still active: cancel or "
            "finish them; finished ones keep their history until the tenant's retention purges them"
        )
    config = get_config(tenant.id, session=session)
    if config.default_instance_id == inst.id:
        config.default_instance_id = None
        session.add(config)
    session.delete(inst)
    session.flush()
