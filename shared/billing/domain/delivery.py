"""Pure decisions of the sender: what an outcome does to a contact, and whether a contact is still true.

No I/O here, so every rule is unit-tested without a database or a gateway.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from billing.domain.gateway import OutcomeKind, SendOutcome
from billing.domain.pacing import retry_delay
from billing.domain.states import ContactStatus, TemplateType

# Which queue counter a contact's final status increments.
COUNTER_OF: dict[ContactStatus, str] = {
    ContactStatus.SENT: "d_sent",
    ContactStatus.FAILED: "d_failed",
    ContactStatus.EXPIRED: "d_expired",
    ContactStatus.SKIPPED: "d_skipped",
    ContactStatus.UNKNOWN: "d_unknown",
}
MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class ContactUpdate:
    status: ContactStatus
    attempt_inc: int = 0
    error: str | None = None
    next_attempt_at: datetime | None = None
    provider_id: str | None = None
    remote_jid: str | None = None
    sent_at: datetime | None = None

    def counters(self) -> dict[str, int]:
        deltas = dict.fromkeys(COUNTER_OF.values(), 0)
        key = COUNTER_OF.get(self.status)
        if key is not None:
            deltas[key] = 1
        return deltas


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    base_s: float
    max_s: float


def _error(text: str | None, fallback: str) -> str:
    return (text or fallback)[:MAX_ERROR_CHARS]


def decide(
    outcome: SendOutcome,
    *,
    attempts_before: int,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> ContactUpdate | None:
    """The contact's next state after ``outcome``; None means "instance down" (or its key refused): give
    it back unconsumed.

    A transient failure after which the gateway may still have sent the message (read timeout, 504) is
    ``unknown``, never retried: a customer must not get the same reminder twice.
    """
    attempts = attempts_before + 1
    if outcome.kind is OutcomeKind.SENT:
        return ContactUpdate(
            ContactStatus.SENT,
            attempt_inc=1,
            provider_id=outcome.message_id,
            remote_jid=outcome.remote_jid or None,
            sent_at=now,
        )
    if outcome.kind in (OutcomeKind.INSTANCE_DOWN, OutcomeKind.AUTH_FAILED):
        return None
    if outcome.is_permanent:
        return ContactUpdate(ContactStatus.FAILED, attempt_inc=1, error=_error(outcome.error, outcome.kind.value))
    if outcome.delivery_unknown:
        error = f"delivery unknown: {_error(outcome.error, 'no answer')}"
        return ContactUpdate(ContactStatus.UNKNOWN, attempt_inc=1, error=error[:MAX_ERROR_CHARS])
    error = _error(outcome.error, f"gateway answered {outcome.status_code}")
    if attempts >= policy.max_attempts:
        return ContactUpdate(
            ContactStatus.FAILED, attempt_inc=1, error=f"gave up after {attempts} attempts: {error}"[:MAX_ERROR_CHARS]
        )
    delay = retry_delay(attempts, base_s=policy.base_s, max_s=policy.max_s, retry_after_s=outcome.retry_after, rng=rng)
    return ContactUpdate(
        ContactStatus.PENDING_RETRY, attempt_inc=1, error=error, next_attempt_at=now + timedelta(seconds=delay)
    )


def no_longer_true(
    *,
    template_type: TemplateType,
    valid_until: datetime | None,
    due_date: date | None,
    suppressed: bool,
    now: datetime,
    today: date,
) -> ContactUpdate | None:
    """``skipped`` for an opted-out phone, ``expired`` past ``valid_until`` or for an overdue "upcoming"."""
    if suppressed:
        return ContactUpdate(ContactStatus.SKIPPED, error="the phone opted out")
    if valid_until is not None and now > valid_until:
        return ContactUpdate(ContactStatus.EXPIRED, error="past valid_until")
    if template_type is TemplateType.UPCOMING and due_date is not None and due_date < today:
        return ContactUpdate(ContactStatus.EXPIRED, error="the due date passed before the reminder could be sent")
    return None
