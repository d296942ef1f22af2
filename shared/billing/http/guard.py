"""The gate every ERP-facing route passes: client address, API key, rate limits."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from billing.config import Settings
from billing.http import ratelimit
from billing.http.auth import Principal, authenticate, client_ip

if TYPE_CHECKING:
    from flask import Request

API_KEY_HEADER = "X-Billing-API-Key"


def guard(request: Request, *, session: Session, settings: Settings, now: datetime) -> tuple[Principal, dict[str, str]]:
    """Authenticate and count the request; commits the counters. Returns the principal and the
    ``RateLimit-*`` headers for the answer. Constant queries: 2 (3 when ``last_used_at`` is refreshed)."""
    ip = client_ip(
        request.remote_addr, request.headers.get("X-Forwarded-For"), trusted_proxies=settings.trusted_proxy_count
    )
    principal = authenticate(request.headers.get(API_KEY_HEADER), ip=ip, session=session, now=now)
    state = ratelimit.check(
        [
            ratelimit.Subject(f"key:{principal.api_key_id}", principal.rate_limit_per_minute, "API key"),
            ratelimit.Subject(f"ip:{ip}", settings.ip_rate_limit_per_minute, "client address"),
        ],
        session=session,
        now=now,
    )
    session.commit()
    return principal, state.headers()
