from __future__ import annotations

import pytest
from billing.domain.states import (
    CONTACT_TERMINAL,
    CONTACT_TRANSITIONS,
    CONTROL_NOOP,
    CONTROL_TARGETS,
    QUEUE_TERMINAL,
    QUEUE_TRANSITIONS,
    ContactStatus,
    QueueStatus,
    TemplateType,
    contact_transition,
    queue_transition,
    sources_for,
)
from billing.errors import InvalidTransitionError


def test_every_status_has_a_transition_entry() -> None:
    assert set(QUEUE_TRANSITIONS) == set(QueueStatus)
    assert set(CONTACT_TRANSITIONS) == set(ContactStatus)


def test_terminal_statuses_allow_no_move() -> None:
    for status in QUEUE_TERMINAL:
        assert status.is_terminal and not QUEUE_TRANSITIONS[status]
    for contact_status in CONTACT_TERMINAL:
        assert contact_status.is_terminal and not CONTACT_TRANSITIONS[contact_status]


def test_a_running_queue_may_pause_complete_or_wait_for_hours() -> None:
    for target in ("paused", "completed", "paused_business_hours", "instance_down", "cancelled"):
        assert queue_transition("running", target) == QueueStatus(target)


@pytest.mark.parametrize(
    ("current", "target"), [("completed", "pending"), ("cancelled", "paused"), ("failed", "running")]
)
def test_illegal_queue_moves_raise_a_specific_error(current: str, target: str) -> None:
    with pytest.raises(InvalidTransitionError) as info:
        queue_transition(current, target)
    assert (info.value.kind, info.value.current, info.value.target) == ("queue", current, target)


def test_a_contact_goes_pending_sending_sent() -> None:
    assert contact_transition("pending", "sending") is ContactStatus.SENDING
    assert contact_transition(ContactStatus.SENDING, ContactStatus.SENT) is ContactStatus.SENT


def test_a_sent_or_unknown_contact_is_never_sent_again() -> None:
    for current in ("sent", "unknown"):
        with pytest.raises(InvalidTransitionError):
            contact_transition(current, "sending")


def test_a_contact_cannot_skip_sending() -> None:
    with pytest.raises(InvalidTransitionError):
        contact_transition("pending", "sent")


def test_unknown_status_names_are_rejected() -> None:
    with pytest.raises(ValueError):
        queue_transition("running", "exploded")


def test_sources_for_lists_every_status_that_can_reach_the_target() -> None:
    assert sources_for(QueueStatus.PENDING) == frozenset(
        {
            QueueStatus.SCHEDULED,
            QueueStatus.RUNNING,
            QueueStatus.PAUSED,
            QueueStatus.PAUSED_BUSINESS_HOURS,
            QueueStatus.INSTANCE_DOWN,
        }
    )
    assert sources_for(QueueStatus.SCHEDULED) == frozenset()


def test_impossible_control_actions_are_refused_and_repeats_are_noops() -> None:
    with pytest.raises(InvalidTransitionError):
        queue_transition(QueueStatus.COMPLETED, CONTROL_TARGETS["resume"])
    with pytest.raises(InvalidTransitionError):
        queue_transition(QueueStatus.CANCELLED, CONTROL_TARGETS["pause"])
    assert queue_transition(QueueStatus.PAUSED, CONTROL_TARGETS["resume"]) is QueueStatus.PENDING
    for action, target in CONTROL_TARGETS.items():
        assert target in CONTROL_NOOP[action] or action == "resume"


def test_template_types_carry_priority_and_business_hours_rule() -> None:
    assert [t.priority for t in TemplateType] == [10, 5, 1]
    assert TemplateType.OVERDUE.respects_business_hours
    assert not TemplateType.NOTIFICATION.respects_business_hours
