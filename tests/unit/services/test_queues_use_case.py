"""Status and control decided in memory: the view of a queue row, what each action does, the audit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from billing.contract.queues import Actor, ControlAction, QueueStatusView
from billing.domain.states import QueueStatus
from billing.errors import InvalidTransitionError
from billing.http.queues import status_json
from billing.http.schemas import StatusHead, StatusResponse
from billing.services.queues import control, status
from billing.services.tenants import TenantRuntime
from support.runtime import tenant_runtime

NOW = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # a Tuesday, 10:00 in São Paulo


def queue_row(**fields: Any) -> SimpleNamespace:
    """A row as ``billing_queue_status_page`` returns it."""
    base: dict[str, Any] = dict(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        external_id="erp-1",
        template_type="overdue",
        status="running",
        total=10,
        sent=3,
        failed=1,
        cancelled=0,
        unknown=1,
        expired=0,
        skipped=0,
        delivered=2,
        read=1,
        replied=0,
        opted_out=0,
        last_event_id=None,
        paused_reason=None,
        resume_at=None,
        scheduled_for=None,
        created_at=NOW - timedelta(hours=1),
        started_at=NOW - timedelta(minutes=30),
        completed_at=None,
        failures='[{"index" : 4, "phone" : "+5511999998888", "invoice_id" : "NF-4", "error" : "not on WhatsApp"}]',
        failures_last=None,
    )
    return SimpleNamespace(**{**base, **fields})


class Runtimes:
    """Hands out one tenant runtime and counts how often the use case asked for it."""

    def __init__(self, runtime: TenantRuntime) -> None:
        self.runtime, self.asked = runtime, 0

    def __call__(self, tenant_id: uuid.UUID) -> TenantRuntime:
        self.asked += 1
        return self.runtime


def test_a_running_queue_shows_its_progress_and_an_eta_in_the_tenants_zone() -> None:
    view = status.build_view(queue_row(), now=NOW, runtime_of=Runtimes(tenant_runtime(throttle_per_minute=20)))
    assert (view.pending, view.progress) == (5, 0.5)
    assert view.estimated_completion is not None and view.estimated_completion > NOW
    assert view.estimated_completion.utcoffset() == timedelta(hours=-3)
    assert view.failures[0]["index"] == 4 and view.next_failures_cursor is None


@pytest.mark.parametrize("state", ["paused", "cancelled", "failed"])
def test_a_queue_waiting_for_a_person_or_over_promises_no_date_and_loads_no_tenant(state: str) -> None:
    runtimes = Runtimes(tenant_runtime())
    view = status.build_view(queue_row(status=state), now=NOW, runtime_of=runtimes)
    assert view.estimated_completion is None and runtimes.asked == 0


def test_a_completed_queue_reports_when_it_completed() -> None:
    done = NOW - timedelta(minutes=5)
    row = queue_row(status="completed", sent=8, failed=2, unknown=0, completed_at=done)
    assert status.build_view(row, now=NOW, runtime_of=Runtimes(tenant_runtime())).estimated_completion == done


def test_a_tenant_that_is_never_open_gets_no_eta_for_business_hours_types_but_notifications_get_one() -> None:
    never = Runtimes(tenant_runtime(open_windows=None))
    assert status.build_view(queue_row(), now=NOW, runtime_of=never).estimated_completion is None
    notice = status.build_view(queue_row(template_type="notification"), now=NOW, runtime_of=never)
    assert notice.estimated_completion is not None


def test_a_page_with_more_failures_after_it_hands_out_a_cursor_after_its_last_item() -> None:
    view = status.build_view(queue_row(failures_last=417), now=NOW, runtime_of=Runtimes(tenant_runtime()))
    assert status.decode_cursor(view.next_failures_cursor) == 417


def test_the_view_maps_onto_the_published_status_body() -> None:
    view = status.build_view(queue_row(failures_last=4), now=NOW, runtime_of=Runtimes(tenant_runtime()))
    assert isinstance(view, QueueStatusView)
    body = StatusResponse.model_validate_json(status_json(view))  # the spliced page is the documented shape
    assert body.failures[0].index == 4 and body.failures[0].error == "not on WhatsApp"
    assert body.next_failures_cursor == view.next_failures_cursor is not None
    assert (
        body.model_dump(exclude={"failures", "next_failures_cursor"})
        == StatusHead.model_validate(view, from_attributes=True).model_dump()
    )


@pytest.mark.parametrize(
    ("action", "before", "after", "noop"),
    [
        ("pause", "running", "paused", False),
        ("pause", "paused", "paused", True),
        ("resume", "paused", "pending", False),
        ("resume", "running", "running", True),
        ("resume", "instance_down", "pending", False),
        ("cancel", "pending", "cancelled", False),
        ("cancel", "cancelled", "cancelled", True),
    ],
)
def test_each_action_moves_the_queue_through_its_state_machine(
    action: ControlAction, before: str, after: str, noop: bool
) -> None:
    decision = control.decide(action, SimpleNamespace(status=before, scheduled_for=None), NOW)
    assert (decision.before, decision.after, decision.noop) == (QueueStatus(before), QueueStatus(after), noop)


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_a_finished_queue_cannot_be_paused_or_resumed(action: ControlAction) -> None:
    with pytest.raises(InvalidTransitionError):
        control.decide(action, SimpleNamespace(status="completed", scheduled_for=None), NOW)


def test_resuming_a_queue_scheduled_for_later_keeps_its_start_time() -> None:
    later = NOW + timedelta(days=1)
    decision = control.decide("resume", SimpleNamespace(status="paused", scheduled_for=later), NOW)
    assert decision.resume_at == later
    past = control.decide("resume", SimpleNamespace(status="paused", scheduled_for=NOW - timedelta(days=1)), NOW)
    assert past.resume_at is None


def test_the_audit_names_an_operator_or_an_api_key_as_the_actor() -> None:
    tenant, queue_id = uuid.uuid4(), uuid.uuid4()
    decision = control.decide("cancel", SimpleNamespace(status="running", scheduled_for=None), NOW)
    by_operator = control.audit_entry(Actor.for_operator(tenant, "ana"), "cancel", queue_id, decision, 7)
    assert by_operator.details == {"noop": False, "cancelled_contacts": 7, "actor": "operator", "operator": "ana"}
    assert by_operator.api_key_id is None and by_operator.action == "queue.cancel"
    key = uuid.uuid4()
    by_erp = control.audit_entry(Actor(tenant, api_key_id=key, client_ip="10.0.0.1"), "cancel", queue_id, decision, 7)
    assert by_erp.details is not None and by_erp.details["actor"] == "api_key" and by_erp.api_key_id == key
    assert (by_erp.before_status, by_erp.after_status) == ("running", "cancelled")
