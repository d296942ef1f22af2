"""Work tokens and the synchronous publisher the functions use to wake each other.

A token is a hint, never state: Postgres holds the truth, so a duplicate token claims nothing and a
lost one is republished by the sweeper. The publisher therefore optimises for failing fast and loudly
(``BrokerUnavailableError``) rather than retrying at length inside a request.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from billing.adapters.topology import (
    MAX_PRIORITY,
    QueueNames,
    declare_topology,
    declare_topology_async,
    queue_for_type,
    queue_names,
)
from billing.errors import BrokerUnavailableError, ConfigurationError

__all__ = [
    "REDELIVERIES_HEADER",
    "PikaPublisher",
    "Publisher",
    "QueueNames",
    "Token",
    "TokenKind",
    "declare_topology",
    "declare_topology_async",
    "get_publisher",
    "queue_for_type",
    "queue_names",
    "set_publisher",
]

logger = logging.getLogger(__name__)

TokenKind = Literal["queue", "check_recovery", "tick", "events"]
# How many times the connector has already re-published a token after a failed delivery.
REDELIVERIES_HEADER = "x-billing-redeliveries"


def _now() -> datetime:
    return datetime.now(UTC)


class Token(BaseModel):
    """A small JSON document that wakes a function; see docs/broker.md."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1, max_length=200)
    kind: TokenKind
    queue_id: str | None = None
    instance_id: str | None = None
    tenant_id: str | None = None
    reason: str = Field(default="created", max_length=100)
    created_at: datetime = Field(default_factory=_now)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Token:
        return cls.model_validate_json(data)


class Publisher(Protocol):
    def publish(self, queue: str, token: Token, *, priority: int = 0) -> None:
        """Hand ``token`` to ``queue``; raise ``BrokerUnavailableError`` unless the broker confirmed it."""
        ...


