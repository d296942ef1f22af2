"""Control action ``resend`` (docs/api.md#queue_control): unknown or failed contacts go back to pending, by an
explicit decision, and are sent exactly once more."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from support.factories import World, make_queue, make_world
from support.ops_factories import CONTROL, client, contact_statuses, execute, queue_row, set_contacts, set_queue
from support.send_factories import headers
from test_sender_processes import finish_in_process


def resend(control_fn: Any, key: str, queue_id: Any, **body: Any) -> Any:
    return control_fn.post(CONTROL.format(queue_id), json={"action": "resend", **body}, headers=headers(key))


def lose_records(queue_id: Any, positions: list[int]) -> None:
    """Sent contacts whose record was lost: the sweeper would have reported them unknown."""
    set_contacts(str(queue_id), positions, status="unknown", last_error="the worker died mid-call")
    row = queue_row(str(queue_id))
    set_queue(str(queue_id), sent=row["sent"] - len(positions), unknown=row["unknown"] + len(positions))


def test_failed_contacts_of_a_completed_queue_go_back_to_pending_and_the_queue_reopens(
    db: Any, sim_world: World, control_fn: Any
) -> None:
    queue_id = make_queue(db, sim_world, 5, status="completed")
    set_contacts(str(queue_id), [0, 1, 2], status="sent")
    set_contacts(str(queue_id), [3, 4], status="failed", attempts=5, last_error="timeout")
    set_queue(str(queue_id), sent=3, failed=2)
    answer = resend(control_fn, sim_world.key, queue_id, statuses=["failed"], indexes=[4])
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["status"], body["failed"], body["pending"], body["completed_at"]) == ("pending", 1, 1, None)
    row = execute(
        "SELECT status, attempts, last_error FROM billing_contacts WHERE queue_id = :q AND position = 4",
        q=str(queue_id),
    )[0]
    assert dict(row) == {"status": "pending", "attempts": 0, "last_error": None}  # a fresh retry budget
    entry = execute(
        "SELECT action, before_status, after_status, details FROM audit_entries WHERE queue_id = :q", q=str(queue_id)
    )
    assert [(e["action"], e["before_status"], e["after_status"]) for e in entry] == [
        ("queue.resend", "completed", "pending")
    ]
    assert entry[0]["details"]["resent_failed"] == 1 and entry[0]["details"]["actor"] == "api_key"


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"statuses": ["sent"]}, 409, "only unknown and failed contacts can be resent, not sent"),
        ({"statuses": ["unknown"], "indexes": [0, 3]}, 409, "index 0 is sent"),
        ({"indexes": [99]}, 422, "no contact at index 99"),
        ({"statuses": ["lost"]}, 422, "statuses must be"),
        ({"indexes": [-1]}, 422, "indexes must be"),
        ({"indexes": list(range(1001))}, 422, "indexes must be"),
    ],
)
def test_what_cannot_be_resent_is_refused_and_nothing_moves(
    db: Any, sim_world: World, control_fn: Any, body: dict[str, Any], code: int, words: str
) -> None:
    queue_id = make_queue(db, sim_world, 4, status="completed")
    set_contacts(str(queue_id), [0, 1], status="sent")
    set_contacts(str(queue_id), [2, 3], status="unknown")
    set_queue(str(queue_id), sent=2, unknown=2)
    answer = resend(control_fn, sim_world.key, queue_id, **body)
    assert answer.status_code == code and words in answer.get_json()["detail"], answer.get_json()
    assert contact_statuses(str(queue_id)) == {"sent": 2, "unknown": 2}
    assert queue_row(str(queue_id))["status"] == "completed"


def test_statuses_go_only_with_resend_and_a_cancelled_queue_is_409(db: Any, sim_world: World, control_fn: Any) -> None:
    queue_id = make_queue(db, sim_world, 2, status="cancelled")
    answer = control_fn.post(
        CONTROL.format(queue_id), json={"action": "pause", "statuses": ["unknown"]}, headers=headers(sim_world.key)
    )
    assert answer.status_code == 422 and "only go with the resend action" in answer.get_json()["detail"]
    answer = resend(control_fn, sim_world.key, queue_id)
    assert answer.status_code == 409 and "cancelled" in answer.get_json()["detail"]
    other = make_world(db, name="globex", gateway_url="http://127.0.0.1:1")
    assert resend(control_fn, other.key, queue_id).status_code == 404


def test_resent_unknown_contacts_go_out_exactly_once_more_even_when_two_resends_race(
    db: Any, sim: Any, sim_world: World, control_fn: Any
) -> None:
    queue_id = make_queue(db, sim_world, 6)
    assert finish_in_process(queue_id) == "completed"
    lose_records(queue_id, [1, 4])
    results: list[Any] = []
    start = threading.Barrier(2)

    def one() -> None:
        start.wait()
        results.append(resend(client("control"), sim_world.key, queue_id, statuses=["unknown"]).status_code)

    racers = [threading.Thread(target=one) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(30)
    assert results == [200, 200]
    moved = execute(
        "SELECT sum((details->>'resent_unknown')::int) AS n FROM audit_entries WHERE queue_id = :q", q=str(queue_id)
    )
    assert moved[0]["n"] == 2  # each contact moved by one of the two
    assert finish_in_process(queue_id) == "completed"
    per_number = Counter(m["number"] for m in sim.client.messages())
    numbers = sorted(per_number)
    assert len(numbers) == 6
    assert sorted(per_number.values()) == [1, 1, 1, 1, 2, 2]  # the two resent contacts, once more each
    row = queue_row(str(queue_id))
    assert (row["sent"], row["unknown"], row["status"]) == (6, 0, "completed")


def test_a_read_only_key_or_a_key_of_other_types_cannot_resend(db: Any, sim_world: World, control_fn: Any) -> None:
    from billing.db.models import Tenant
    from billing.services import admin

    queue_id = make_queue(db, sim_world, 2, status="completed")  # a notification queue
    set_contacts(str(queue_id), [0, 1], status="unknown")
    set_queue(str(queue_id), unknown=2)
    tenant = db.get(Tenant, sim_world.tenant_id)
    _, overdue_only = admin.create_api_key(tenant, session=db, name="cobranca", types=["overdue"])
    _, reader = admin.create_api_key(tenant, session=db, name="painel", read_only=True)
    db.commit()
    typed = resend(control_fn, overdue_only, queue_id)
    assert typed.status_code == 403 and "notification" in typed.get_json()["detail"]
    assert resend(control_fn, reader, queue_id).status_code == 403
    assert contact_statuses(str(queue_id)) == {"unknown": 2}
