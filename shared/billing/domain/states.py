"""Queue and contact state machines (the statuses the API documents: docs/api.md, "Following and
controlling queues"). Services move states only through these."""

from __future__ import annotations

from enum import StrEnum

from billing.errors import InvalidTransitionError


class TemplateType(StrEnum):
    OVERDUE = "overdue"
    UPCOMING = "upcoming"
    NOTIFICATION = "notification"

    @property
    def priority(self) -> int:
        return _PRIORITY[self]

    @property
    def respects_business_hours(self) -> bool:
        return self is not TemplateType.NOTIFICATION


_PRIORITY = {TemplateType.OVERDUE: 10, TemplateType.UPCOMING: 5, TemplateType.NOTIFICATION: 1}


class QueueStatus(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    PAUSED_BUSINESS_HOURS = "paused_business_hours"
    INSTANCE_DOWN = "instance_down"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in QUEUE_TERMINAL


class ContactStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    PENDING_RETRY = "pending_retry"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in CONTACT_TERMINAL


QUEUE_TERMINAL = frozenset({QueueStatus.COMPLETED, QueueStatus.CANCELLED, QueueStatus.FAILED})
CONTACT_TERMINAL = frozenset(
    {
        ContactStatus.SENT,
        ContactStatus.FAILED,
        ContactStatus.CANCELLED,
        ContactStatus.EXPIRED,
        ContactStatus.SKIPPED,
        ContactStatus.UNKNOWN,
    }
)
# Contacts the sender may still pick up.
CONTACT_CLAIMABLE = frozenset({ContactStatus.PENDING, ContactStatus.PENDING_RETRY})
# Contacts a cancel turns into ``cancelled`` (``sending`` is in the gateway's hands: not recalled).
CONTACT_CANCELLABLE = frozenset({ContactStatus.PENDING, ContactStatus.PENDING_RETRY})

_Q = QueueStatus
QUEUE_TRANSITIONS: dict[QueueStatus, frozenset[QueueStatus]] = {
    _Q.PENDING: frozenset({_Q.RUNNING, _Q.PAUSED, _Q.CANCELLED, _Q.COMPLETED, _Q.FAILED}),
    _Q.SCHEDULED: frozenset({_Q.PENDING, _Q.RUNNING, _Q.PAUSED, _Q.CANCELLED, _Q.COMPLETED}),
    _Q.RUNNING: frozenset(
        {
            _Q.PENDING,  # released with work left, waiting for a continuation token
            _Q.PAUSED,
            _Q.PAUSED_BUSINESS_HOURS,
            _Q.INSTANCE_DOWN,
            _Q.COMPLETED,
            _Q.CANCELLED,
            _Q.FAILED,
        }
    ),
    _Q.PAUSED: frozenset({_Q.PENDING, _Q.CANCELLED}),
    _Q.PAUSED_BUSINESS_HOURS: frozenset({_Q.PENDING, _Q.RUNNING, _Q.PAUSED, _Q.CANCELLED, _Q.COMPLETED}),
    _Q.INSTANCE_DOWN: frozenset({_Q.PENDING, _Q.RUNNING, _Q.PAUSED, _Q.CANCELLED, _Q.COMPLETED}),
    _Q.COMPLETED: frozenset(),
    _Q.CANCELLED: frozenset(),
    _Q.FAILED: frozenset(),
}

_C = ContactStatus
CONTACT_TRANSITIONS: dict[ContactStatus, frozenset[ContactStatus]] = {
    _C.PENDING: frozenset({_C.SENDING, _C.CANCELLED, _C.EXPIRED, _C.SKIPPED, _C.FAILED}),
    _C.PENDING_RETRY: frozenset({_C.SENDING, _C.CANCELLED, _C.EXPIRED, _C.SKIPPED, _C.FAILED}),
    # expired and skipped: the truth check runs on the claimed contact, just before the gateway call.
    _C.SENDING: frozenset({_C.SENT, _C.FAILED, _C.PENDING_RETRY, _C.PENDING, _C.UNKNOWN, _C.EXPIRED, _C.SKIPPED}),
    _C.SENT: frozenset(),
    _C.FAILED: frozenset(),
    _C.CANCELLED: frozenset(),
    _C.EXPIRED: frozenset(),
    _C.SKIPPED: frozenset(),
    _C.UNKNOWN: frozenset(),
}


def queue_transition(current: QueueStatus | str, target: QueueStatus | str) -> QueueStatus:
    """Return ``target`` if the queue may move there from ``current``; raise otherwise."""
    cur, tgt = QueueStatus(current), QueueStatus(target)
    if tgt not in QUEUE_TRANSITIONS[cur]:
        raise InvalidTransitionError("queue", cur.value, tgt.value)
    return tgt


def contact_transition(current: ContactStatus | str, target: ContactStatus | str) -> ContactStatus:
    """Return ``target`` if the contact may move there from ``current``; raise otherwise."""
    cur, tgt = ContactStatus(current), ContactStatus(target)
    if tgt not in CONTACT_TRANSITIONS[cur]:
        raise InvalidTransitionError("contact", cur.value, tgt.value)
    return tgt


def sources_for(target: QueueStatus) -> frozenset[QueueStatus]:
    """Every queue status from which ``target`` is reachable (used to build guarded UPDATEs)."""
    return frozenset(s for s, targets in QUEUE_TRANSITIONS.items() if target in targets)


# What the control function's actions mean for the state machine.
CONTROL_TARGETS: dict[str, QueueStatus] = {
    "pause": QueueStatus.PAUSED,
    "resume": QueueStatus.PENDING,
    "cancel": QueueStatus.CANCELLED,
}
# Statuses in which an action is already in effect: repeating it is a no-op.
CONTROL_NOOP: dict[str, frozenset[QueueStatus]] = {
    "pause": frozenset({QueueStatus.PAUSED}),
    "resume": frozenset({QueueStatus.PENDING, QueueStatus.RUNNING, QueueStatus.SCHEDULED}),
    "cancel": frozenset({QueueStatus.CANCELLED}),
}
