"""The gate every ERP-facing route passes: client address, API key, rate limits.

One round trip does the work of three: the key lookup, and the rate-limit counters of the client
address and (when the presented key matches an active, unexpired key without an address list) of the
key, in one statement (the database function ``billing_guard``) whose counters commit without
waiting for the WAL flush. Python then judges: first the address's limit, then the key as before; a
key whose counter the statement did not bump (one limited to some addresses, checked here first) is
counted by a second statement. Every request counts against its address, refused ones included, so
an address that keeps presenting bad keys is answered 429 once over its limit.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from sqlmodel import Session

from billing.config import Settings
from billing.db.engine import commit
from billing.db.raw import fetch_one
from billing.errors import AuthenticationError, PermissionDeniedError, RateLimitedError
from billing.http import ratelimit
from billing.http.auth import PresentedKey, Principal, check_key, client_ip, rate_limit_subject

if TYPE_CHECKING:
    from flask import Request

API_KEY_HEADER = "X-Billing-API-Key"
Scope = Literal["write", "read"]
_BUCKET: dict[str, str] = {"write": "key", "read": "read"}  # the counter names billing_guard uses (0010)

# The lookup and the counts are the database function billing_guard (migration 0004), whose plan each
# backend caches; the counters' transaction does not wait for the WAL flush.
# Run on the DBAPI cursor (billing.db.raw): one row, a psycopg2 statement.
_GUARD = """
    SET LOCAL synchronous_commit = off;
    SELECT * FROM billing_guard(%(prefix)s, %(key_hash)s, %(now)s, %(ip_bucket)s, %(window_suffix)s,
                                %(expires)s, %(scope)s)
"""


def guard(
    request: Request, *, session: Session, settings: Settings, now: datetime, scope: Scope = "write"
) -> tuple[Principal, dict[str, str]]:
    """Authenticate and count the request; commits the counters. Returns the principal and the
    ``RateLimit-*`` headers for the answer. ``scope``: ``write`` (send, control) counts against the key's
    limit, ``read`` (status, contacts, lookups) against the tenant's separate read budget. Constant
    queries: 1 (2 for a key limited to some addresses, one more when ``last_used_at`` is refreshed, once
    a minute)."""
    ip = client_ip(request.remote_addr, request.headers.get("X-Forwarded-For"), trusted=settings.trusted_networks)
    presented = PresentedKey.parse(request.headers.get(API_KEY_HEADER))
    window = ratelimit.Window.at(now)
    ip_subject = ratelimit.Subject(f"ip:{rate_limit_subject(ip)}", settings.ip_rate_limit_per_minute, "client address")
    found = fetch_one(
        session,
        _GUARD,
        {
            "prefix": presented.prefix,
            "key_hash": presented.key_hash,
            "now": now,
            "ip_bucket": window.bucket(ip_subject.key),
            "window_suffix": window.suffix,
            "expires": window.expires,
            "scope": scope,
        },
    )
    if found is None:  # pragma: no cover - billing_guard always returns its one row
        raise RuntimeError("billing_guard returned no row")
    row = found._asdict()
    hits: dict[str, int] = dict(row["hits"])
    try:
        # An address over its limit is refused whatever key it shows (and before the key is judged).
        ratelimit.evaluate([ip_subject], hits, window=window)
        principal = check_key(presented, row, ip=ip, session=session, now=now)
        key_subject = ratelimit.Subject(
            f"{_BUCKET[scope]}:{principal.api_key_id}",
            principal.rate_limit_per_minute,
            "API key" if scope == "write" else "API key's reads",
        )
        key_bucket = window.bucket(key_subject.key)
        if key_bucket not in hits:  # a key limited to some addresses, now known to be allowed
            hits[key_bucket] = ratelimit.count(key_bucket, window=window, session=session)
        state = ratelimit.evaluate([key_subject, ip_subject], hits, window=window)
    except (AuthenticationError, PermissionDeniedError, RateLimitedError):
        commit(session)  # a refused request still counts (send and control run in a transaction)
        raise
    commit(session)
    return principal, state.headers()
