"""Fakes shipped with the core package, reused by every test and by ``billing dev``.

``FakeGateway`` stands for one WhatsApp instance behind the gateway port, ``FakeWebhookPoster`` for ERP
webhook endpoints, ``FakeClock`` for time, ``InMemoryBroker`` and ``DirectDispatcher`` for RabbitMQ, and
``RecordingUnitOfWork`` for a unit of work whose statements a test only needs to see (never a database:
SQL semantics are tested on PostgreSQL).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from billing.adapters.memory_broker import DirectDispatcher, InMemoryBroker, Published
from billing.domain.gateway import HealthState, OutcomeKind, SendOutcome
from billing.domain.webhooks import PostResult

__all__ = [
    "DirectDispatcher",
    "FakeClock",
    "FakeGateway",
    "FakeWebhookPoster",
    "InMemoryBroker",
    "PostedWebhook",
    "Published",
    "RecordingUnitOfWork",
    "SentText",
]


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


class SentText(NamedTuple):
    phone: str
    text: str
    retry: bool
    delay_ms: int | None


class FakeGateway:
    """One instance behind the gateway port, answering from a script.

    Each ``send_text`` takes the next scripted outcome (``script``), then answers ``sent`` with a fresh
    message id; ``health`` is what ``check_health`` answers. Every call is recorded.
    """

    def __init__(self, *script: SendOutcome, health: HealthState = HealthState.OPEN) -> None:
        self._script: deque[SendOutcome] = deque(script)
        self._lock = threading.Lock()
        self.health = health
        self.sent: list[SentText] = []
        self.health_checks = 0
        self.health_timeouts: list[float | None] = []

    def then(self, *outcomes: SendOutcome) -> FakeGateway:
        with self._lock:
            self._script.extend(outcomes)
        return self

    def send_text(self, phone_e164: str, text: str, *, retry: bool = True, delay_ms: int | None = None) -> SendOutcome:
        with self._lock:
            self.sent.append(SentText(phone_e164, text, retry, delay_ms))
            if self._script:
                return self._script.popleft()
            return SendOutcome(OutcomeKind.SENT, message_id=f"FAKE{len(self.sent):06d}")

    def check_health(self, *, timeout_s: float | None = None) -> HealthState:
        with self._lock:
            self.health_checks += 1
            self.health_timeouts.append(timeout_s)
            return self.health


class PostedWebhook(NamedTuple):
    url: str
    body: bytes
    headers: dict[str, str]


class FakeWebhookPoster:
    """ERP endpoints behind the webhook port, answering from a script: each POST takes the next scripted
    answer (a status code, or a whole ``PostResult``), then answers 200. Every POST is recorded."""

    def __init__(self, *script: int | PostResult) -> None:
        self._script: deque[int | PostResult] = deque(script)
        self._lock = threading.Lock()
        self.posted: list[PostedWebhook] = []

    def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> PostResult:
        with self._lock:
            self.posted.append(PostedWebhook(url, body, dict(headers)))
            answer = self._script.popleft() if self._script else 200
        return answer if isinstance(answer, PostResult) else PostResult(answer)


@dataclass
class _RecordingSession:
    executed: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    added: list[Any] = field(default_factory=list)

    def execute(self, statement: Any, params: dict[str, Any] | None = None) -> None:
        self.executed.append((statement, dict(params or {})))

    def add(self, row: Any) -> None:
        self.added.append(row)


class RecordingUnitOfWork:
    """A unit of work that records what a use case writes and whether it committed."""

    def __init__(self) -> None:
        self.session = _RecordingSession()
        self.commits = 0
        self.rollbacks = 0

    @property
    def executed(self) -> list[dict[str, Any]]:
        return [params for _, params in self.session.executed]

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1
