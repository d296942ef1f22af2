"""Rate limits shared by every replica: fixed one-minute windows counted in PostgreSQL.

Both subjects of a request (its API key and its client IP) are counted by one atomic
``INSERT ... ON CONFLICT ... RETURNING`` statement, so replicas never race and a request costs one
round trip. Counters may lose their last few hundred milliseconds in a database crash, which is
harmless, so their transaction does not wait for the WAL flush (``synchronous_commit = off``, sent in
the same round trip). The sweeper deletes expired windows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from billing.errors import RateLimitedError

WINDOW_S = 60

_COUNT = """
SET LOCAL synchronous_commit = off;
INSERT INTO rate_limit_buckets (key, hits, expires_at) VALUES {values}
ON CONFLICT (key) DO UPDATE SET hits = rate_limit_buckets.hits + 1
RETURNING key, hits
"""
_PURGE = sa.text("DELETE FROM rate_limit_buckets WHERE expires_at < :now")



@dataclass(frozen=True)
class Subject:
    key: str
    limit: int
    label: str


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }


def check(subjects: Sequence[Subject], *, session: Session, now: datetime) -> RateLimitState:
    """Count one request against every subject; raise ``RateLimitedError`` if any is over its limit.

    Returns the state of the tightest subject for the ``RateLimit-*`` headers.
    """
    epoch = now.timestamp()
    window = math.floor(epoch / WINDOW_S)
    window_end = (window + 1) * WINDOW_S
    reset_s = max(1, math.ceil(window_end - epoch))
    expires = now + timedelta(seconds=window_end - epoch)
    params: dict[str, object] = {"expires": expires}
    values = []
    for i, subject in enumerate(subjects):
        params[f"k{i}"] = f"{subject.key}:{window}"
        values.append(f"(:k{i}, 1, :expires)")
    rows = session.execute(sa.text(_COUNT.format(values=", ".join(values))), params).all()
    hits = {key: count for key, count in rows}
    tightest: RateLimitState | None = None
    for i, subject in enumerate(subjects):
        used = int(hits[params[f"k{i}"]])
        if used > subject.limit:
            raise RateLimitedError(
                f"rate limit of {subject.limit} requests per minute exceeded for this {subject.label}",
                retry_after=reset_s,
            )
        state = RateLimitState(subject.limit, subject.limit - used, reset_s)
        if tightest is None or state.remaining < tightest.remaining:
            tightest = state
    assert tightest is not None
    return tightest


def purge_expired(*, session: Session, now: datetime) -> int:
    result = session.execute(_PURGE, {"now": now})
    return int(getattr(result, "rowcount", 0) or 0)
