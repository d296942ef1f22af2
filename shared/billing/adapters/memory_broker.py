"""In-process stand-ins for RabbitMQ: a recording fake for tests and a dispatcher for ``make dev``."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, NamedTuple

from billing.adapters.broker import Token
from billing.errors import BrokerUnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

logger = logging.getLogger(__name__)


class Published(NamedTuple):
    queue: str
    token: Token
    priority: int


class InMemoryBroker:
    """A ``Publisher`` that records every token in order; ``down = True`` simulates an outage."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._published: list[Published] = []
        self.down = False
        self.publish_attempts = 0

    def publish(self, queue: str, token: Token, *, priority: int = 0) -> None:
        with self._lock:
            self.publish_attempts += 1
            if self.down:
                raise BrokerUnavailableError("in-memory broker is down")
            self._published.append(Published(queue, token, priority))

    @property
    def published(self) -> list[Published]:
        """Every token still held, oldest first (a copy)."""
        with self._lock:
            return list(self._published)

    def tokens(self, queue: str | None = None) -> list[Token]:
        """Tokens held for ``queue`` (or all queues), without removing them."""
        return [p.token for p in self.published if queue is None or p.queue == queue]

    def drain(self, queue: str | None = None) -> list[Token]:
        """Remove and return the tokens held for ``queue`` (or every queue), oldest first."""
        with self._lock:
            taken = [p.token for p in self._published if queue is None or p.queue == queue]
            self._published = [p for p in self._published if queue is not None and p.queue != queue]
        return taken

    def clear(self) -> None:
        with self._lock:
            self._published.clear()
            self.publish_attempts = 0


class DirectDispatcher:
    """A ``Publisher`` that runs the handler registered for a queue in a background thread pool.

    Used by ``make dev`` instead of RabbitMQ: publishing never runs the handler on the caller's thread,
    so a sender that publishes its own continuation does not recurse. Tokens for queues without a
    handler are recorded and dropped (Postgres still holds the work; the sweeper finds it).
    """

    def __init__(
        self,
        handlers: Mapping[str, Callable[[Token], object]] | None = None,
        *,
        max_workers: int = 4,
    ) -> None:
        self._handlers: dict[str, Callable[[Token], object]] = dict(handlers or {})
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="billing-dispatch")
        self._lock = threading.Lock()
        self._pending: set[Future[object]] = set()
        self._idle = threading.Condition(self._lock)
        self.unhandled: list[Published] = []
        self.failures = 0

    def register(self, queue: str, handler: Callable[[Token], object]) -> None:
        with self._lock:
            self._handlers[queue] = handler

    def publish(self, queue: str, token: Token, *, priority: int = 0) -> None:
        with self._lock:
            handler = self._handlers.get(queue)
            if handler is None:
                self.unhandled.append(Published(queue, token, priority))
                logger.warning(
                    "no in-process handler for queue; token dropped",
                    extra={"action": "broker.dispatch.unhandled", "queue": queue, "token_id": token.id},
                )
                return
            try:
                future = self._pool.submit(self._run, handler, queue, token)
            except RuntimeError as exc:  # the pool was shut down
                raise BrokerUnavailableError("in-process dispatcher is closed") from exc
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def _run(self, handler: Callable[[Token], object], queue: str, token: Token) -> object:
        extra = {"action": "broker.dispatch", "queue": queue, "token_id": token.id, "kind": token.kind}
        try:
            result = handler(token)
        except Exception:
            with self._lock:
                self.failures += 1
            logger.exception("in-process handler failed", extra=extra)
            return False
        if result is False:
            with self._lock:
                self.failures += 1
            logger.warning("in-process handler asked for redelivery; left to the sweeper", extra=extra)
        return result

    def _forget(self, future: Future[object]) -> None:
        with self._lock:
            self._pending.discard(future)
            if not self._pending:
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every dispatched handler (including ones they publish) finished."""
        with self._lock:
            return self._idle.wait_for(lambda: not self._pending, timeout=timeout)

    def close(self, *, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
