"""ERP webhooks (Standard Webhooks): secrets, endpoint URLs, what an answer means and when to try again.

The port an endpoint is reached through (``WebhookPoster``) and its answer (``PostResult``) live here;
the HTTP adapter is ``billing.adapters.outbound_webhooks``, the use case ``billing.services.webhooks_out``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

from billing.errors import InvalidValueError

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix every secret starts with, not a secret
# The specification's bounds on a secret's random bytes.
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
# The specification's schedule: now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h (seconds).
STANDARD_SCHEDULE_S: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
JITTER = 0.10
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_URL_CHARS = 2000


# Answers that ask the sender to slow down (Standard Webhooks): the next attempt waits one step more.
THROTTLING = frozenset({429, 502, 504})


class Verdict(StrEnum):
    DELIVERED = "delivered"  # any 2xx: the cursor moves on
    GONE = "gone"  # 410: the ERP asks us to stop, the endpoint is disabled
    FAILED = "failed"  # anything else, no answer included: the same event again later


@dataclass(frozen=True, slots=True)
class PostResult:
    """What one POST came back with. ``status`` is None when no answer came (network error, timeout)."""

    status: int | None
    retry_after_s: float | None = None
    error: str | None = None
    duration_s: float = 0.0

    @property
    def throttled(self) -> bool:
        return self.status in THROTTLING

    @property
    def verdict(self) -> Verdict:
        if self.status is not None and 200 <= self.status < 300:
            return Verdict.DELIVERED
        if self.status == 410:
            return Verdict.GONE
        return Verdict.FAILED


class WebhookPoster(Protocol):
    def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> PostResult:
        """POST ``body`` once; never raises for what the endpoint or the network does."""
        ...


def parse_secret(text: str) -> bytes:
    """``whsec_<base64>`` -> the key's bytes (24 to 64 of them)."""
    if not text.startswith(SECRET_PREFIX):
        raise InvalidValueError(f"a webhook secret starts with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidValueError(f"a webhook secret is {SECRET_PREFIX} followed by base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise InvalidValueError(
            f"a webhook secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, this one {len(key)}"
        )
    return key


def format_secret(key: bytes) -> str:
    return SECRET_PREFIX + base64.b64encode(key).decode()


def check_url(url: str, *, production: bool) -> str:
    """The endpoint URL, stripped: https anywhere; plain http only to this machine, and never in production
    (each delivery carries a customer's phone and invoice)."""
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise InvalidValueError(f"an endpoint URL has at most {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise InvalidValueError("the endpoint URL is malformed") from None
    if parts.scheme not in {"http", "https"} or not host:
        raise InvalidValueError("the endpoint URL must be an absolute https:// URL")
    if parts.scheme == "http" and (production or host not in LOOPBACK_HOSTS):
        where = "in production" if production else f"to {host}"
        raise InvalidValueError(f"webhooks go over https:// only {where} (plain http only to localhost in development)")
    return url


def parse_schedule(text: str) -> tuple[float, ...]:
    """``BILLING_WEBHOOK_RETRY_SCHEDULE``: seconds, comma-separated, the first attempt's delay first."""
    try:
        steps = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InvalidValueError("a retry schedule is seconds separated by commas, e.g. 0,5,300") from None
    if not steps or any(step < 0 for step in steps):
        raise InvalidValueError("a retry schedule needs one or more delays of 0 seconds or more")
    return steps


def retry_delay(
    failures: int, schedule: Sequence[float], *, retry_after_s: float | None, rand: float, throttled: bool = False
) -> float:
    """Seconds until the next attempt after ``failures`` failed ones in a row (``rand`` in [0, 1) spreads
    it by +-10 %). Past the schedule, its last step repeats. A throttling answer (429, 502, 504) waits one
    step more. ``Retry-After`` may ask for longer, up to that last step, never for sooner."""
    step = schedule[min(max(failures, 1) + (1 if throttled else 0), len(schedule) - 1)]
    delay = step * (1 + JITTER * (2 * rand - 1))
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, max(schedule)))
    return delay


def gives_up(failing_since: datetime, now: datetime, *, after: timedelta) -> bool:
    """An endpoint failing without a break for ``after`` (5 days) is disabled."""
    return now - failing_since >= after


def message_id(event_id: int) -> str:
    """``webhook-id``: the same for an event on every attempt (the ERP's idempotency key)."""
    return f"evt_{event_id}"


def payload(event_type: str, timestamp: str, data: Mapping[str, Any]) -> bytes:
    """The body the specification describes: ``{"type", "timestamp", "data"}``, compact UTF-8 JSON."""
    body = {"type": event_type, "timestamp": timestamp, "data": dict(data)}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
