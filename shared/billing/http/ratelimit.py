"""Rate limits shared by every replica: fixed one-minute windows counted in PostgreSQL.

Each subject of a request (its API key and its client IP) has one counter row per window, bumped by an
atomic ``INSERT ... ON CONFLICT ... RETURNING``, so replicas never race. The guard counts both in the
same round trip as the key lookup; ``count`` bumps one counter on its own. Counters may lose their last few
hundred milliseconds in a database crash, which is harmless, so their transaction does not wait for
the WAL flush (``synchronous_commit = off``, sent in the same round trip). The sweeper deletes expired
windows (``services.sweep.upkeep``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from billing.errors import RateLimitedError

WINDOW_S = 60

_COUNT = sa.text("""
SET LOCAL synchronous_commit = off;
INSERT INTO rate_limit_buckets (key, hits, expires_at) VALUES (:bucket, 1, :expires)
ON CONFLICT (key) DO UPDATE SET hits = rate_limit_buckets.hits + 1
RETURNING hits
""")


@dataclass(frozen=True)
class Subject:
    key: str
    limit: int
    label: str


@dataclass(frozen=True)
class Window:
    """The fixed one-minute window a request falls in."""

    index: int
    reset_s: int
    expires: datetime

    @classmethod
    def at(cls, now: datetime) -> Window:
        epoch = now.timestamp()
        index = math.floor(epoch / WINDOW_S)
        window_end = (index + 1) * WINDOW_S
        return cls(index, max(1, math.ceil(window_end - epoch)), now + timedelta(seconds=window_end - epoch))

    @property
    def suffix(self) -> str:
        """What a subject's key gets appended to name its counter row in this window."""
        return f":{self.index}"

    def bucket(self, subject_key: str) -> str:
        """The counter row of a subject in this window (billing_guard builds the key's the same way)."""
        return subject_key + self.suffix


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


def count(bucket: str, *, window: Window, session: Session) -> int:
    """Add one hit to a counter row of this window; the hits it now has."""
    hits = session.connection().execute(_COUNT, {"bucket": bucket, "expires": window.expires}).scalar_one()
    return int(hits)


def evaluate(subjects: Sequence[Subject], hits: Mapping[str, int], *, window: Window) -> RateLimitState:
    """Raise ``RateLimitedError`` if any subject is over its limit in ``hits`` (already counted).

    Returns the state of the tightest subject for the ``RateLimit-*`` headers.
    """
    tightest: RateLimitState | None = None
    for subject in subjects:
        used = int(hits[window.bucket(subject.key)])
        if used > subject.limit:
            raise RateLimitedError(
                f"rate limit of {subject.limit} requests per minute exceeded for this {subject.label}",
                retry_after=window.reset_s,
            )
        state = RateLimitState(subject.limit, subject.limit - used, window.reset_s)
        if tightest is None or state.remaining < tightest.remaining:
            tightest = state
    if tightest is None:
        raise ValueError("evaluate needs at least one subject")
    return tightest
