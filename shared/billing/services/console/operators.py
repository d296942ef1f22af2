"""Console operators: creation (``billing operator create``), sign-in with Argon2id and a login rate
limit, the per-request session check, and sign-out (which ends every session of the operator).

Sessions are signed cookies made by the console door; what it signs is the operator's id and
``session_epoch``. ``load_operator`` re-reads the row on every request (one primary-key lookup), so a
disabled operator, a changed role or a sign-out takes effect on the very next request.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import Session

from billing.contract.console import ROLES, OperatorIdentity, Role
from billing.db.models import ConsoleOperator
from billing.errors import AuthenticationError, ConflictError, RateLimitedError, ValidationFailedError

if TYPE_CHECKING:
    from argon2 import PasswordHasher

logger = logging.getLogger(__name__)

MIN_PASSWORD = 12
MAX_PASSWORD = 256  # Argon2 takes any length; a bound keeps a hostile form from costing anything
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,60}$")
# Sign-in attempts counted in fixed windows (rate_limit_buckets, purged by the sweeper): per address and
# per email, whatever the outcome, so guessing one account's password from many addresses is bounded too.
LOGIN_WINDOW_S = 300
LOGIN_PER_IP = 30
LOGIN_PER_EMAIL = 10

_COUNT = sa.text(
    """
    INSERT INTO rate_limit_buckets (key, hits, expires_at) VALUES (:ip_key, 1, :expires), (:email_key, 1, :expires)
    ON CONFLICT (key) DO UPDATE SET hits = rate_limit_buckets.hits + 1
    RETURNING key, hits
    """
)
_LOAD = sa.text(
    "SELECT id, email, role, tenant_id, session_epoch, active, password_hash FROM console_operators WHERE id = :id"
)
_BY_EMAIL = sa.text(
    "SELECT id, email, role, tenant_id, session_epoch, active, password_hash "
    "FROM console_operators WHERE lower(email) = lower(:email)"
)
_TOUCH = sa.text("UPDATE console_operators SET last_login_at = :now WHERE id = :id")
_REHASH = sa.text("UPDATE console_operators SET password_hash = :hash WHERE id = :id")
_SIGN_OUT = sa.text("UPDATE console_operators SET session_epoch = session_epoch + 1 WHERE id = :id")


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()  # Argon2id with the library's RFC 9106 low-memory defaults


@cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so the answer takes as long either way."""
    return _hasher().hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationFailedError(f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def normalize_email(email: str) -> str:
    email = email.strip()
    if not EMAIL.match(email):
        raise ValidationFailedError(f"not an email address: {email[:80]!r}")
    return email


def _identity(row: Any) -> OperatorIdentity:
    return OperatorIdentity(
        id=row.id, email=row.email, role=row.role, tenant_id=row.tenant_id, session_epoch=row.session_epoch
    )


@dataclass(frozen=True)
class CreatedOperator:
    operator: dict[str, Any]
    password: str  # shown once: the one given, or the one generated


def create_operator(
    *,
    session: Session,
    email: str,
    role: str,
    tenant_id: uuid.UUID | None,
    password: str | None = None,
    if_missing: bool = False,
) -> CreatedOperator | None:
    """Create an operator (``tenant_id`` None: every tenant). Without a password one is generated and
    returned once. With ``if_missing``, an existing email answers None and changes nothing."""
    email = normalize_email(email)
    if role not in ROLES:
        raise ValidationFailedError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    password = password if password is not None else secrets.token_urlsafe(15)
    _check_password(password)
    if session.execute(_BY_EMAIL, {"email": email}).first() is not None:
        if if_missing:
            return None
        raise ConflictError(f"an operator with email {email!r} already exists")
    row = ConsoleOperator(email=email, password_hash=hash_password(password), role=role, tenant_id=tenant_id)
    session.add(row)
    session.flush()
    logger.info(
        "console operator created",
        extra={"action": "console.operator_created", "operator_id": str(row.id), "role": role},
    )
    view = {"id": str(row.id), "email": email, "role": role, "tenant_id": str(tenant_id) if tenant_id else None}
    return CreatedOperator(operator=view, password=password)


def _count_attempt(session: Session, *, email: str, client_ip: str, now: datetime) -> None:
    window = int(now.timestamp()) // LOGIN_WINDOW_S
    expires = datetime.fromtimestamp((window + 1) * LOGIN_WINDOW_S, tz=now.tzinfo) + timedelta(seconds=1)
    email_digest = hashlib.sha256(email.lower().encode()).hexdigest()[:32]  # no address in the table
    ip_key, email_key = f"console-login-ip:{client_ip}:{window}", f"console-login-email:{email_digest}:{window}"
    hits = dict(session.execute(_COUNT, {"ip_key": ip_key, "email_key": email_key, "expires": expires}).tuples().all())
    if hits.get(ip_key, 0) > LOGIN_PER_IP or hits.get(email_key, 0) > LOGIN_PER_EMAIL:
        retry_after = max(1, (window + 1) * LOGIN_WINDOW_S - int(now.timestamp()))
        logger.warning(
            "console sign-in rate limited",
            extra={"action": "console.login_limited", "retry_after_s": retry_after},
        )
        raise RateLimitedError(
            f"muitas tentativas de entrar; tente de novo em {retry_after} s", retry_after=retry_after
        )


def authenticate(*, session: Session, email: str, password: str, client_ip: str, now: datetime) -> OperatorIdentity:
    """Check an email and password; count the attempt first (committed even when it fails)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    email = email.strip()[:254]
    _count_attempt(session, email=email, client_ip=client_ip, now=now)
    session.commit()  # the attempt counts even when the password is wrong
    row = session.execute(_BY_EMAIL, {"email": email}).first() if EMAIL.match(email) else None
    password = password[:MAX_PASSWORD]
    try:
        _hasher().verify(row.password_hash if row is not None else _dummy_hash(), password)
        ok = row is not None and row.active
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or row is None:
        logger.info("console sign-in refused", extra={"action": "console.login_refused"})
        raise AuthenticationError("e-mail ou senha incorretos")
    if _hasher().check_needs_rehash(row.password_hash):
        session.execute(_REHASH, {"id": row.id, "hash": hash_password(password)})
    session.execute(_TOUCH, {"id": row.id, "now": now})
    session.commit()
    logger.info("console sign-in", extra={"action": "console.login", "operator_id": str(row.id), "role": row.role})
    return _identity(row)


def load_operator(*, session: Session, operator_id: str, session_epoch: int) -> OperatorIdentity:
    """The operator a session cookie names, if it still may sign in with that cookie."""
    try:
        key = uuid.UUID(operator_id)
    except ValueError as exc:
        raise AuthenticationError("sessão inválida") from exc
    row = session.execute(_LOAD, {"id": key}).first()
    if row is None or not row.active or row.session_epoch != session_epoch:
        raise AuthenticationError("sua sessão terminou; entre de novo")
    return _identity(row)


def sign_out(*, session: Session, operator: OperatorIdentity) -> None:
    """End every session of the operator (every cookie carries the epoch this bumps)."""
    session.execute(_SIGN_OUT, {"id": operator.id})
    session.commit()
    logger.info("console sign-out", extra={"action": "console.logout", "operator_id": str(operator.id)})


def role_of(value: str) -> Role:
    if value not in ROLES:
        raise ValidationFailedError(f"unknown role {value!r}: one of {', '.join(ROLES)}")
    return value  # type: ignore[return-value]


@dataclass(frozen=True)
class TenantRef:
    id: uuid.UUID
    name: str
    display_name: str
    timezone: str = "America/Sao_Paulo"


MAX_TENANTS_LISTED = 500
_TENANTS = sa.text(
    "SELECT t.id, t.name, t.display_name, c.timezone FROM tenants t LEFT JOIN billing_configs c ON c.tenant_id = t.id "
    "WHERE CAST(:only AS uuid) IS NULL OR t.id = :only ORDER BY t.name LIMIT :n"
)


def tenants_for(*, session: Session, operator: OperatorIdentity) -> list[TenantRef]:
    """The tenants an operator may look at (their own, or every tenant up to ``MAX_TENANTS_LISTED``)."""
    rows = session.execute(_TENANTS, {"only": operator.tenant_id, "n": MAX_TENANTS_LISTED}).all()
    return [TenantRef(r.id, r.name, r.display_name or r.name, r.timezone or "America/Sao_Paulo") for r in rows]


_LIST = sa.text(
    """
    SELECT o.email, o.role, COALESCE(t.name, '*') AS tenant, o.active, o.last_login_at, o.created_at
      FROM console_operators o LEFT JOIN tenants t ON t.id = o.tenant_id
     WHERE CAST(:tenant_id AS uuid) IS NULL OR o.tenant_id = :tenant_id
     ORDER BY lower(o.email)
    """
)
_SET_ACTIVE = sa.text(
    "UPDATE console_operators SET active = :active, session_epoch = session_epoch + 1 "
    "WHERE lower(email) = lower(:email) RETURNING email, role, active"
)


def list_operators(*, session: Session, tenant_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    return [dict(r) for r in session.execute(_LIST, {"tenant_id": tenant_id}).mappings()]


def set_operator_active(*, session: Session, email: str, active: bool) -> dict[str, Any]:
    """Enable or disable an operator; either way every session they hold ends now."""
    row = session.execute(_SET_ACTIVE, {"email": email.strip(), "active": active}).mappings().first()
    if row is None:
        from billing.errors import NotFoundError

        raise NotFoundError(f"operator {email[:80]!r} not found")
    logger.info("console operator %s", "enabled" if active else "disabled", extra={"action": "console.operator_active"})
    return dict(row)


_UPDATE = sa.text(
    """
    UPDATE console_operators
       SET role = COALESCE(CAST(:role AS varchar), role),
           password_hash = COALESCE(CAST(:password_hash AS text), password_hash),
           session_epoch = session_epoch + 1
     WHERE lower(email) = lower(:email)
    RETURNING email, role, active
    """
)


def update_operator(
    *, session: Session, email: str, role: str | None = None, password: str | None = None, new_password: bool = False
) -> dict[str, Any]:
    """Change an operator's role and/or password (``new_password``: generate one, answered once); every
    session they hold ends either way, so the change counts from their next sign-in."""
    if role is not None and role not in ROLES:
        raise ValidationFailedError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if new_password:
        password = secrets.token_urlsafe(15)
    if password is not None:
        _check_password(password)
    if role is None and password is None:
        raise ValidationFailedError("nothing to change: give a role, a password or ask for a new password")
    row = (
        session.execute(
            _UPDATE,
            {
                "email": email.strip(),
                "role": role,
                "password_hash": hash_password(password) if password is not None else None,
            },
        )
        .mappings()
        .first()
    )
    if row is None:
        from billing.errors import NotFoundError

        raise NotFoundError(f"operator {email[:80]!r} not found")
    logger.info(
        "console operator updated",
        extra={
            "action": "console.operator_updated",
            "role_changed": role is not None,
            "password_changed": password is not None,
        },
    )
    answer = dict(row)
    if new_password:
        answer["password"] = password
    return answer