class PikaPublisher:
    """Blocking pika publisher with confirms, one connection per process reused across invocations.

    Nothing connects until the first ``publish``. A connection that died while the function was idle
    is replaced once; a broker that is down fails within about ``socket_timeout`` seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str | None = None,
        socket_timeout_s: float = 2.0,
        blocked_connection_timeout_s: float = 5.0,
        heartbeat_s: int = 30,
        publish_timeout_s: float = 5.0,
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._socket_timeout_s = socket_timeout_s
        self._blocked_timeout_s = blocked_connection_timeout_s
        self._heartbeat_s = heartbeat_s
        self._publish_timeout_s = publish_timeout_s
        self._lock = threading.Lock()
        self._stuck = threading.Event()
        self._connection: Any = None
        self._channel: Any = None

    def publish(self, queue: str, token: Token, *, priority: int = 0) -> None:
        """Publish and wait for the broker's confirm, at most ``publish_timeout_s`` in all.

        pika waits for a confirm with no deadline of its own (a broker that takes the message and never
        answers holds the caller until heartbeats give up, over a minute), so the publish runs in a
        worker thread and the caller stops waiting at the deadline. While that abandoned attempt still
        holds the connection, later publishes fail at once (their queues stay unpublished for the
        sweeper) instead of each waiting out the deadline or piling up threads.
        """
        if self._stuck.is_set() and self._lock.locked():
            raise BrokerUnavailableError("the broker has not confirmed an earlier token yet")
        deadline = time.monotonic() + self._publish_timeout_s
        outcome: list[BaseException | None] = []
        worker = threading.Thread(
            target=self._publish_capturing,
            args=(queue, token, priority, deadline, outcome),
            name="broker-publish",
            daemon=True,
        )
        worker.start()
        worker.join(self._publish_timeout_s)
        if not outcome:
            self._stuck.set()
            logger.warning(
                "broker did not confirm in time; leaving the token to the sweeper",
                extra={"action": "broker.publish_timeout", "queue": queue, "token_id": token.id},
            )
            raise BrokerUnavailableError(f"the broker did not confirm within {self._publish_timeout_s:g} s")
        if outcome[0] is not None:
            raise outcome[0]

    def _publish_capturing(
        self, queue: str, token: Token, priority: int, deadline: float, outcome: list[BaseException | None]
    ) -> None:
        # Never wait for the lock past the caller's deadline: a token published after its caller gave
        # up would only duplicate the one the sweeper publishes.
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            outcome.append(BrokerUnavailableError("the broker has not confirmed an earlier token yet"))
            return
        try:
            self._publish_locked(queue, token, priority)
        except BaseException as exc:  # handed to the waiting caller, which raises it
            outcome.append(exc)
        else:
            outcome.append(None)
        finally:
            self._stuck.clear()
            self._lock.release()

    def _publish_locked(self, queue: str, token: Token, priority: int) -> None:
        """One publish (and one reconnect on a stale warm connection); the caller holds the lock."""
        priority = max(0, min(priority, MAX_PRIORITY))
        was_warm = self._is_open()
        try:
            self._publish_once(queue, token, priority)
        except BrokerUnavailableError:
            self._drop_connection()
            if not was_warm:
                raise
            # A warm connection may have died while the function was idle: one fresh try.
            logger.info("broker connection was stale; reconnecting", extra={"action": "broker.reconnect"})
            try:
                self._publish_once(queue, token, priority)
            except BrokerUnavailableError:
                self._drop_connection()
                raise
        logger.info(
            "token published",
            extra={
                "action": "broker.publish",
                "queue": queue,
                "token_id": token.id,
                "kind": token.kind,
                "reason": token.reason,
                "queue_id": token.queue_id,
                "priority": priority,
            },
        )

    def close(self) -> None:
        # A publish stuck on a broker that never confirms holds the lock until pika gives up; closing
        # must not wait that long (the stuck attempt drops its connection itself when it ends).
        if self._lock.acquire(timeout=self._publish_timeout_s):
            try:
                self._drop_connection()
            finally:
                self._lock.release()

    def _is_open(self) -> bool:
        return bool(
            self._connection is not None
            and self._connection.is_open
            and self._channel is not None
            and self._channel.is_open
        )

    def _parameters(self) -> Any:
        import pika

        params = pika.URLParameters(self._url)
        params.connection_attempts = 1
        params.retry_delay = 0
        params.socket_timeout = self._socket_timeout_s
        params.stack_timeout = self._socket_timeout_s + 0.5
        params.blocked_connection_timeout = self._blocked_timeout_s
        params.heartbeat = self._heartbeat_s
        return params

    def _ensure_channel(self) -> Any:
        if self._is_open():
            return self._channel
        import pika

        self._drop_connection()
        self._connection = pika.BlockingConnection(self._parameters())
        channel = self._connection.channel()
        channel.confirm_delivery()
        declare_topology(channel, self._prefix)
        self._channel = channel
        logger.info("broker connected", extra={"action": "broker.connect"})
        return channel

    def _publish_once(self, queue: str, token: Token, priority: int) -> None:
        import pika
        import pika.exceptions
        from pika.adapters.utils.connection_workflow import AMQPConnectorException

        try:
            channel = self._ensure_channel()
            if self._connection is not None:
                # Services heartbeats and surfaces a connection the broker closed while we were idle.
                self._connection.process_data_events(time_limit=0)
            channel.basic_publish(
                exchange="",
                routing_key=queue,
                body=token.to_bytes(),
                properties=pika.BasicProperties(
                    content_type="application/json",
                    delivery_mode=pika.DeliveryMode.Persistent,
                    message_id=token.id,
                    priority=priority,
                    timestamp=int(token.created_at.timestamp()),
                    type=f"billing.token.{token.kind}",
                ),
                mandatory=True,
            )
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
            raise BrokerUnavailableError(f"broker did not accept the token for {queue!r}") from exc
        except (pika.exceptions.AMQPError, AMQPConnectorException, OSError) as exc:
            raise BrokerUnavailableError(f"broker unavailable: {type(exc).__name__}") from exc

    def _drop_connection(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # the connection is being discarded either way
                logger.debug("ignoring error while closing a broker connection", exc_info=True)


_publisher_lock = threading.Lock()
_installed: Publisher | None = None
_cached: PikaPublisher | None = None


def set_publisher(publisher: Publisher | None) -> None:
    """Install an in-process publisher (tests, ``make dev``); ``None`` restores the RabbitMQ one."""
    global _installed
    with _publisher_lock:
        _installed = publisher


def get_publisher() -> Publisher:
    """The installed publisher if any, else a process-wide ``PikaPublisher`` for ``RABBITMQ_URL``."""
    global _cached
    with _publisher_lock:
        if _installed is not None:
            return _installed
        if _cached is None:
            from billing.config import get_settings

            settings = get_settings()
            if not settings.rabbitmq_url:
                raise ConfigurationError("RABBITMQ_URL is not set and no in-process publisher is installed")
            _cached = PikaPublisher(settings.rabbitmq_url, prefix=settings.broker_queue_prefix)
        return _cached


def reset_publisher() -> None:
    """Close and forget the cached RabbitMQ publisher (tests that change settings call this)."""
    global _cached
    with _publisher_lock:
        cached, _cached = _cached, None
    if cached is not None:
        cached.close()
