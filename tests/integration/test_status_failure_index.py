"""A failure's ``index`` is the contact's position in the ERP's request, even when earlier contacts of
that request were rejected at ingest."""

from __future__ import annotations

from typing import Any

from billing.domain.phones import normalize_phone
from support.ops_factories import STATUS, client, set_contacts, set_queue
from support.send_factories import batch, headers, make_tenant


def test_failure_indexes_point_at_the_original_request_rows(database_url: str, broker_prefix: str) -> None:
    setup = make_tenant("acme")
    body: dict[str, Any] = batch(4, kind="notification")
    body["contacts"][1]["phone"] = "123"  # rejected at ingest
    answer = client("send").post("/api/v1/billing/send/notification", json=body, headers=headers(setup.key))
    assert answer.status_code == 202, answer.get_json()
    created = answer.get_json()
    assert [r["index"] for r in created["rejected"]] == [1]
    queue_id = created["queue_id"]
    # The contact the ERP sent as row 3 failed at the gateway.
    set_contacts(queue_id, [3], status="failed", last_error="number is not on WhatsApp")
    set_queue(queue_id, failed=1)
    status = client("status").get(STATUS.format(queue_id), headers=headers(setup.key)).get_json()
    expected_phone = normalize_phone(body["contacts"][3]["phone"])
    assert [(f["index"], f["phone"]) for f in status["failures"]] == [(3, expected_phone)]
