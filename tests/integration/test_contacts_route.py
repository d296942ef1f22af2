"""GET /api/v1/billing/queue/{id}/contacts through the real function (docs/api.md#queue_contacts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from support.ops_factories import client, create_queue, execute, new_id, set_contacts
from support.send_factories import TenantSetup, headers, make_tenant
from support.sql import recorded_statements

CONTACTS = "/api/v1/billing/queue/{}/contacts"


@pytest.fixture
def acme(database_url: str, broker: Any) -> TenantSetup:
    return make_tenant("acme")


@pytest.fixture
def status() -> Any:
    return client("status")


def grow(queue_id: str, total: int) -> None:
    """Copy contact 0 of the queue to positions 1..total-1 (invoice NF-<position>), straight in SQL."""
    execute(
        """
        INSERT INTO billing_contacts (id, tenant_id, queue_id, position, phone, name, due_date, amount, invoice_id,
                                      payment_link, variation_id, message, rendered_on, status, attempts)
        SELECT gen_random_uuid(), c.tenant_id, c.queue_id, g, '+55119' || lpad(g::text, 8, '0'), c.name,
               c.due_date, c.amount, 'NF-' || g, c.payment_link, c.variation_id, c.message, c.rendered_on,
               c.status, 0
          FROM billing_contacts c, generate_series(1, :last) AS g
         WHERE c.queue_id = :queue_id AND c.position = 0
        """,
        queue_id=queue_id,
        last=total - 1,
    )
    execute("UPDATE billing_queues SET total = :total WHERE id = :queue_id", queue_id=queue_id, total=total)


def test_every_contact_is_listed_with_its_status_receipts_and_utc_times(
    acme: TenantSetup, status: Any, send: Any
) -> None:
    queue_id = create_queue(send, acme.key, 3)
    sent_at = datetime(2026, 11, 30, 13, 0, 5, tzinfo=UTC)
    set_contacts(queue_id, [0], status="sent", attempts=1, provider_message_id="wamid.A", sent_at=sent_at)
    set_contacts(queue_id, [1], status="unknown", attempts=1, last_error="the gateway timed out")
    response = status.get(CONTACTS.format(queue_id), headers=headers(acme.key))
    assert response.status_code == 200, response.get_json()
    assert response.headers["RateLimit-Remaining"]
    body = response.get_json()
    assert body["next_cursor"] is None
    assert [item["index"] for item in body["items"]] == [0, 1, 2]
    first, second, third = body["items"]
    assert first == {
        "index": 0,
        "invoice_id": "NF-0",
        "phone": "+5511980000000",
        "name": "Cliente 0",
        "status": "sent",
        "attempts": 1,
        "error": None,
        "provider_message_id": "wamid.A",
        "sent_at": "2026-11-30T13:00:05Z",
        "delivered_at": None,
        "read_at": None,
        "replied_at": None,
    }
    assert (second["status"], second["error"]) == ("unknown", "the gateway timed out")
    assert third["status"] == "pending" and third["attempts"] == 0


def test_the_page_built_by_the_database_is_exactly_what_the_published_schema_writes(
    acme: TenantSetup, status: Any, send: Any
) -> None:
    """The items come as JSON from PostgreSQL; the documented model must read them and write back the
    same values (timestamps with and without microseconds, nulls, accents, quotes)."""
    import json

    from billing.http.schemas import ContactsResponse

    queue_id = create_queue(send, acme.key, 3)
    with_micro = datetime(2026, 11, 30, 13, 0, 5, 123400, tzinfo=UTC)
    set_contacts(queue_id, [0], status="sent", sent_at=with_micro, delivered_at=with_micro, name="João Ação")
    set_contacts(queue_id, [1], status="failed", last_error='a "quoted" error', sent_at=None)
    raw = status.get(CONTACTS.format(queue_id) + "?limit=2", headers=headers(acme.key)).get_data(as_text=True)
    parsed = ContactsResponse.model_validate_json(raw)
    assert json.loads(parsed.model_dump_json()) == json.loads(raw)
    assert parsed.items[0].sent_at == with_micro and parsed.items[0].name == "João Ação"


def test_status_and_invoice_filters_and_the_limit(acme: TenantSetup, status: Any, send: Any) -> None:
    queue_id = create_queue(send, acme.key, 12)
    set_contacts(queue_id, [2, 7], status="unknown")
    set_contacts(queue_id, [5, 9, 11], status="failed", last_error="number is not on WhatsApp")
    ask = lambda query: status.get(CONTACTS.format(queue_id) + query, headers=headers(acme.key))  # noqa: E731
    body = ask("?status=unknown,failed").get_json()
    assert [(i["index"], i["status"]) for i in body["items"]] == [
        (2, "unknown"), (5, "failed"), (7, "unknown"), (9, "failed"), (11, "failed"),
    ]  # fmt: skip
    page = ask("?status=failed,unknown&limit=2").get_json()
    assert [i["index"] for i in page["items"]] == [2, 5] and page["next_cursor"]
    page = ask(f"?status=failed,unknown&limit=2&cursor={page['next_cursor']}").get_json()
    assert [i["index"] for i in page["items"]] == [7, 9]
    assert [i["index"] for i in ask("?invoice_id=NF-7").get_json()["items"]] == [7]
    assert ask("?invoice_id=NF-7&status=sent").get_json()["items"] == []
    assert ask("?invoice_id=NF-404").get_json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("?status=sent,lost", "status", "comma-separated list"),
        ("?status=,", "status", "comma-separated list"),
        ("?limit=0", "limit", "from 1 to 1000"),
        ("?limit=1001", "limit", "from 1 to 1000"),
        ("?limit=ten", "limit", "from 1 to 1000"),
        ("?cursor=bm90LWEtY3Vyc29y", "cursor", "next_cursor"),
        ("?invoice_id=" + "x" * 101, "invoice_id", "1 to 100"),
    ],
)
def test_bad_query_parameters_are_a_precise_422(
    acme: TenantSetup, status: Any, send: Any, query: str, field: str, words: str
) -> None:
    queue_id = create_queue(send, acme.key, 1)
    response = status.get(CONTACTS.format(queue_id) + query, headers=headers(acme.key))
    assert response.status_code == 422 and response.content_type == "application/problem+json"
    body = response.get_json()
    assert words in body["detail"] and body["errors"][0]["loc"] == ["query", field]


def test_another_tenants_queue_is_404_and_a_key_of_other_types_is_403(
    acme: TenantSetup, status: Any, send: Any
) -> None:
    queue_id = create_queue(send, acme.key, 1)
    other = make_tenant("globex")
    for ref in (queue_id, new_id(), "not-a-uuid"):
        response = status.get(CONTACTS.format(ref), headers=headers(other.key))
        assert response.status_code == 404 and response.get_json()["detail"] == "queue not found"
    notices = make_tenant("acme-notices", types=["notification"])
    mine = create_queue(send, notices.key, 1, kind="notification")
    assert status.get(CONTACTS.format(mine), headers=headers(notices.key)).status_code == 200
    from billing.db.engine import unit_of_work
    from billing.services import admin

    with unit_of_work() as uow:
        tenant = admin.resolve_tenant("acme", session=uow.session)
        _, upcoming_only = admin.create_api_key(tenant, session=uow.session, name="upcoming", types=["upcoming"])
        uow.commit()
    response = status.get(CONTACTS.format(queue_id), headers=headers(upcoming_only))
    assert response.status_code == 403 and "overdue" in response.get_json()["detail"]
    assert status.get(CONTACTS.format(queue_id)).status_code == 401


@pytest.mark.slow
def test_ten_thousand_contacts_page_through_with_the_same_two_statements_per_page(
    acme: TenantSetup, status: Any, send: Any
) -> None:
    from billing.db.engine import get_engine

    queue_id = create_queue(send, acme.key, 1)
    grow(queue_id, 10_000)
    set_contacts(queue_id, list(range(0, 10_000, 997)), status="unknown")
    status.get(CONTACTS.format(queue_id), headers=headers(acme.key))  # warm the key touch
    seen: list[int] = []
    counts: list[int] = []
    cursor = ""
    with recorded_statements(get_engine(autocommit=True)) as statements:
        while True:
            statements.clear()
            answer = status.get(CONTACTS.format(queue_id) + f"?limit=1000{cursor}", headers=headers(acme.key))
            assert answer.status_code == 200
            counts.append(len(statements))
            body = answer.get_json()
            seen.extend(item["index"] for item in body["items"])
            if body["next_cursor"] is None:
                break
            cursor = f"&cursor={body['next_cursor']}"
    assert seen == list(range(10_000))  # every contact once, in order
    assert len(counts) == 10 and set(counts) == {2}, counts  # the guard, then one page
    unknown = status.get(CONTACTS.format(queue_id) + "?status=unknown", headers=headers(acme.key)).get_json()
    assert [item["index"] for item in unknown["items"]] == list(range(0, 10_000, 997))
