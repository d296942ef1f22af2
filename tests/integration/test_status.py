"""GET /api/v1/billing/queue/{id}/status through the real function (docs/api.md#queue_status)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support.ops_factories import STATUS, client, create_queue, new_id, set_contacts, set_queue
from support.send_factories import TenantSetup, headers, make_tenant
from support.sql import recorded_statements
from support.windows import same_window

TZ = ZoneInfo("America/Sao_Paulo")


@pytest.fixture
def acme(database_url: str, broker: Any) -> TenantSetup:
    return make_tenant("acme")


@pytest.fixture
def status() -> Any:
    return client("status")


def test_a_new_queue_answers_its_counters_progress_and_an_eta(acme: TenantSetup, status: Any, send: Any) -> None:
    queue_id = create_queue(send, acme.key, 5, external_id="erp-001")
    set_queue(queue_id, sent=2, failed=1)
    response = status.get(STATUS.format(queue_id), headers=headers(acme.key))
    assert response.status_code == 200
    body = response.get_json()
    assert body["queue_id"] == queue_id and body["external_id"] == "erp-001"
    assert body["template_type"] == "overdue" and body["status"] == "pending"
    assert (body["total"], body["sent"], body["failed"], body["pending"]) == (5, 2, 1, 2)
    assert body["progress"] == 0.6
    assert body["created_at"] is not None and body["completed_at"] is None
    eta = datetime.fromisoformat(body["estimated_completion"]).astimezone(TZ)
    assert eta.weekday() < 5 and 8 <= eta.hour < 18  # overdue reminders go in business hours only
    assert response.headers["RateLimit-Limit"] and response.headers["RateLimit-Remaining"]


def test_notifications_ignore_business_hours_in_the_eta(acme: TenantSetup, status: Any, send: Any) -> None:
    queue_id = create_queue(send, acme.key, 21, kind="notification")
    before = datetime.now(UTC)
    body = status.get(STATUS.format(queue_id), headers=headers(acme.key)).get_json()
    eta = datetime.fromisoformat(body["estimated_completion"])
    # 20 per minute with the default 2 s of jitter (1 s on average) and the 0.1 s slot guard: the 21st
    # message goes 20 gaps of 4.1 s after now, whatever the hour.
    assert before + timedelta(seconds=81) <= eta <= datetime.now(UTC) + timedelta(seconds=83)


def test_finished_and_paused_queues_promise_no_new_date(acme: TenantSetup, status: Any, send: Any) -> None:
    done, paused = create_queue(send, acme.key, 2), create_queue(send, acme.key, 2)
    finished_at = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    set_queue(done, status="completed", sent=2, completed_at=finished_at)
    set_queue(paused, status="paused", paused_reason="paused through the control API")
    body = status.get(STATUS.format(done), headers=headers(acme.key)).get_json()
    assert body["pending"] == 0 and body["progress"] == 1.0
    assert datetime.fromisoformat(body["estimated_completion"]) == finished_at
    body = status.get(STATUS.format(paused), headers=headers(acme.key)).get_json()
    assert body["estimated_completion"] is None and body["paused_reason"] == "paused through the control API"


def test_failures_come_100_at_a_time_in_request_order_with_a_cursor(acme: TenantSetup, status: Any, send: Any) -> None:
    queue_id = create_queue(send, acme.key, 160)
    failed = list(range(5, 160))  # 155 failures, positions 5..159
    set_contacts(queue_id, failed, status="failed", last_error="number is not on WhatsApp")
    set_queue(queue_id, failed=len(failed))
    first = status.get(STATUS.format(queue_id), headers=headers(acme.key)).get_json()
    assert [f["index"] for f in first["failures"]] == failed[:100]
    assert first["failures"][0] == {
        "index": 5,
        "phone": "+5511980000005",
        "invoice_id": "NF-5",
        "error": "number is not on WhatsApp",
    }
    cursor = first["next_failures_cursor"]
    assert cursor
    second = status.get(
        STATUS.format(queue_id), query_string={"failures_cursor": cursor}, headers=headers(acme.key)
    ).get_json()
    assert [f["index"] for f in second["failures"]] == failed[100:]
    assert second["next_failures_cursor"] is None


@pytest.mark.parametrize(("failures", "pages"), [(0, [0]), (100, [100]), (101, [100, 1]), (200, [100, 100])])
def test_a_full_page_hands_out_a_cursor_only_when_another_failure_follows(
    acme: TenantSetup, status: Any, send: Any, failures: int, pages: list[int]
) -> None:
    queue_id = create_queue(send, acme.key, max(failures, 1) + 2)
    failed = list(range(1, failures + 1))
    if failed:
        set_contacts(queue_id, failed, status="failed", last_error=None, invoice_id=None)
    set_queue(queue_id, failed=failures)
    seen: list[int] = []
    query: dict[str, str] = {}
    for size in pages:
        response = status.get(STATUS.format(queue_id), query_string=query, headers=headers(acme.key))
        assert response.status_code == 200
        body = response.get_json()
        assert len(body["failures"]) == size
        assert all(f["invoice_id"] is None and f["error"] is None for f in body["failures"])
        seen += [f["index"] for f in body["failures"]]
        query = {"failures_cursor": body["next_failures_cursor"]} if body["next_failures_cursor"] else {}
    assert seen == failed and query == {}  # every failure once, in order, and the last page has no cursor


@pytest.mark.parametrize("cursor", ["garbage", "", "Zm9v", "ZjE6LTE", "ZjE6YWJj"])
def test_a_cursor_this_api_did_not_issue_is_422(acme: TenantSetup, status: Any, send: Any, cursor: str) -> None:
    queue_id = create_queue(send, acme.key, 1)
    response = status.get(STATUS.format(queue_id), query_string={"failures_cursor": cursor}, headers=headers(acme.key))
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert "failures_cursor" in body["detail"] and body["errors"][0]["loc"] == ["query", "failures_cursor"]


def test_another_tenants_queue_is_404_exactly_like_a_missing_one(acme: TenantSetup, status: Any, send: Any) -> None:
    other = make_tenant("globex")
    theirs = create_queue(send, other.key, 1)
    cross = status.get(STATUS.format(theirs), headers=headers(acme.key))
    missing = status.get(STATUS.format(new_id()), headers=headers(acme.key))
    not_uuid = status.get(STATUS.format("not-a-uuid"), headers=headers(acme.key))
    assert cross.status_code == missing.status_code == not_uuid.status_code == 404
    assert cross.get_json() == missing.get_json() == not_uuid.get_json()
    assert status.get(STATUS.format(theirs), headers=headers(other.key)).status_code == 200


def test_missing_unknown_and_revoked_keys_are_401(acme: TenantSetup, status: Any, send: Any) -> None:
    from billing.db.engine import unit_of_work
    from billing.services import admin

    queue_id = create_queue(send, acme.key, 1)
    assert status.get(STATUS.format(queue_id)).status_code == 401
    assert status.get(STATUS.format(queue_id), headers=headers("bk_00000000_nope")).status_code == 401
    with unit_of_work() as uow:
        tenant = admin.resolve_tenant("acme", session=uow.session)
        admin.revoke_api_key(tenant, session=uow.session, name="erp")
        uow.commit()
    response = status.get(STATUS.format(queue_id), headers=headers(acme.key))
    assert response.status_code == 401 and "revoked" in response.get_json()["detail"]


def test_a_key_used_from_a_disallowed_address_is_403(acme: TenantSetup, status: Any, send: Any) -> None:
    from billing.db.engine import unit_of_work
    from billing.services import admin

    queue_id = create_queue(send, acme.key, 1)
    with unit_of_work() as uow:
        tenant = admin.resolve_tenant("acme", session=uow.session)
        _, key = admin.create_api_key(tenant, session=uow.session, name="office", ips=["10.9.0.0/16"])
        uow.commit()
    assert status.get(STATUS.format(queue_id), headers=headers(key)).status_code == 403


def test_reads_over_their_own_budget_are_429_and_do_not_lock_sending_out(
    database_url: str, broker: Any, status: Any, send: Any
) -> None:
    from support.send_factories import batch

    tight = make_tenant("tight", rate_limit=2, api_read_rate_limit_per_minute=3)
    same_window()  # every read and write below counts in one minute
    for _ in range(3):
        assert status.get(STATUS.format(new_id()), headers=headers(tight.key)).status_code == 404
    response = status.get(STATUS.format(new_id()), headers=headers(tight.key))
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    assert "reads" in response.get_json()["detail"]
    # An ERP that polled too often can still send: writes count against the key's own limit.
    for _ in range(2):
        sent = send.post("/api/v1/billing/send/overdue", json=batch(1), headers=headers(tight.key))
        assert sent.status_code == 202 and sent.headers["RateLimit-Limit"] == "2"
    assert send.post("/api/v1/billing/send/overdue", json=batch(1), headers=headers(tight.key)).status_code == 429


def test_an_unreachable_database_is_503_with_retry_after(
    acme: TenantSetup, status: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.config import reset_settings_cache
    from billing.db.engine import dispose_engine

    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    dispose_engine()
    reset_settings_cache()
    response = status.get(STATUS.format(new_id()), headers=headers(acme.key))
    assert response.status_code == 503 and response.headers["Retry-After"]
    dispose_engine()


def test_other_methods_and_paths_are_refused_cleanly(acme: TenantSetup, status: Any) -> None:
    assert status.post(STATUS.format(new_id()), headers=headers(acme.key)).status_code == 405
    assert status.get("/api/v1/billing/queue/x/elsewhere", headers=headers(acme.key)).status_code == 404
    assert status.get("/healthz").status_code == 200


def test_a_status_request_costs_the_same_queries_whatever_the_queue_size(
    acme: TenantSetup, status: Any, send: Any
) -> None:
    from billing.db.engine import get_engine

    small, large = create_queue(send, acme.key, 1), create_queue(send, acme.key, 2000)
    set_contacts(large, list(range(0, 2000, 3)), status="failed", last_error="x")
    set_queue(large, failed=len(range(0, 2000, 3)))
    set_contacts(small, [0], status="failed", last_error="x")
    set_queue(small, failed=1)
    status.get(STATUS.format(small), headers=headers(acme.key))  # warm caches (tenant runtime, key touch)
    counts = []
    # The status route's pool: every statement commits on its own.
    with recorded_statements(get_engine(autocommit=True)) as statements:
        for queue_id in (small, large, small, large):
            statements.clear()
            assert status.get(STATUS.format(queue_id), headers=headers(acme.key)).status_code == 200
            counts.append(len(statements))
    assert counts == [2, 2, 2, 2], counts  # key lookup with the rate-limit counts; queue row with its failures
    assert not any("count(" in s.lower() for s in statements)


def test_a_batch_is_found_by_its_external_id_and_every_timestamp_is_utc_with_z(
    acme: TenantSetup, status: Any, send: Any
) -> None:
    queue_id = create_queue(send, acme.key, 2, external_id="erp-run-77")
    answer = status.get("/api/v1/billing/queues?external_id=erp-run-77", headers=headers(acme.key))
    assert answer.status_code == 200 and answer.headers["RateLimit-Limit"]
    items = answer.get_json()["items"]
    assert [(i["queue_id"], i["external_id"], i["total"]) for i in items] == [(queue_id, "erp-run-77", 2)]
    assert items[0]["created_at"].endswith("Z") and items[0]["estimated_completion"].endswith("Z")
    single = status.get(STATUS.format(queue_id), headers=headers(acme.key)).get_json()
    drop_eta = lambda body: {k: v for k, v in body.items() if k != "estimated_completion"}  # noqa: E731 - "now" moved
    assert single["created_at"].endswith("Z") and drop_eta(single) == drop_eta(items[0])
    nothing = status.get("/api/v1/billing/queues?external_id=erp-run-78", headers=headers(acme.key))
    assert nothing.status_code == 200 and nothing.get_json() == {"items": []}
    other = make_tenant("globex")
    theirs = status.get("/api/v1/billing/queues?external_id=erp-run-77", headers=headers(other.key))
    assert theirs.get_json() == {"items": []}  # another tenant's batch is never found
    missing = status.get("/api/v1/billing/queues", headers=headers(acme.key))
    assert missing.status_code == 422 and missing.get_json()["errors"][0]["loc"] == ["query", "external_id"]


def test_a_key_limited_to_some_types_finds_only_batches_of_those_types(
    acme: TenantSetup, status: Any, send: Any
) -> None:
    from billing.db.engine import unit_of_work
    from billing.services import admin

    create_queue(send, acme.key, 1, external_id="erp-run-90")
    with unit_of_work() as uow:
        tenant = admin.resolve_tenant("acme", session=uow.session)
        _, notices = admin.create_api_key(tenant, session=uow.session, name="avisos", types=["notification"])
        uow.commit()
    seen = status.get("/api/v1/billing/queues?external_id=erp-run-90", headers=headers(notices)).get_json()
    assert seen == {"items": []}  # an overdue batch is invisible to a notification-only key
    mine = status.get("/api/v1/billing/queues?external_id=erp-run-90", headers=headers(acme.key)).get_json()
    assert len(mine["items"]) == 1
