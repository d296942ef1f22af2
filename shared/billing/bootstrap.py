"""The composition root: the one place that turns configuration into real adapters.

Use cases take their dependencies as parameters (a gateway, a publisher, a clock); doors and the
use cases' defaults get the real ones here, tests pass the fakes of ``billing.testing``. Everything is
built lazily and cached by the adapters themselves, so importing this module costs nothing at a cold
start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from billing.clock import SYSTEM_CLOCK, Clock
from billing.errors import BrokerUnavailableError, ConfigurationError

if TYPE_CHECKING:
    from billing.adapters.broker import Publisher, Token
    from billing.config import Settings
    from billing.domain.gateway import Gateway, GatewayInstance

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
