"""Inputs and outputs of the invoice use cases, whichever door calls them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict


class QueueCancelled(TypedDict):
    queue_id: str
    cancelled: int


@dataclass(frozen=True)
class InvoiceCancelled:
    """What cancelling an invoice's reminders did: per queue, and what was already out of reach."""

    invoice_id: str
    cancelled: int
    queues: list[QueueCancelled] = field(default_factory=list)
    in_flight: int = 0  # calls to the gateway already started: not recalled
