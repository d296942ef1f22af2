"""The gate every ERP-facing route passes: client address, API key, rate limits.

One round trip does the work of three: the key lookup, and the rate-limit counters of the client
address and (when the presented key matches an active, unexpired key without an address list) of the
key, in one multi-statement string that commits on its own without waiting for the WAL flush. Python
then checks the key as before and is the judge: a key whose counter the statement did not bump (one
limited to some addresses, checked here first) is counted by a second statement. The address is
counted even when the key is refused, so guessing keys from one address runs into its limit.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import Session

from billing.config import Settings
from billing.http import ratelimit
from billing.http.auth import PresentedKey, Principal, check_key, client_ip

if TYPE_CHECKING:
    from flask import Request

API_KEY_HEADER = "X-Billing-API-Key"

# The lookup and the counts are the database function billing_guard (migration 0004), whose plan each
# backend caches; the counters' transaction does not wait for the WAL flush.
_GUARD = sa.text(
    """
    SET LOCAL synchronous_commit = off;
    SELECT * FROM billing_guard(:prefix, :key_hash, :now, :ip_bucket, :window_suffix, :expires)
    """
)


def guard(request: Request, *, session: Session, settings: Settings, now: datetime) -> tuple[Principal, dict[str, str]]:
    """Authenticate and count the request; commits the counters. Returns the principal and the
    ``RateLimit-*`` headers for the answer. Constant queries: 1 (2 for a key limited to some addresses,
    one more when ``last_used_at`` is refreshed, once a minute)."""
    ip = client_ip(
        request.remote_addr, request.headers.get("X-Forwarded-For"), trusted_proxies=settings.trusted_proxy_count
    )
    presented = PresentedKey.parse(request.headers.get(API_KEY_HEADER))
    window = ratelimit.Window.at(now)
    ip_subject = ratelimit.Subject(f"ip:{ip}", settings.ip_rate_limit_per_minute, "client address")
    row = (
        session.connection()
        .execute(
            _GUARD,
            {
                "prefix": presented.prefix,
                "key_hash": presented.key_hash,
                "now": now,
                "ip_bucket": window.bucket(ip_subject.key),
                "window_suffix": window.bucket(""),
                "expires": window.expires,
            },
        )
        .mappings()
        .one()
    )
    hits: dict[str, int] = dict(row["hits"])
    principal = check_key(presented, row, ip=ip, session=session, now=now)
    key_subject = ratelimit.Subject(f"key:{principal.api_key_id}", principal.rate_limit_per_minute, "API key")
    if window.bucket(key_subject.key) not in hits:  # a key limited to some addresses, now known to be allowed
        hits.update(ratelimit.count([window.bucket(key_subject.key)], window=window, session=session))
    state = ratelimit.evaluate([key_subject, ip_subject], hits, window=window)
    session.commit()
    return principal, state.headers()
