"""``billing connector``: move tokens from RabbitMQ to the sender, sweeper and deliverer functions.

Used where no platform component does it (OpenFaaS CE, plain Kubernetes, local runs). Each token goes
to a target: an in-process callable ``(Token) -> bool`` or an HTTP URL that receives a binary-mode
CloudEvent. A failed delivery is re-published with an incremented ``x-billing-redeliveries`` header
(so the count survives broker restarts) and dead-lettered once the count passes
``BILLING_BROKER_MAX_REDELIVERIES``. See docs/broker.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
import time
from typing import TYPE_CHECKING, Any, TypeAlias

from pydantic import ValidationError

from billing import metrics
from billing.adapters.broker import REDELIVERIES_HEADER, Token
from billing.adapters.topology import declare_topology_async, queue_names
from billing.adapters.trigger_client import DeliveryOutcome, post_token
from billing.crypto import first_token
from billing.errors import BrokerUnavailableError, ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx
    from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

    from billing.config import Settings

    # An HTTP URL, or a callable (sync or async) returning True once the token is handled.
    Target: TypeAlias = str | Callable[[Token], Any]

logger = logging.getLogger(__name__)

HTTP_MARGIN_S = 30.0
MAX_BACKOFF_S = 30.0
RECONNECT_MAX_BACKOFF_S = 30.0
# Not consuming for this long (broker unreachable, or reconnecting in a loop): liveness fails, so the
# platform restarts the process rather than leave tokens waiting with no consumer.
LIVENESS_GRACE_S = 300.0


class Connector:
    """Consume the sender's, the sweeper's and the deliverer's queues and deliver each token to its target."""

    def __init__(
        self,
        *,
        sender_target: Target | None,
        sweeper_target: Target | None,
        deliverer_target: Target | None = None,
        url: str | None = None,
        prefix: str | None = None,
        prefetch: int | None = None,
        max_redeliveries: int | None = None,
        retry_backoff_s: float = 1.0,
        http_timeout_s: float | None = None,
        shutdown_grace_s: float = 25.0,
        tick_interval_s: float | None = None,
        settings: Settings | None = None,
    ) -> None:
        if sender_target is None and sweeper_target is None and deliverer_target is None:
            raise ConfigurationError("the connector needs a sender, sweeper or deliverer target")
        if settings is None:
            from billing.config import get_settings

            settings = get_settings()
        resolved_url = url or settings.rabbitmq_url
        if not resolved_url:
            raise ConfigurationError("RABBITMQ_URL is not set")
        self._url = resolved_url
        self.names = queue_names(prefix if prefix is not None else settings.broker_queue_prefix)
        self._routes: dict[str, Target] = {}
        self._sweeper_target = sweeper_target
        if sender_target is not None:
            self._routes.update(dict.fromkeys(self.names.sender, sender_target))
        if sweeper_target is not None:
            self._routes.update(dict.fromkeys(self.names.sweeper, sweeper_target))
        if deliverer_target is not None:
            self._routes.update(dict.fromkeys(self.names.deliverer, deliverer_target))
        self._prefetch = prefetch or settings.broker_prefetch
        self._max_redeliveries = settings.broker_max_redeliveries if max_redeliveries is None else max_redeliveries
        self._retry_backoff_s = retry_backoff_s
        self._trigger_token = first_token(settings.trigger_token.get_secret_value()) if settings.trigger_token else None
        # Above the functions' own budgets, so the function, not the connector, decides when to stop.
        self._http_timeout_s = http_timeout_s or (
            max(settings.function_budget_s, settings.sweeper_budget_s) + HTTP_MARGIN_S
        )
        self._shutdown_grace_s = shutdown_grace_s
        self._tick_interval_s = tick_interval_s
        self.ticks = 0
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._http: httpx.AsyncClient | None = None
        self._consumers: list[tuple[Any, str]] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._lost: asyncio.Event | None = None
        self._stopping = False
        self._not_consuming_since: float | None = time.monotonic()
        self.reconnects = 0

    @property
    def queues(self) -> tuple[str, ...]:
        return tuple(self._routes)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def is_consuming(self) -> bool:
        """Ready: consumers registered, not stopping, and the broker connection up (not lost)."""
        connection, lost = self._connection, self._lost
        return (
            bool(self._consumers)
            and not self._stopping
            and connection is not None
            and not connection.is_closed
            and not (lost is not None and lost.is_set())
        )

    def is_live(self) -> bool:
        """Live unless it has not been consuming for ``LIVENESS_GRACE_S`` (then a restart may help)."""
        if self.is_consuming():
            self._not_consuming_since = None
            return True
        if self._not_consuming_since is None:
            self._not_consuming_since = time.monotonic()
        return time.monotonic() - self._not_consuming_since < LIVENESS_GRACE_S

    def _on_lost(self, *_: Any) -> None:
        if self._lost is not None and not self._stopping:
            self._lost.set()

    async def start(self) -> None:
        """Connect, declare the topology and start consuming. Raises ``BrokerUnavailableError``."""
        import aio_pika

        self._loop = asyncio.get_running_loop()
        if self._stop_requested is None:
            self._stop_requested = asyncio.Event()
        self._lost = asyncio.Event()
        try:
            # A plain connection, supervised by run(): aio-pika's robust connection reported itself open
            # after a broker restart while its consumers were gone for good.
            self._connection = await aio_pika.connect(self._url, timeout=10)
            self._connection.close_callbacks.add(self._on_lost)
            self._channel = await self._connection.channel(publisher_confirms=True)
            self._channel.close_callbacks.add(self._on_lost)
            await self._channel.set_qos(prefetch_count=self._prefetch)
            await declare_topology_async(self._channel, self.names.prefix)
            for queue_name, target in self._routes.items():
                queue = await self._channel.get_queue(queue_name, ensure=False)
                tag = await queue.consume(self._consumer(queue_name, target))
                self._consumers.append((queue, tag))
        except (TimeoutError, OSError, aio_pika.exceptions.AMQPError, RuntimeError) as exc:
            await self._drop_connection()
            raise BrokerUnavailableError(f"cannot start the connector: {type(exc).__name__}") from exc
        self._ensure_http()
        self._not_consuming_since = None
        logger.info(
            "connector consuming",
            extra={"action": "connector.start", "queues": list(self._routes), "prefetch": self._prefetch},
        )

    def _ensure_http(self) -> None:
        """The HTTP client for URL targets, kept across reconnects (ticks go out even while the broker is away)."""
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(timeout=httpx.Timeout(self._http_timeout_s, connect=5.0))

    def request_stop(self) -> None:
        """Ask a running ``run()`` to stop; safe from signal handlers and other threads."""
        loop, event = self._loop, self._stop_requested
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    async def run(self) -> None:
        """Consume until ``request_stop()``, then stop gracefully. A lost broker connection (a restart, a
        network cut, a closed channel) is reconnected with backoff: declare, subscribe again."""
        self._loop = asyncio.get_running_loop()
        stop = self._stop_requested = self._stop_requested or asyncio.Event()
        backoff = 1.0
        self._ensure_http()
        ticker = asyncio.create_task(self._tick(stop)) if self._tick_interval_s else None
        try:
            while not stop.is_set():
                try:
                    await self.start()
                except BrokerUnavailableError as exc:
                    logger.warning(
                        "broker unreachable; retrying in %.0f s",
                        backoff,
                        extra={"action": "connector.unreachable", "error": str(exc), "retry_in_s": backoff},
                    )
                    await self._wait(stop, backoff)
                    backoff = min(backoff * 2, RECONNECT_MAX_BACKOFF_S)
                    continue
                backoff = 1.0
                assert self._lost is not None
                await self._wait_any(stop, self._lost)
                if stop.is_set():
                    break
                self.reconnects += 1
                logger.warning("broker connection lost; reconnecting", extra={"action": "connector.reconnect"})
                await self._drop_connection()
        finally:
            if ticker is not None:
                ticker.cancel()
            await self.stop()

    async def _tick(self, stop: asyncio.Event) -> None:
        """The sweeper's cron tick, sent by the connector itself (``--tick-interval``): where a scheduler
        cannot present the trigger token (OpenFaaS's cron-connector posts a bare body), the connector
        can. A tick that fails is simply the next tick's job."""
        target = self._sweeper_target
        assert self._tick_interval_s is not None
        while target is not None and not stop.is_set():
            await self._wait(stop, self._tick_interval_s)
            if stop.is_set():
                return
            token = Token(kind="tick", reason="connector.tick")
            outcome = await self._deliver(target, token, {"token_id": token.id, "kind": "tick"})
            self.ticks += 1
            logger.info("tick sent: %s", outcome, extra={"action": "connector.tick", "outcome": outcome})

    @staticmethod
    async def _wait(event: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=seconds)

    @staticmethod
    async def _wait_any(*events: asyncio.Event) -> None:
        waiters = [asyncio.create_task(e.wait()) for e in events]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def stop(self) -> None:
        """Stop consuming, let in-flight deliveries finish (up to the grace period), close."""
        if self._stopping:
            return
        self._stopping = True
        for queue, tag in self._consumers:
            try:
                await queue.cancel(tag)
            except Exception:  # the channel may already be gone; unacked messages return anyway
                logger.debug("consumer cancel failed", exc_info=True)
        self._consumers.clear()
        if self._in_flight:
            logger.info(
                "waiting for in-flight deliveries",
                extra={"action": "connector.drain", "in_flight": len(self._in_flight)},
            )
            _done, pending = await asyncio.wait(set(self._in_flight), timeout=self._shutdown_grace_s)
            for task in pending:
                task.cancel()
        await self._close()
        logger.info("connector stopped", extra={"action": "connector.stop"})

    async def _close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        await self._drop_connection()

    async def _drop_connection(self) -> None:
        """Forget the consumers and close the connection (unacked messages go back to their queues)."""
        self._consumers.clear()
        if self._not_consuming_since is None:
            self._not_consuming_since = time.monotonic()
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):  # it may already be closed by the broker
                await connection.close()

    def _consumer(self, queue: str, target: Target) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
        async def on_message(message: AbstractIncomingMessage) -> None:
            # Own task per message: deliveries run concurrently up to the prefetch count.
            task = asyncio.create_task(self._handle(queue, target, message))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

        return on_message

    async def _handle(self, queue: str, target: Target, message: AbstractIncomingMessage) -> None:
        redeliveries = _redeliveries(message)
        try:
            token = Token.from_bytes(message.body)
        except ValidationError:
            logger.error(
                "message is not a token; dead-lettering",
                extra={"action": "connector.poison", "queue": queue, "message_id": message.message_id},
            )
            await _quietly(message.reject(requeue=False))
            return
        extra: dict[str, Any] = {"queue": queue, "token_id": token.id, "kind": token.kind}
        extra.update(queue_id=token.queue_id, redeliveries=redeliveries)
        outcome = await self._deliver(target, token, extra)
        # A failed ack or reject (connection lost) only means the broker redelivers: harmless.
        if outcome == "handled":
            await _quietly(message.ack())
            metrics.record_delivery(queue, "acked")
            logger.info("token delivered", extra={"action": "connector.ack", **extra})
        elif outcome == "poison" or redeliveries >= self._max_redeliveries:
            await _quietly(message.reject(requeue=False))
            metrics.record_delivery(queue, "dead_lettered")
            logger.error("token dead-lettered", extra={"action": "connector.dead_letter", **extra})
        else:
            metrics.record_delivery(queue, "redelivered")
            await self._redeliver_later(queue, message, redeliveries + 1, extra)

    async def _deliver(self, target: Target, token: Token, extra: dict[str, Any]) -> DeliveryOutcome:
        try:
            if isinstance(target, str):
                assert self._http is not None
                return await post_token(self._http, target, token, trigger_token=self._trigger_token)
            if inspect.iscoroutinefunction(target):
                result = await target(token)
            else:
                result = await asyncio.to_thread(target, token)
                if inspect.isawaitable(result):
                    result = await result
        except Exception:
            logger.exception("delivery failed", extra={"action": "connector.deliver_failed", **extra})
            return "retry"
        return "handled" if result is True else "retry"

    async def _redeliver_later(
        self, queue: str, message: AbstractIncomingMessage, count: int, extra: dict[str, Any]
    ) -> None:
        import aio_pika

        delay = min(self._retry_backoff_s * 2 ** (count - 1), MAX_BACKOFF_S)
        if not self._stopping and self._stop_requested is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested.wait(), timeout=delay)
        retry = aio_pika.Message(
            body=message.body,
            headers={**(message.headers or {}), REDELIVERIES_HEADER: count},
            content_type=message.content_type or "application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            priority=message.priority or 0,
            message_id=message.message_id,
            type=message.type,
            timestamp=message.timestamp,
        )
        try:
            assert self._channel is not None
            await self._channel.default_exchange.publish(retry, routing_key=queue)
        except Exception:
            # Not re-published: return it to the queue rather than lose the hint.
            logger.exception("could not re-publish; requeueing", extra={"action": "connector.requeue", **extra})
            await _quietly(message.nack(requeue=True))
            return
        await _quietly(message.ack())
        logger.info("token scheduled for redelivery", extra={"action": "connector.redeliver", **extra})


def _redeliveries(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get(REDELIVERIES_HEADER, 0)
    try:
        return max(0, int(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


async def _quietly(awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except Exception:
        logger.debug("ignored broker error", exc_info=True)


def run_connector(
    *,
    sender_target: Target | None,
    sweeper_target: Target | None,
    deliverer_target: Target | None = None,
    url: str | None = None,
    metrics_port: int | None = None,
    tick_interval_s: float | None = None,
) -> None:
    """Run the connector until SIGTERM or SIGINT (blocking). Entry point of ``billing connector``.

    With ``metrics_port``, ``GET /metrics`` and ``GET /healthz`` are served on that port (probes and
    Prometheus; the connector has no other HTTP surface).
    """
    connector = Connector(
        sender_target=sender_target,
        sweeper_target=sweeper_target,
        deliverer_target=deliverer_target,
        url=url,
        tick_interval_s=tick_interval_s,
    )
    if metrics_port is not None:
        from billing.adapters.probe_server import start_probe_server

        start_probe_server(metrics_port, healthy=connector.is_consuming, live=connector.is_live)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, connector.request_stop)
        await connector.run()

    asyncio.run(main())
