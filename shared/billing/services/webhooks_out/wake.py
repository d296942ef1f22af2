"""Waking the deliverer: a token on its queue (``billing.events``) says "events may be waiting".

Three paths, by latency (docs/events.md, "Latency"): whoever listens to the event log's NOTIFY (the
events server, ``billing dev``) calls a ``DelivererWaker``, at once; the sweeper's tick every minute
publishes when an endpoint is due (new events, or a retry whose time came); and a deliverer that runs
out of its budget with work left hands on with one token. A token is only a hint: a duplicate finds
the endpoints leased or caught up, a lost one is the sweeper's next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from billing.adapters.broker import Publisher, Token, queue_names
from billing.db import endpoints as endpoint_sql
from billing.db.engine import core_connection, get_engine
from billing.errors import BrokerUnavailableError, ConfigurationError
from billing.services.events.log import sequence_pending

logger = logging.getLogger(__name__)


def wake_deliverer(publisher: Publisher, *, reason: str = "notify") -> bool:
    """Publish one wake token; False when the broker refused it (the sweeper's next tick wakes it then)."""
    try:
        publisher.publish(queue_names().events, Token(kind="events", reason=reason))
    except (BrokerUnavailableError, ConfigurationError) as exc:
        logger.warning("deliverer not woken: %s", exc, extra={"action": "deliverer.wake_failed", "reason": reason})
        return False
    return True


def wake_if_due(publisher: Publisher, *, now: datetime) -> bool:
    """The sweeper's step: number new events, and wake the deliverer when an endpoint is due."""
    sequence_pending(get_engine())
    with core_connection() as conn:
        due = endpoint_sql.any_due(conn, now=now)
    return due and wake_deliverer(publisher, reason="sweeper.due")


class DelivererWaker:
    """Turns a burst of wake-ups (one NOTIFY per committed transaction) into at most one token per
    ``interval_s``, and never drops the last: a wake-up inside the interval schedules one token at its
    end. Thread-safe; for a NOTIFY listener (``waker.wake()`` on each notification)."""

    def __init__(
        self, publisher: Publisher, *, interval_s: float = 1.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._publisher = publisher
        self._interval_s = interval_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last: float | None = None
        self._timer: threading.Timer | None = None

    def wake(self) -> None:
        with self._lock:
            if self._timer is not None:
                return  # a token is already on its way at the end of the interval
            now = self._monotonic()
            if self._last is not None and now - self._last < self._interval_s:
                self._timer = threading.Timer(self._interval_s - (now - self._last), self._fire)
                self._timer.daemon = True
                self._timer.start()
                return
            self._last = now
        wake_deliverer(self._publisher)

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
            self._last = self._monotonic()
        wake_deliverer(self._publisher)

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
