"""The console's signed session cookie and its CSRF tokens.

The cookie carries the operator's id, their ``session_epoch`` (sign-out bumps it, ending every cookie
issued before), the tenant being looked at (operators of every tenant switch it) and a random nonce.
It is signed (not encrypted: nothing in it is secret) with a key derived from BILLING_SECRET_KEY, every
key of a rotation accepted, and expires after ``MAX_AGE_S``. A form's CSRF token is an HMAC of the
session's nonce; the sign-in form, before any session, uses a nonce of its own cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from billing.crypto import secret_keys

if TYPE_CHECKING:
    from itsdangerous import URLSafeTimedSerializer

COOKIE = "billing_console"
# The whole site: the event stream (/api/v1/billing/events) takes this cookie too, for the live progress
# bars. The API's other routes ignore it (they authenticate by key header, so it gives no CSRF foothold).
COOKIE_PATH = "/"
LOGIN_COOKIE = "billing_console_login"
MAX_AGE_S = 12 * 3600  # one working day and a night shift; then sign in again
LOGIN_MAX_AGE_S = 3600


def _derive(key: str, purpose: str) -> bytes:
    return hmac.new(key.encode(), f"billing-console:{purpose}".encode(), hashlib.sha256).digest()


@cache
def _serializer(secret_key: str, salt: str) -> URLSafeTimedSerializer:
    from itsdangerous import URLSafeTimedSerializer

    keys = [_derive(k, "cookie") for k in reversed(secret_keys(secret_key))]  # itsdangerous signs with the last
    return URLSafeTimedSerializer(keys, salt=salt)


@dataclass(frozen=True)
class ConsoleSession:
    operator_id: str
    epoch: int
    nonce: str
    tenant_id: str | None = None
    issued_at: int = 0  # unix seconds of the sign-in: a re-signed cookie (tenant switch) keeps it

    def with_tenant(self, tenant_id: str | None) -> ConsoleSession:
        return replace(self, tenant_id=tenant_id)


def new_session(operator_id: str, epoch: int, tenant_id: str | None) -> ConsoleSession:
    return ConsoleSession(
        operator_id=operator_id,
        epoch=epoch,
        nonce=secrets.token_urlsafe(16),
        tenant_id=tenant_id,
        issued_at=int(time.time()),
    )


def dump(session: ConsoleSession, *, secret_key: str) -> str:
    payload = {
        "o": session.operator_id,
        "e": session.epoch,
        "n": session.nonce,
        "t": session.tenant_id,
        "i": session.issued_at,
    }
    return str(_serializer(secret_key, "session").dumps(payload))


def load(cookie: str | None, *, secret_key: str) -> ConsoleSession | None:
    """The session a cookie holds, or None when it is missing, forged, expired or malformed."""
    from itsdangerous import BadSignature

    if not cookie or len(cookie) > 1024:
        return None
    try:
        data: Any = _serializer(secret_key, "session").loads(cookie, max_age=MAX_AGE_S)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    operator, epoch, nonce, tenant = data.get("o"), data.get("e"), data.get("n"), data.get("t")
    issued = data.get("i")
    if not (isinstance(operator, str) and isinstance(epoch, int) and isinstance(nonce, str)):
        return None
    # The signature's own time restarts when the cookie is re-signed; the sign-in's time does not.
    if not isinstance(issued, int) or not -60 <= time.time() - issued <= MAX_AGE_S:  # 60 s of clock skew
        return None
    return ConsoleSession(operator, epoch, nonce, tenant if isinstance(tenant, str) else None, issued)


def csrf_token(nonce: str, *, secret_key: str) -> str:
    key = _derive(secret_keys(secret_key)[0], "csrf")
    return hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()


def csrf_ok(presented: str | None, nonce: str, *, secret_key: str) -> bool:
    if not presented or len(presented) > 128:
        return False
    for key in secret_keys(secret_key):
        expected = hmac.new(_derive(key, "csrf"), nonce.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(presented.encode(), expected.encode()):
            return True
    return False


def login_nonce(cookie: str | None, *, secret_key: str) -> str | None:
    from itsdangerous import BadSignature

    if not cookie or len(cookie) > 512:
        return None
    try:
        value = _serializer(secret_key, "login").loads(cookie, max_age=LOGIN_MAX_AGE_S)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def new_login_cookie(*, secret_key: str) -> tuple[str, str]:
    """A fresh sign-in nonce and the signed cookie that carries it."""
    nonce = secrets.token_urlsafe(16)
    return nonce, str(_serializer(secret_key, "login").dumps(nonce))
