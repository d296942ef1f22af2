"""POST /api/v1/billing/invoices/{invoice_id}/cancel (docs/api.md#invoice_cancel): a paid invoice's pending
reminders stop in every queue, nothing of it is sent after the answer but a call already in flight."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from support.factories import World, make_queue, make_world
from support.ops_factories import contact_statuses, execute, queue_row
from support.send_factories import headers

INVOICE = "/api/v1/billing/invoices/{}/cancel"


def cancel(control_fn: Any, key: str, invoice: str, reason: Any = "paid") -> Any:
    return control_fn.post(INVOICE.format(invoice), json={"reason": reason}, headers=headers(key))


def invoices(*ids: str) -> list[dict[str, Any]]:
    return [{"invoice_id": i} for i in ids]


def test_every_pending_reminder_of_the_invoice_is_cancelled_in_every_queue_once(
    db: Any, sim_world: World, control_fn: Any
) -> None:
    overdue = make_queue(db, sim_world, 3, template_type="overdue", overrides=invoices("NF-1", "NF-2", "NF-1"))
    upcoming = make_queue(
        db,
        sim_world,
        2,
        template_type="upcoming",
        overrides=[{"invoice_id": "NF-1", "status": "sent"}, {"invoice_id": "NF-1"}],
    )
    other = make_world(db, name="globex", gateway_url="http://127.0.0.1:1")
    theirs = make_queue(db, other, 1, overrides=invoices("NF-1"))
    answer = cancel(control_fn, sim_world.key, "NF-1")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["invoice_id"] == "NF-1" and body["cancelled"] == 3 and body["in_flight"] == 0
    assert sorted((q["queue_id"], q["cancelled"]) for q in body["queues"]) == sorted(
        [(str(overdue), 2), (str(upcoming), 1)]
    )
    assert contact_statuses(str(overdue)) == {"cancelled": 2, "pending": 1}
    assert contact_statuses(str(upcoming)) == {"sent": 1, "cancelled": 1}
    assert contact_statuses(str(theirs)) == {"pending": 1}  # another tenant's invoice of the same id
    reasons = execute("SELECT DISTINCT last_error FROM billing_contacts WHERE status = 'cancelled'")
    assert [r["last_error"] for r in reasons] == ["invoice cancelled: paid"]
    assert queue_row(str(overdue))["cancelled"] == 2
    # The upcoming queue has nothing left to send: it is completed in the same transaction.
    assert queue_row(str(upcoming))["status"] == "completed"
    audit = execute("SELECT action, details FROM audit_entries WHERE action = 'invoice.cancel'")
    assert len(audit) == 2 and {a["details"]["reason"] for a in audit} == {"paid"}
    again = cancel(control_fn, sim_world.key, "NF-1").get_json()
    assert (again["cancelled"], again["queues"]) == (0, [])  # idempotent


def test_a_key_cancels_only_in_queues_of_its_types_and_a_read_only_key_not_at_all(
    db: Any, sim_world: World, control_fn: Any
) -> None:
    from billing.db.models import Tenant
    from billing.services import admin

    overdue = make_queue(db, sim_world, 1, template_type="overdue", overrides=invoices("NF-9"))
    notice = make_queue(db, sim_world, 1, template_type="notification", overrides=invoices("NF-9"))
    tenant = db.get(Tenant, sim_world.tenant_id)
    _, notices_only = admin.create_api_key(tenant, session=db, name="avisos", types=["notification"])
    _, reader = admin.create_api_key(tenant, session=db, name="painel", read_only=True)
    db.commit()
    answer = cancel(control_fn, reader, "NF-9")
    assert answer.status_code == 403 and "read-only" in answer.get_json()["detail"]
    body = cancel(control_fn, notices_only, "NF-9").get_json()
    assert body["queues"] == [{"queue_id": str(notice), "cancelled": 1}]
    assert contact_statuses(str(overdue)) == {"pending": 1}


@pytest.mark.parametrize(
    ("body", "code"),
    [({"reason": ""}, 422), ({}, 422), ({"reason": "x" * 201}, 422), ({"reason": "paid", "x": 1}, 422), ([], 400)],
)
def test_bad_bodies_are_refused_and_nothing_is_cancelled(
    db: Any, sim_world: World, control_fn: Any, body: Any, code: int
) -> None:
    queue_id = make_queue(db, sim_world, 1, overrides=invoices("NF-1"))
    answer = control_fn.post(INVOICE.format("NF-1"), json=body, headers=headers(sim_world.key))
    assert answer.status_code == code and answer.content_type == "application/problem+json"
    assert contact_statuses(str(queue_id)) == {"pending": 1}
    broken = control_fn.post(
        INVOICE.format("NF-1"),
        data=b'{"reason": "pa',
        headers=headers(sim_world.key, **{"Content-Type": "application/json"}),
    )
    assert broken.status_code == 400
    for raw in (b'{"reason": "pa\\u0000id"}', b'{"reason": "\\ud800"}'):  # text PostgreSQL cannot hold
        answer = control_fn.post(
            INVOICE.format("NF-1"), data=raw, headers=headers(sim_world.key, **{"Content-Type": "application/json"})
        )
        assert answer.status_code == 400, (raw, answer.get_json())
    nul = control_fn.post(INVOICE.format("NF%00X"), json={"reason": "paid"}, headers=headers(sim_world.key))
    assert nul.status_code == 422 and "no NUL" in nul.get_json()["detail"]
    assert (
        control_fn.post(INVOICE.format("x" * 101), json={"reason": "paid"}, headers=headers(sim_world.key)).status_code
        == 422
    )
    assert control_fn.post(INVOICE.format("NF-1"), json={"reason": "paid"}).status_code == 401


def test_an_invoice_cancel_racing_a_running_sender_lets_nothing_out_after_the_answer_but_calls_in_flight(
    db: Any, sim: Any, sim_world: World, control_fn: Any
) -> None:
    from billing.services.delivery.dispatch import dispatch
    from test_dispatch_by_slot import in_process

    queue_id = make_queue(db, sim_world, 300, overrides=invoices(*["NF-RACE"] * 300))
    sim.client.set_latency(20)
    runner = threading.Thread(target=dispatch, kwargs={"deps": in_process()})
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while sim.client.send_requests() < 20:
            assert time.monotonic() < deadline, "the sender did not start"
            time.sleep(0.01)
        body = cancel(control_fn, sim_world.key, "NF-RACE").get_json()
        answered = time.time()
    finally:
        runner.join(60)
    after = [m for m in sim.client.messages() if m["arrived_wall"] > answered]
    assert len(after) <= body["in_flight"], (len(after), body)
    row = queue_row(str(queue_id))
    assert row["cancelled"] == body["cancelled"] > 0
    assert row["sent"] + row["cancelled"] == 300 and row["status"] == "completed"
    assert len(sim.client.messages()) == row["sent"]


def test_a_batch_sent_with_cancel_previous_for_invoice_replaces_the_older_pending_reminders(
    db: Any, sim_world: World, send: Any
) -> None:
    from support.send_factories import contact

    older = make_queue(db, sim_world, 3, template_type="overdue", overrides=invoices("NF-1", "NF-2", "NF-3"))
    body = {"contacts": [contact(1), contact(2)], "cancel_previous_for_invoice": True}
    answer = send.post("/api/v1/billing/send/overdue", json=body, headers=headers(sim_world.key))
    assert answer.status_code == 202, answer.get_json()
    newer = answer.get_json()["queue_id"]
    assert contact_statuses(str(older)) == {"cancelled": 2, "pending": 1}
    assert contact_statuses(newer) == {"pending": 2}
    reasons = execute(
        "SELECT last_error FROM billing_contacts WHERE queue_id = :q AND status = 'cancelled'", q=str(older)
    )
    assert {r["last_error"] for r in reasons} == {f"invoice cancelled: replaced by queue {newer}"}
    # Without the flag, earlier reminders stay.
    again = send.post("/api/v1/billing/send/overdue", json={"contacts": [contact(3)]}, headers=headers(sim_world.key))
    assert again.status_code == 202
    assert contact_statuses(str(older)) == {"cancelled": 2, "pending": 1}


def test_a_reminder_in_flight_at_the_cancel_is_cancelled_if_its_call_does_not_go_out(
    db: Any, sim_world: World, control_fn: Any
) -> None:
    """Three calls of the invoice were in flight: one is sent, one comes back for a retry (a transient
    error), one is handed back untouched (a missed slot). Only the first may ever reach the customer."""
    queue_id = make_queue(
        db,
        sim_world,
        4,
        overrides=[{"invoice_id": "NF-5", "status": "sending", "claimed_by": "w1"}] * 3 + [{"invoice_id": "NF-5"}],
    )
    body = cancel(control_fn, sim_world.key, "NF-5").get_json()
    assert (body["cancelled"], body["in_flight"]) == (1, 3)
    outcome = "UPDATE billing_contacts SET status = :s, claimed_by = NULL WHERE queue_id = :q AND position = :p"
    execute(outcome, s="sent", q=str(queue_id), p=0)  # the call went out: recorded as sent
    execute(outcome, s="pending_retry", q=str(queue_id), p=1)  # a transient error: back for a retry
    execute(outcome, s="pending", q=str(queue_id), p=2)  # handed back before the call
    statuses = execute(
        "SELECT position, status, last_error FROM billing_contacts WHERE queue_id = :q ORDER BY position",
        q=str(queue_id),
    )
    assert [(r["status"], r["last_error"]) for r in statuses] == [
        ("sent", None),
        ("cancelled", "invoice cancelled: paid"),
        ("cancelled", "invoice cancelled: paid"),
        ("cancelled", "invoice cancelled: paid"),
    ]
    assert queue_row(str(queue_id))["cancelled"] == 3  # the cancel's one, then one per call that came back
