"""Inputs and outputs of the replies inbox (conversations with customers), whichever door calls them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

ConversationState = Literal["open", "closed", "all"]


@dataclass(frozen=True)
class ConversationQuery:
    state: ConversationState = "open"
    since: datetime | None = None
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class ConversationItem:
    """One customer's conversation on one WhatsApp number, with what reminded them."""

    id: str
    phone: str
    name: str | None
    instance: str
    state: Literal["open", "closed"]
    unread: int
    last_inbound_text: str | None
    last_inbound_at: datetime | None
    last_message_at: datetime | None
    invoices: list[str]
    queues: list[str]


@dataclass(frozen=True)
class ConversationPage:
    items: list[ConversationItem]
    next_cursor: str | None


@dataclass(frozen=True)
class MessageItem:
    id: str
    direction: Literal["in", "out"]
    text: str
    status: str | None
    created_at: datetime | None
    invoice_id: str | None  # the reminder this message was (out) or answered (in)


@dataclass(frozen=True)
class MessagePage:
    items: list[MessageItem]
    next_cursor: str | None
