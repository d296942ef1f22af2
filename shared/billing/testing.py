"""Fakes shipped with the core package, reused by every test and by ``billing dev``."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from billing.testing_broker import DirectDispatcher, InMemoryBroker, Published

__all__ = ["DirectDispatcher", "FakeClock", "InMemoryBroker", "Published"]


class FakeClock:
    """A clock that only moves when told to (``sleep`` advances it instead of waiting)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
        self._mono = 1000.0
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=max(0.0, seconds))
            self._mono += max(0.0, seconds)

    def set(self, when: datetime) -> None:
        with self._lock:
            delta = (when - self._now).total_seconds()
            self._now = when
            self._mono += max(0.0, delta)
