"""POST /api/v1/billing/queue/{id}/control through the real function (docs/api.md#queue_control)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.ops_factories import (
    CONTROL,
    STATUS,
    client,
    contact_statuses,
    create_queue,
    execute,
    new_id,
    queue_row,
    set_contacts,
    set_queue,
)
from support.send_factories import TenantSetup, headers, make_tenant
from support.sql import recorded_statements
from support.windows import same_window


@pytest.fixture
def acme(database_url: str, broker: Any) -> TenantSetup:
    return make_tenant("acme")


@pytest.fixture
def control() -> Any:
    return client("control")


def act(control: Any, key: str, queue_id: str, action: Any, **kwargs: Any) -> Any:
    return control.post(CONTROL.format(queue_id), json={"action": action}, headers=headers(key), **kwargs)


def audit(queue_id: str) -> list[dict[str, Any]]:
    return execute(
        "SELECT api_key_id, host(client_ip) AS ip, action, before_status, after_status, details "
        "FROM audit_entries WHERE queue_id = :id ORDER BY created_at",
        id=queue_id,
    )


def test_pause_then_pause_again_is_a_no_op_and_both_are_audited(acme: TenantSetup, control: Any, send: Any) -> None:
    queue_id = create_queue(send, acme.key, 3)
    first = act(control, acme.key, queue_id, "pause")
    assert first.status_code == 200
    assert first.get_json()["status"] == "paused" and first.get_json()["pending"] == 3
    again = act(control, acme.key, queue_id, "pause")
    assert again.status_code == 200 and again.get_json()["status"] == "paused"
    entries = audit(queue_id)
    assert [(e["action"], e["before_status"], e["after_status"]) for e in entries] == [
        ("queue.pause", "pending", "paused"),
        ("queue.pause", "paused", "paused"),
    ]
    assert [e["details"]["noop"] for e in entries] == [False, True]
    key_id = execute("SELECT id FROM api_keys WHERE tenant_id = :t", t=acme.tenant_id)[0]["id"]
    assert entries[0]["api_key_id"] == key_id and entries[0]["ip"] == "127.0.0.1"


def test_resume_republishes_a_token_and_marks_it_published(
    acme: TenantSetup, control: Any, send: Any, broker: Any
) -> None:
    from billing.adapters.broker import queue_names

    queue_id = create_queue(send, acme.key, 3)
    set_queue(queue_id, started_at=datetime.now(UTC))
    assert act(control, acme.key, queue_id, "pause").status_code == 200
    broker.clear()
    response = act(control, acme.key, queue_id, "resume")
    assert response.status_code == 200 and response.get_json()["status"] == "pending"
    [published] = broker.published
    assert published.queue == queue_names().resume and published.priority == 10
    assert published.token.queue_id == queue_id and published.token.reason == "resumed"
    assert queue_row(queue_id)["published_at"] is not None
    assert act(control, acme.key, queue_id, "resume").status_code == 200  # already pending: no-op
    assert len(broker.published) == 1


def test_resume_with_the_broker_down_still_answers_and_leaves_the_queue_to_the_sweeper(
    acme: TenantSetup, control: Any, send: Any, broker: Any
) -> None:
    queue_id = create_queue(send, acme.key, 1)
    act(control, acme.key, queue_id, "pause")
    broker.down = True
    response = act(control, acme.key, queue_id, "resume")
    assert response.status_code == 200 and response.get_json()["status"] == "pending"
    assert queue_row(queue_id)["published_at"] is None


def test_resuming_a_queue_scheduled_for_later_keeps_its_start_time(
    acme: TenantSetup, control: Any, send: Any, broker: Any
) -> None:
    later = datetime.now(UTC) + timedelta(days=2)
    queue_id = create_queue(send, acme.key, 1, scheduled_for=later.isoformat())
    assert act(control, acme.key, queue_id, "pause").get_json()["status"] == "paused"
    broker.clear()
    body = act(control, acme.key, queue_id, "resume").get_json()
    assert body["status"] == "pending" and datetime.fromisoformat(body["resume_at"]) == later
    assert broker.published == []


def test_cancel_cancels_every_unsent_contact_in_one_statement_and_keeps_the_in_flight_one(
    acme: TenantSetup, control: Any, send: Any
) -> None:
    from billing.db.engine import get_engine

    queue_id = create_queue(send, acme.key, 10)
    set_contacts(queue_id, [0, 1], status="sent")
    set_contacts(queue_id, [2], status="sending")
    set_contacts(queue_id, [3], status="pending_retry")
    set_queue(queue_id, status="running", sent=2)
    with recorded_statements(get_engine()) as statements:
        response = act(control, acme.key, queue_id, "cancel")
    contact_updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE BILLING_CONTACTS")]
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "cancelled" and body["cancelled"] == 7 and body["pending"] == 1
    assert body["completed_at"] is not None
    assert len(contact_updates) == 1
    assert contact_statuses(queue_id) == {"sent": 2, "sending": 1, "cancelled": 7}
    assert act(control, acme.key, queue_id, "cancel").status_code == 200
    assert queue_row(queue_id)["cancelled"] == 7


@pytest.mark.parametrize(
    ("status", "action"),
    [("completed", "resume"), ("cancelled", "pause"), ("completed", "cancel"), ("failed", "resume")],
)
def test_impossible_transitions_are_409(acme: TenantSetup, control: Any, send: Any, status: str, action: str) -> None:
    queue_id = create_queue(send, acme.key, 1)
    set_queue(queue_id, status=status)
    response = act(control, acme.key, queue_id, action)
    assert response.status_code == 409 and response.content_type == "application/problem+json"
    assert queue_row(queue_id)["status"] == status
    assert audit(queue_id) == []


@pytest.mark.parametrize(
    "body", [{"action": "restart"}, {}, {"action": None}, {"action": "pause", "extra": 1}, ["pause"], "pause"]
)
def test_unknown_actions_and_bad_bodies_are_422(acme: TenantSetup, control: Any, send: Any, body: Any) -> None:
    queue_id = create_queue(send, acme.key, 1)
    response = control.post(CONTROL.format(queue_id), json=body, headers=headers(acme.key))
    assert response.status_code == 422
    assert response.get_json()["errors"]


def test_malformed_json_is_400_and_a_non_json_body_is_415(acme: TenantSetup, control: Any, send: Any) -> None:
    queue_id = create_queue(send, acme.key, 1)
    url = CONTROL.format(queue_id)
    broken = control.post(
        url, data=b'{"action": "pau', headers=headers(acme.key, **{"Content-Type": "application/json"})
    )
    assert broken.status_code == 400
    text = control.post(url, data=b"action=pause", headers=headers(acme.key, **{"Content-Type": "text/plain"}))
    assert text.status_code == 415
    none = control.post(url, data=b"", headers=headers(acme.key))
    assert none.status_code == 415
    huge = control.post(url, json={"action": "pause", "x": "y" * 20_000}, headers=headers(acme.key))
    assert huge.status_code == 413
    # The key is judged before the body: a stranger learns nothing from the size of what they sent.
    assert control.post(url, json={"action": "pause", "x": "y" * 20_000}).status_code == 401


def test_another_tenants_queue_is_404_exactly_like_a_missing_one(acme: TenantSetup, control: Any, send: Any) -> None:
    other = make_tenant("globex")
    theirs = create_queue(send, other.key, 1)
    cross = act(control, acme.key, theirs, "cancel")
    missing = act(control, acme.key, new_id(), "cancel")
    not_uuid = act(control, acme.key, "42", "cancel")
    assert cross.status_code == missing.status_code == not_uuid.status_code == 404
    assert cross.get_json() == missing.get_json() == not_uuid.get_json()
    assert queue_row(theirs)["status"] == "pending" and contact_statuses(theirs) == {"pending": 1}


def test_auth_and_rate_limits_are_the_same_as_send(database_url: str, broker: Any, control: Any, send: Any) -> None:
    tight = make_tenant("tight", rate_limit=2)
    same_window()  # all four requests count in one minute
    queue_id = create_queue(send, tight.key, 1)  # the send request counts too: one left
    assert control.post(CONTROL.format(queue_id), json={"action": "pause"}).status_code == 401
    assert act(control, tight.key, queue_id, "pause").status_code == 200
    limited = act(control, tight.key, queue_id, "pause")
    assert limited.status_code == 429 and limited.headers["Retry-After"]


def test_get_is_405_and_health_answers(acme: TenantSetup, control: Any) -> None:
    assert control.get(CONTROL.format(new_id()), headers=headers(acme.key)).status_code == 405
    assert control.get("/_/health").status_code == 200


def test_a_key_limited_to_some_types_neither_reads_nor_controls_other_queues(
    acme: TenantSetup, control: Any, send: Any
) -> None:
    from billing.db.engine import unit_of_work
    from billing.services import admin

    overdue = create_queue(send, acme.key, 2)
    with unit_of_work() as uow:
        tenant = admin.resolve_tenant("acme", session=uow.session)
        _, notices_only = admin.create_api_key(tenant, session=uow.session, name="avisos", types=["notification"])
        uow.commit()
    status = client("status")
    assert status.get(STATUS.format(overdue), headers=headers(notices_only)).status_code == 403
    refused = act(control, notices_only, overdue, "cancel")
    assert refused.status_code == 403 and "'overdue'" in refused.get_json()["detail"]
    assert queue_row(overdue)["status"] == "pending" and contact_statuses(overdue) == {"pending": 2}
    assert audit(overdue) == []
    notice = create_queue(send, acme.key, 1, kind="notification")
    assert status.get(STATUS.format(notice), headers=headers(notices_only)).status_code == 200
    assert act(control, notices_only, notice, "pause").status_code == 200
