"""The sender's pure decisions: outcome -> contact state, and truth at send time (no I/O)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from billing.domain.delivery import RetryPolicy, decide, no_longer_true
from billing.domain.gateway import OutcomeKind, SendOutcome
from billing.domain.states import ContactStatus, TemplateType, contact_transition

NOW = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, base_s=30, max_s=1800)


def decided(outcome: SendOutcome, attempts_before: int = 0) -> object:
    return decide(outcome, attempts_before=attempts_before, now=NOW, policy=POLICY, rng=random.Random(1))


def test_a_sent_message_keeps_the_gateway_ids_and_counts_as_sent() -> None:
    update = decided(SendOutcome(OutcomeKind.SENT, "3EB0ABC", "5511999998888@s.whatsapp.net", 201))
    assert update.status is ContactStatus.SENT and update.sent_at == NOW
    assert (update.provider_id, update.remote_jid, update.attempt_inc) == ("3EB0ABC", "5511999998888@s.whatsapp.net", 1)
    assert update.counters()["d_sent"] == 1 and sum(update.counters().values()) == 1


@pytest.mark.parametrize("kind", [OutcomeKind.INVALID_NUMBER, OutcomeKind.REJECTED])
def test_permanent_answers_fail_at_once_with_the_error(kind: OutcomeKind) -> None:
    update = decided(SendOutcome(kind, status_code=400, error="number is not on WhatsApp"))
    assert update.status is ContactStatus.FAILED and update.error == "number is not on WhatsApp"
    assert update.counters()["d_failed"] == 1


def test_instance_down_gives_the_contact_back_without_an_attempt() -> None:
    assert decided(SendOutcome(OutcomeKind.INSTANCE_DOWN, status_code=500, error="Connection Closed")) is None


def test_a_transient_error_is_retried_later_and_honours_retry_after() -> None:
    update = decided(SendOutcome(OutcomeKind.TRANSIENT, status_code=429, error="rate", retry_after=900))
    assert update.status is ContactStatus.PENDING_RETRY and update.attempt_inc == 1
    assert update.next_attempt_at >= NOW + timedelta(seconds=900)
    assert sum(update.counters().values()) == 0  # not final: no queue counter moves


def test_the_last_allowed_attempt_fails_with_the_last_error() -> None:
    update = decided(SendOutcome(OutcomeKind.TRANSIENT, status_code=503, error="busy"), attempts_before=2)
    assert update.status is ContactStatus.FAILED and update.error == "gave up after 3 attempts: busy"


def test_a_timeout_after_the_request_left_is_unknown_never_resent() -> None:
    update = decided(SendOutcome(OutcomeKind.TRANSIENT, error="ReadTimeout", delivery_unknown=True))
    assert update.status is ContactStatus.UNKNOWN and update.counters()["d_unknown"] == 1


def test_every_decision_is_a_legal_move_from_sending() -> None:
    outcomes = [
        SendOutcome(OutcomeKind.SENT, "id", "jid"),
        SendOutcome(OutcomeKind.INVALID_NUMBER),
        SendOutcome(OutcomeKind.TRANSIENT, status_code=500),
        SendOutcome(OutcomeKind.TRANSIENT, delivery_unknown=True),
    ]
    for outcome in outcomes:
        contact_transition(ContactStatus.SENDING, decided(outcome).status)


def truth(**overrides: object) -> object:
    values: dict[str, object] = {
        "template_type": TemplateType.OVERDUE,
        "valid_until": None,
        "due_date": date(2026, 11, 20),
        "suppressed": False,
        "now": NOW,
        "today": date(2026, 11, 30),
    }
    values.update(overrides)
    return no_longer_true(**values)  # type: ignore[arg-type]


def test_a_contact_still_true_is_sent() -> None:
    assert truth() is None
    assert truth(template_type=TemplateType.UPCOMING, due_date=date(2026, 11, 30)) is None  # due today


def test_opted_out_phones_are_skipped_and_stale_contacts_expire() -> None:
    assert truth(suppressed=True).status is ContactStatus.SKIPPED
    assert truth(valid_until=NOW - timedelta(seconds=1)).status is ContactStatus.EXPIRED
    assert truth(template_type=TemplateType.UPCOMING, due_date=date(2026, 11, 29)).status is ContactStatus.EXPIRED
