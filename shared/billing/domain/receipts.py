"""Delivery receipts as levels that only ever rise (pure rules; the webhook and the sweeper apply them).

A receipt says how far an outgoing message got. Whatever order receipts arrive in, and however often
the gateway repeats one, a contact's level is the highest level ever reported for its message, and the
queue's ``delivered`` and ``read`` counters grow once per contact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum


class ReceiptLevel(IntEnum):
    """How far an outgoing message got; receipts only ever raise it."""

    NONE = 0
    SERVER_ACK = 1
    DELIVERED = 2
    READ = 3

    @property
    def label(self) -> str | None:
        return _LABELS.get(self)

    @classmethod
    def from_label(cls, label: str | None) -> ReceiptLevel:
        return _BY_LABEL.get(label or "", cls.NONE)


_LABELS = {ReceiptLevel.SERVER_ACK: "server_ack", ReceiptLevel.DELIVERED: "delivered", ReceiptLevel.READ: "read"}
_BY_LABEL = {label: level for level, label in _LABELS.items()}
# The gateway's status names -> level (PLAYED: a voice note was listened to, which is a read).
GATEWAY_LEVELS = {
    "SERVER_ACK": ReceiptLevel.SERVER_ACK,
    "DELIVERY_ACK": ReceiptLevel.DELIVERED,
    "READ": ReceiptLevel.READ,
    "PLAYED": ReceiptLevel.READ,
}


@dataclass(frozen=True)
class Advance:
    """What the receipts recorded for one message do to its contact."""

    before: ReceiptLevel
    after: ReceiptLevel

    @property
    def moved(self) -> bool:
        return self.after > self.before

    @property
    def delivered(self) -> bool:
        return self.after >= ReceiptLevel.DELIVERED

    @property
    def read(self) -> bool:
        return self.after >= ReceiptLevel.READ

    @property
    def newly_delivered(self) -> int:
        """1 when this advance crosses "delivered" (the queue counter grows once per contact)."""
        return int(self.moved and self.delivered and self.before < ReceiptLevel.DELIVERED)

    @property
    def newly_read(self) -> int:
        return int(self.moved and self.read and self.before < ReceiptLevel.READ)


def advance(current_label: str | None, statuses: Iterable[str]) -> Advance:
    """The contact's level given every gateway status recorded for its message: never lower than now."""
    before = ReceiptLevel.from_label(current_label)
    best = max((GATEWAY_LEVELS.get(s, ReceiptLevel.NONE) for s in statuses), default=ReceiptLevel.NONE)
    return Advance(before, max(before, best))
