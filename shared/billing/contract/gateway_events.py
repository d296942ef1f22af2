"""The gateway's events as the inbound use cases take them (the Evolution wire parser builds these)."""

from __future__ import annotations

from dataclasses import dataclass

from billing.domain.receipts import ReceiptLevel


@dataclass(frozen=True)
class InboundMessage:
    key_id: str
    phone_digits: str | None  # None: a group, broadcast or hidden (@lid) sender we cannot map
    text: str


@dataclass(frozen=True)
class Receipt:
    key_id: str
    status: str  # the gateway's name, e.g. DELIVERY_ACK
    level: ReceiptLevel


@dataclass(frozen=True)
class ConnectionChange:
    state: str  # open | close


@dataclass(frozen=True)
class Ignored:
    reason: str


GatewayEvent = InboundMessage | Receipt | ConnectionChange | Ignored


@dataclass(frozen=True)
class ParsedWebhook:
    event: str
    payload: GatewayEvent
