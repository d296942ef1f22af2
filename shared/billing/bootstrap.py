"""The composition root: the one place that turns configuration into real adapters.

Use cases take their dependencies as parameters (a gateway, a publisher, a clock); doors and the
use cases' defaults get the real ones here, tests pass the fakes of ``billing.testing``. Everything is
built lazily and cached by the adapters themselves, so importing this module costs nothing at a cold
start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from billing.clock import SYSTEM_CLOCK, Clock
from billing.errors import BrokerUnavailableError, ConfigurationError

if TYPE_CHECKING:
    from billing.adapters.broker import Publisher, Token
    from billing.adapters.event_listener import EventListener
    from billing.config import Settings
    from billing.domain.gateway import Gateway, GatewayInstance
    from billing.domain.webhooks import WebhookPoster

GatewayFactory = Callable[["GatewayInstance", "Settings"], "Gateway"]
"""How a use case gets the gateway of an instance: ``bootstrap.gateway_for``, or a fake in tests."""


def clock() -> Clock:
    return SYSTEM_CLOCK


def publisher() -> Publisher:
    """The installed in-process publisher, or the process-wide RabbitMQ one (ConfigurationError if none)."""
    from billing.adapters.broker import get_publisher

    return get_publisher()


def optional_publisher() -> Publisher | None:
    """The publisher, or None where no broker is configured (the sweeper then publishes what was left)."""
    try:
        return publisher()
    except ConfigurationError:
        return None


class _NoBroker:
    """Stands in where no broker is configured: every publish is refused, so a claimed queue is given
    back unpublished and the sweeper publishes it (the same path as a broker that is down)."""

    def publish(self, queue: str, token: Token, *, priority: int = 0) -> None:
        raise BrokerUnavailableError("no broker is configured; the sweeper will publish this token")


def publisher_or_deferred() -> Publisher:
    """The publisher, or one that leaves every token to the sweeper (operator commands without RabbitMQ)."""
    return optional_publisher() or _NoBroker()


class _CurrentPublisher:
    """Publishes through whichever publisher is installed when a token goes out (a long-lived listener
    may be built before ``billing dev`` installs its in-process one)."""

    def publish(self, queue: str, token: Token, *, priority: int = 0) -> None:
        publisher_or_deferred().publish(queue, token, priority=priority)


def warm_sender() -> None:
    """Load what a sender's first claims need before it claims anything: the gateway client (imported on
    first use, it cost 0.13 s, more on a busy machine, while the first round's claimed slots waited) and
    the holiday calendars' listing the first tenant's business hours are checked against (built on first
    use, it loads every country's calendar module: 7.5 % of the coordinator's time in a 1,000-instance
    burst, py-spy, 2026-12-01)."""
    import billing.adapters.evolution  # noqa: F401
    from billing.domain.hours import load_calendar_listing

    load_calendar_listing()


def gateway_for(instance: GatewayInstance, settings: Settings | None = None) -> Gateway:
    """The pooled Evolution client of ``instance`` (its API key decrypted here, never logged).

    Every caller (sender, sweeper, webhook) gets the same configuration for the same instance, so
    they share one pooled client instead of replacing each other's.
    """
    from billing.adapters.evolution import GatewayConfig, get_client
    from billing.config import get_settings
    from billing.crypto import decrypt_secret

    settings = settings or get_settings()
    api_key = decrypt_secret(instance.api_key_encrypted, secret_key=settings.billing_secret_key.get_secret_value())
    return get_client(
        GatewayConfig(
            base_url=instance.gateway_url,
            instance=instance.gateway_instance,
            api_key=api_key,
            api_version=instance.api_version,
            connect_timeout_s=settings.gateway_connect_timeout_s,
            read_timeout_s=settings.gateway_read_timeout_s,
            typing_delay_ms=settings.gateway_typing_delay_ms,
        )
    )


_listeners: dict[str, EventListener] = {}  # by database: one per process in production
_listeners_lock = threading.Lock()


def event_listener(settings: Settings | None = None, *, wake_deliverer: bool = False) -> EventListener:
    """The process's one LISTEN connection on the configured database, started on first use: it numbers
    new events and wakes whoever waits for them (event streams, ``billing queue watch``). With
    ``wake_deliverer`` (the events server, ``billing dev``: whoever creates it first decides), events it
    numbers also wake the ERP webhook deliverer at once, at most one token a second."""
    from sqlalchemy.engine import make_url

    from billing.adapters.event_listener import EventListener
    from billing.config import get_settings
    from billing.db.engine import get_engine, sqlalchemy_url
    from billing.services.events.log import sequence_pending

    settings = settings or get_settings()
    dsn = make_url(sqlalchemy_url(settings.database_url)).set(drivername="postgresql")
    key = dsn.render_as_string(hide_password=False)
    with _listeners_lock:
        found = _listeners.get(key)
        if found is None:
            on_numbered = None
            if wake_deliverer:
                from billing.services.webhooks_out.wake import DelivererWaker

                on_numbered = DelivererWaker(_CurrentPublisher()).wake
            found = EventListener(
                key,
                sequence=lambda: sequence_pending(get_engine()),
                poll_s=settings.events_poll_s,
                on_numbered=on_numbered,
            )
            found.start()
            _listeners[key] = found
        return found


def reset_event_listeners() -> None:
    """Stop every listener (tests that switch databases)."""
    with _listeners_lock:
        for found in _listeners.values():
            found.stop()
        _listeners.clear()


def webhook_poster(settings: Settings | None = None) -> WebhookPoster:
    """The process's pooled HTTP client for ERP webhooks (``BILLING_WEBHOOK_TIMEOUT_S`` per POST)."""
    from billing.adapters.outbound_webhooks import get_poster
    from billing.config import get_settings

    return get_poster(timeout_s=(settings or get_settings()).webhook_timeout_s)
