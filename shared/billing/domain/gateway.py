"""The gateway port: what every use case may ask of a WhatsApp gateway, and what it answers.

The Evolution client (``billing.adapters.evolution``) is the real implementation and
``billing.testing.FakeGateway`` the fake; use cases and pure rules (``domain.delivery``) only know
these types, so they never import the adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class HealthState(StrEnum):
    OPEN = "open"
    CONNECTING = "connecting"
    CLOSE = "close"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"  # the gateway refused our API key for the instance (401/403)


class OutcomeKind(StrEnum):
    SENT = "sent"
    INVALID_NUMBER = "invalid_number"
    INSTANCE_DOWN = "instance_down"
    REJECTED = "rejected"
    TRANSIENT = "transient"
    AUTH_FAILED = "auth_failed"  # 401/403: our key for the instance is wrong; the message was not sent


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What became of one send. ``delivery_unknown``: the gateway may have sent it (read timeout)."""

    kind: OutcomeKind
    message_id: str | None = None
    remote_jid: str | None = None
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    latency_s: float = 0.0
    delivery_unknown: bool = False

    @property
    def is_permanent(self) -> bool:
        return self.kind in (OutcomeKind.INVALID_NUMBER, OutcomeKind.REJECTED)

    @property
    def looks_like_disconnection(self) -> bool:
        """The instance (or the gateway itself) looks down: worth a health check before sending more."""
        if self.kind is OutcomeKind.INSTANCE_DOWN:
            return True
        return self.kind is OutcomeKind.TRANSIENT and self.status_code is None and not self.delivery_unknown


class Gateway(Protocol):
    """One WhatsApp instance behind the gateway. Neither method raises for gateway or network trouble."""

    def send_text(
        self, phone_e164: str, text: str, *, retry: bool = True, delay_ms: int | None = None
    ) -> SendOutcome: ...

    def check_health(self, *, timeout_s: float | None = None) -> HealthState:
        """The instance's connection state; ``timeout_s`` caps this one call's wait for an answer."""
        ...


class GatewayInstance(Protocol):
    """What the composition root needs to reach an instance (a table row or a claimed row fits)."""

    @property
    def gateway_url(self) -> str: ...

    @property
    def gateway_instance(self) -> str: ...

    @property
    def api_key_encrypted(self) -> str: ...

    @property
    def api_version(self) -> str: ...
