"""The event types an ERP or a screen can follow, and filters over them (``queue.*``, ``contact.failed``).

Events are written by database triggers (migrations 0019 and 0020); this module is what the doors accept.
"""

from __future__ import annotations

import re

QUEUE_EVENTS = ("queue.started", "queue.paused", "queue.resumed", "queue.completed", "queue.cancelled")
CONTACT_EVENTS = (
    "contact.sent",
    "contact.delivered",
    "contact.read",
    "contact.failed",
    "contact.unknown",
    "contact.expired",
    "contact.skipped",
    "contact.cancelled",
    "contact.replied",
    "contact.opted_out",
)
INSTANCE_EVENTS = ("instance.down", "instance.up")
# A webhook endpoint stopped receiving (410 Gone, 5 days of failures, an operator): migration 0020.
ENDPOINT_EVENTS = ("endpoint.disabled",)
EVENT_TYPES = QUEUE_EVENTS + CONTACT_EVENTS + INSTANCE_EVENTS + ENDPOINT_EVENTS
# Why a queue paused (``data.reason`` of ``queue.paused``).
PAUSE_REASONS = ("operator", "business_hours", "instance_down", "auth_failed")

_GROUPS = frozenset(t.split(".", 1)[0] for t in EVENT_TYPES)
_PATTERN = re.compile(r"[a-z_]+\.(\*|[a-z_]+)")
MAX_FILTERS = 20


class InvalidEventFilterError(ValueError):
    """A type filter that names no event type; the message says which part and what is allowed."""


def parse_type_filter(text: str | None) -> tuple[str, ...]:
    """``queue.*,contact.failed`` -> the filters, checked; empty or None -> () (every type)."""
    if text is None or not text.strip():
        return ()
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if len(parts) > MAX_FILTERS:
        raise InvalidEventFilterError(f"at most {MAX_FILTERS} event type filters")
    for part in parts:
        if part == "*":
            return ()
        if not _PATTERN.fullmatch(part):
            raise InvalidEventFilterError(f"{part!r} is not an event type or a group such as queue.*")
        group, name = part.split(".", 1)
        if name == "*" and group not in _GROUPS:
            raise InvalidEventFilterError(f"unknown event group {group!r}: one of {', '.join(sorted(_GROUPS))}")
        if name != "*" and part not in EVENT_TYPES:
            raise InvalidEventFilterError(f"unknown event type {part!r}")
    return tuple(dict.fromkeys(parts))


def like_patterns(filters: tuple[str, ...]) -> list[str] | None:
    """The filters as SQL LIKE patterns (None: every type)."""
    if not filters:
        return None
    return [f.replace("_", r"\_").replace("*", "%") for f in filters]


def matches(filters: tuple[str, ...], event_type: str) -> bool:
    """Whether ``event_type`` passes ``filters`` (no filter: every type)."""
    if not filters:
        return True
    return any(f == event_type or (f.endswith(".*") and event_type.startswith(f[:-1])) for f in filters)
