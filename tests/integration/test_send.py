"""The send function through functions-framework's test client, on real Postgres and RabbitMQ."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from billing.adapters.broker import Token, reset_publisher
from support.send_factories import (
    SEND,
    TZ,
    batch,
    contact,
    get_token,
    headers,
    make_tenant,
    queue_depth,
    send_client,
    today,
)

PROBLEM = "application/problem+json"


def rows(sql: str, **params: Any) -> list[Any]:
    from billing.db.engine import unit_of_work

    with unit_of_work() as uow:
        return list(uow.session.execute(sa.text(sql), params).mappings().all())


@pytest.fixture
def env(database_url: str, broker_prefix: str) -> Iterator[Any]:
    # The process-wide publisher declared the previous test's queues: start a fresh one.
    reset_publisher()
    yield make_tenant()
    reset_publisher()


@pytest.mark.parametrize(
    ("kind", "priority", "expected_text"),
    [
        ("overdue", 10, "R$ 150,90"),
        ("upcoming", 5, "R$ 150,90"),
        ("notification", 1, "Sua conta mudou."),
    ],
)
def test_a_valid_batch_creates_rendered_contacts_and_wakes_the_sender_on_its_priority_queue(
    env: Any, broker_prefix: str, kind: str, priority: int, expected_text: str
) -> None:
    answer = send_client().post(SEND.format(kind), json=batch(3, kind=kind), headers=headers(env.key))

    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    assert list(body) == [
        "queue_id",
        "status",
        "template_type",
        "accepted",
        "rejected",
        "estimated_completion",
        "status_url",
    ]
    assert (body["status"], body["template_type"], body["accepted"], body["rejected"]) == ("pending", kind, 3, [])
    assert body["status_url"] == f"/api/v1/billing/queue/{body['queue_id']}/status"
    assert body["estimated_completion"].endswith("Z")  # every API timestamp: UTC with Z
    assert datetime.fromisoformat(body["estimated_completion"]).utcoffset() == timedelta(0)
    assert answer.headers["RateLimit-Limit"]
    queue = rows("SELECT * FROM billing_queues WHERE id = :id", id=body["queue_id"])[0]
    assert (queue["status"], queue["total"], queue["priority"]) == ("pending", 3, priority)
    assert queue["published_at"] is not None
    contacts = rows("SELECT * FROM billing_contacts WHERE queue_id = :id ORDER BY position", id=body["queue_id"])
    assert [c["phone"] for c in contacts] == ["+5511980000000", "+5511980000001", "+5511980000002"]
    assert all(expected_text in c["message"] and "Cliente" in c["message"] for c in contacts)
    assert all(c["rendered_on"] == today() and c["status"] == "pending" for c in contacts)
    variations = [c["variation_id"] for c in contacts]
    assert all(a != b for a, b in itertools.pairwise(variations))
    properties, raw = get_token(f"{broker_prefix}.{kind}")
    token = Token.from_bytes(raw)
    assert (token.kind, token.queue_id, token.reason, properties.priority) == (
        "queue",
        body["queue_id"],
        "created",
        priority,
    )
    assert properties.delivery_mode == 2


def test_invalid_contacts_are_listed_by_index_while_the_valid_ones_are_queued(env: Any) -> None:
    contacts = [
        contact(0),
        contact(1, phone="123"),
        contact(2, due_date=(today() + timedelta(days=2)).isoformat(), amount="0"),
        contact(3, payment_link="http://inseguro.example.com/x", surname="x"),
        contact(0),
        contact(5, variables={"nested": {"no": 1}}),
    ]
    answer = send_client().post(SEND.format("overdue"), json={"contacts": contacts}, headers=headers(env.key))

    assert answer.status_code == 202
    body = answer.get_json()
    assert body["accepted"] == 1
    rejected = {r["index"]: r for r in body["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4, 5]
    assert rejected[1]["phone"] == "123" and rejected[1]["errors"] == ["phone: too short"]
    assert any("due_date" in e and "not overdue" in e for e in rejected[2]["errors"])
    assert any(e.startswith("amount: must be greater than zero") for e in rejected[2]["errors"])
    assert "surname: unknown field" in rejected[3]["errors"]
    assert "duplicate of contact 0" in rejected[4]["errors"][0]
    assert rejected[5]["errors"][0].startswith("variables")


def test_an_https_check_is_applied_to_payment_links(env: Any) -> None:
    answer = send_client().post(
        SEND.format("overdue"),
        json={"contacts": [contact(0), contact(1, payment_link="javascript:alert(1)")]},
        headers=headers(env.key),
    )
    assert answer.get_json()["rejected"][0]["errors"] == ["payment_link: URL must use https, got 'javascript'"]


def test_upcoming_refuses_past_due_dates_and_notifications_need_neither_date_nor_amount(env: Any) -> None:
    client = send_client()
    past = contact(0, kind="upcoming", due_date=(today() - timedelta(days=1)).isoformat())
    late = client.post(
        SEND.format("upcoming"), json={"contacts": [past, contact(1, kind="upcoming")]}, headers=headers(env.key)
    )
    assert late.get_json()["rejected"][0]["index"] == 0
    bare = client.post(
        SEND.format("notification"), json={"contacts": [{"phone": "11 98000-0000"}]}, headers=headers(env.key)
    )
    assert bare.status_code == 202 and bare.get_json()["accepted"] == 1


def test_opted_out_phones_are_rejected(env: Any) -> None:
    from billing.db.engine import unit_of_work

    with unit_of_work() as uow:
        uow.session.execute(
            sa.text("INSERT INTO suppressions (id, tenant_id, phone) VALUES (gen_random_uuid(), :t, '+5511980000001')"),
            {"t": env.tenant_id},
        )
        uow.commit()
    answer = send_client().post(SEND.format("overdue"), json=batch(2), headers=headers(env.key))
    assert answer.get_json()["rejected"] == [
        {
            "index": 1,
            "phone": "+5511980000001",
            "errors": ["phone: opted out: this number asked not to receive messages"],
        }
    ]


def test_the_templates_json_schema_is_checked_per_contact(env: Any) -> None:
    from billing.db.engine import unit_of_work
    from billing.services import admin

    schema = {"type": "object", "required": ["plano"], "properties": {"plano": {"type": "string"}}}
    with unit_of_work() as uow:
        tenant = admin.resolve_tenant(env.name, session=uow.session)
        admin.add_template(
            tenant,
            session=uow.session,
            template_type="overdue",
            name="com-plano",
            bodies=["{{nome}}, plano {{plano}}: {{valor}}"],
            variables_schema=schema,
        )
        uow.commit()
    contacts = [contact(0, variables={"plano": "Pro"}), contact(1, variables={"plano": 3}), contact(2)]
    answer = send_client().post(
        SEND.format("overdue"), json={"template": "com-plano", "contacts": contacts}, headers=headers(env.key)
    )
    body = answer.get_json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1, 2]
    assert "'plano' is a required property" in body["rejected"][1]["errors"][0]
    message = rows("SELECT message FROM billing_contacts WHERE queue_id = :id", id=body["queue_id"])[0]["message"]
    assert message == "Cliente 0, plano Pro: R$ 150,90"


def test_a_future_scheduled_for_creates_a_scheduled_queue_without_a_token(env: Any, broker_prefix: str) -> None:
    when = (datetime.now(TZ) + timedelta(days=1)).replace(microsecond=0)
    answer = send_client().post(
        SEND.format("overdue"),
        json=batch(1, scheduled_for=when.isoformat(), valid_until=(when + timedelta(days=2)).isoformat()),
        headers=headers(env.key),
    )
    body = answer.get_json()
    assert answer.status_code == 202 and body["status"] == "scheduled"
    queue = rows("SELECT * FROM billing_queues WHERE id = :id", id=body["queue_id"])[0]
    assert queue["status"] == "scheduled" and queue["scheduled_for"] == when and queue["published_at"] is None
    assert queue_depth(f"{broker_prefix}.overdue") == 0


@pytest.mark.parametrize(
    ("window", "msg"),
    [
        ({"valid_until": "2020-01-01T00:00:00-03:00"}, "must be in the future"),
        ({"scheduled_for": "+2d", "valid_until": "+1d"}, "must be after scheduled_for"),
    ],
)
def test_a_validity_window_that_cannot_be_met_is_422(env: Any, window: dict[str, str], msg: str) -> None:
    now = datetime.now(TZ)
    top = {k: (now + timedelta(days=int(v[1]))).isoformat() if v.startswith("+") else v for k, v in window.items()}
    answer = send_client().post(SEND.format("overdue"), json=batch(1, **top), headers=headers(env.key))
    assert answer.status_code == 422 and answer.content_type == PROBLEM
    assert answer.get_json()["errors"] == [{"loc": ["valid_until"], "msg": msg}]


def test_a_replay_answers_200_with_the_first_answer_and_a_different_body_is_409(env: Any) -> None:
    client = send_client()
    first = client.post(SEND.format("overdue"), json=batch(2, external_id="run-1"), headers=headers(env.key))
    again = client.post(SEND.format("overdue"), json=batch(2, external_id="run-1"), headers=headers(env.key))
    other = client.post(SEND.format("overdue"), json=batch(3, external_id="run-1"), headers=headers(env.key))

    assert (first.status_code, again.status_code, other.status_code) == (202, 200, 409)
    assert again.data == first.data
    assert other.content_type == PROBLEM and "external_id" in other.get_json()["detail"]
    assert rows("SELECT count(*) AS n FROM billing_queues")[0]["n"] == 1


def test_the_idempotency_key_header_wins_over_external_id(env: Any) -> None:
    client = send_client()
    keyed = headers(env.key, **{"Idempotency-Key": "abc-123"})
    first = client.post(SEND.format("overdue"), json=batch(1), headers=keyed)
    again = client.post(SEND.format("overdue"), json=batch(1), headers=keyed)
    changed = client.post(SEND.format("overdue"), json=batch(2), headers=keyed)
    other_type = client.post(SEND.format("upcoming"), json=batch(1), headers=keyed)
    assert (first.status_code, again.status_code, changed.status_code, other_type.status_code) == (202, 200, 409, 409)
    assert "Idempotency-Key" in changed.get_json()["detail"]
    bad = client.post(SEND.format("overdue"), json=batch(1), headers=headers(env.key, **{"Idempotency-Key": " x"}))
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]


def test_the_broker_being_down_still_answers_202_and_leaves_the_queue_for_the_sweeper(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.adapters.broker import reset_publisher
    from billing.config import reset_settings_cache

    monkeypatch.setenv("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:1/%2F")
    reset_settings_cache()
    reset_publisher()
    try:
        answer = send_client().post(SEND.format("overdue"), json=batch(2), headers=headers(env.key))
    finally:
        reset_publisher()
    assert answer.status_code == 202
    queue = rows("SELECT published_at, total FROM billing_queues WHERE id = :id", id=answer.get_json()["queue_id"])[0]
    assert queue["published_at"] is None and queue["total"] == 2


def test_a_broker_that_never_confirms_costs_the_erp_a_bounded_wait_and_loses_nothing(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from billing.adapters.broker import reset_publisher
    from billing.config import reset_settings_cache
    from support.rabbit import FreezingProxy

    proxy = FreezingProxy()
    monkeypatch.setenv("RABBITMQ_URL", proxy.url)
    reset_settings_cache()
    reset_publisher()
    try:
        first = send_client().post(SEND.format("overdue"), json=batch(1), headers=headers(env.key))
        assert first.status_code == 202  # the broker confirms: published
        proxy.frozen.set()
        started = time.monotonic()
        stalled = send_client().post(SEND.format("overdue"), json=batch(2, external_id="e-2"), headers=headers(env.key))
        waited = time.monotonic() - started
    finally:
        reset_publisher()
        proxy.close()
    assert stalled.status_code == 202 and waited < 8
    queue = rows("SELECT published_at, total FROM billing_queues WHERE id = :id", id=stalled.get_json()["queue_id"])[0]
    assert queue["published_at"] is None and queue["total"] == 2  # the sweeper publishes it later


def test_a_message_with_percent_signs_and_quotes_is_stored_verbatim(env: Any) -> None:
    contacts = [contact(0, name='O\'Neil 100% "quitado" %s %(x)s')]
    body = send_client().post(SEND.format("overdue"), json={"contacts": contacts}, headers=headers(env.key)).get_json()
    stored = rows("SELECT name, message FROM billing_contacts WHERE queue_id = :id", id=body["queue_id"])[0]
    assert stored["name"] == 'O\'Neil 100% "quitado" %s %(x)s'
    assert 'O\'Neil 100% "quitado" %s %(x)s' in stored["message"]


def test_variables_are_stored_and_named_template_and_instance_are_used(env: Any) -> None:
    from billing.db.engine import unit_of_work
    from billing.services import admin

    with unit_of_work() as uow:
        tenant = admin.resolve_tenant(env.name, session=uow.session)
        inst = admin.add_instance(
            tenant,
            session=uow.session,
            name="filial",
            url="http://127.0.0.1:1",
            api_key="k",
            secret_key="test-secret-key-0123456789abcdef",
        )
        admin.add_template(
            tenant,
            session=uow.session,
            template_type="notification",
            name="aviso-plano",
            bodies=["{{nome}}: plano {{plano}}, parcela {{variaveis.parcela}}"],
            variables_schema={"type": "object", "properties": {"plano": {}, "parcela": {}}},
        )
        uow.commit()
        instance_id = inst.id
    payload = {
        "template": "aviso-plano",
        "instance": "filial",
        "contacts": [contact(0, kind="notification", variables={"plano": "Pro", "parcela": 3})],
    }
    body = send_client().post(SEND.format("notification"), json=payload, headers=headers(env.key)).get_json()
    stored = rows(
        "SELECT c.variables, c.message, q.instance_id FROM billing_contacts c JOIN billing_queues q "
        "ON q.id = c.queue_id WHERE q.id = :id",
        id=body["queue_id"],
    )[0]
    assert stored["variables"] == {"plano": "Pro", "parcela": 3}
    assert stored["message"] == "Cliente 0: plano Pro, parcela 3"
    assert stored["instance_id"] == instance_id


def test_the_eta_counts_the_instances_backlog(env: Any) -> None:
    client = send_client()
    first = client.post(SEND.format("notification"), json=batch(50, kind="notification"), headers=headers(env.key))
    second = client.post(SEND.format("notification"), json=batch(1, kind="notification"), headers=headers(env.key))
    eta1 = datetime.fromisoformat(first.get_json()["estimated_completion"])
    eta2 = datetime.fromisoformat(second.get_json()["estimated_completion"])
    # 20 per minute: the 51st message goes about 50 intervals (150 s) after the first.
    assert timedelta(seconds=140) <= eta2 - eta1 + timedelta(seconds=147) <= timedelta(seconds=400)
    assert json.loads(first.data)["accepted"] == 50


def test_a_rejected_phone_is_answered_as_typed_but_kept_masked(env: Any) -> None:
    client = send_client()
    body = batch(1, external_id="run-masked")
    body["contacts"].append({"phone": "+55 21 99876-XXXX", "name": "Ana"})
    first = client.post(SEND.format("overdue"), json=body, headers=headers(env.key))
    again = client.post(SEND.format("overdue"), json=body, headers=headers(env.key))
    assert first.get_json()["rejected"][0]["phone"] == "+55 21 99876-XXXX"
    stored = rows("SELECT response::text AS r FROM billing_campaigns")[0]["r"]
    assert "99876" not in stored
    replayed = again.get_json()["rejected"][0]
    assert again.status_code == 200 and replayed["index"] == 1 and "99876" not in replayed["phone"]
