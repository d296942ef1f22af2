"""Receipts, connection changes, authentication and malformed bodies through the webhook function."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from billing.adapters.broker import queue_names
from billing.db.engine import get_engine, unit_of_work
from billing.services import admin
from billing.services.inbound.receipts import catch_up_receipts
from billing.testing import InMemoryBroker
from support.sql import recorded_statements
from support.webhook_factories import (
    PHONE,
    SECRET_HEADER,
    World,
    connection,
    envelope,
    make_queue,
    make_world,
    post,
    rows,
    update,
    upsert,
    webhook_client,
)


@pytest.fixture
def world(database_url: str, broker: InMemoryBroker) -> World:
    return make_world()


@pytest.fixture
def broker() -> Any:
    from billing.adapters.broker import set_publisher

    memory = InMemoryBroker()
    set_publisher(memory)
    yield memory
    set_publisher(None)


@pytest.fixture
def client(world: World) -> Any:
    return webhook_client()


def contact(key: str) -> Any:
    [row] = rows(
        "SELECT c.delivery_status, c.delivered_at, c.read_at, q.delivered, q.read FROM billing_contacts c "
        "JOIN billing_queues q ON q.id = c.queue_id WHERE c.provider_message_id = :k",
        k=key,
    )
    return row


def sent(world: World, *keys: str) -> uuid.UUID:
    return make_queue(world, [{"provider_message_id": k, "sent_at": datetime.now(UTC)} for k in keys])


# --- receipts -----------------------------------------------------------------------------------------


def test_receipts_in_order_move_the_contact_and_count_delivered_then_read(client: Any, world: World) -> None:
    sent(world, "3EB0A1")
    assert post(client, world, update("3EB0A1", "SERVER_ACK")).get_json()["status"] == "processed"
    c = contact("3EB0A1")
    assert (c.delivery_status, c.delivered_at, c.delivered, c.read) == ("server_ack", None, 0, 0)
    post(client, world, update("3EB0A1", "DELIVERY_ACK"))
    c = contact("3EB0A1")
    assert (c.delivery_status, c.read_at, c.delivered, c.read) == ("delivered", None, 1, 0)
    assert c.delivered_at is not None
    post(client, world, update("3EB0A1", "READ"))
    c = contact("3EB0A1")
    assert (c.delivery_status, c.delivered, c.read) == ("read", 1, 1) and c.read_at is not None


def test_reordered_and_duplicated_receipts_never_move_backwards_and_count_once(client: Any, world: World) -> None:
    sent(world, "3EB0B1", "3EB0B2")
    for status in ("READ", "DELIVERY_ACK", "READ", "SERVER_ACK", "PLAYED", "DELIVERY_ACK"):
        assert post(client, world, update("3EB0B1", status)).status_code == 200
    c = contact("3EB0B1")
    assert (c.delivery_status, c.delivered, c.read) == ("read", 1, 1)
    assert c.delivered_at is not None and c.read_at is not None
    post(client, world, update("3EB0B2", "DELIVERY_ACK"))
    post(client, world, update("3EB0B2", "DELIVERY_ACK"))
    assert (contact("3EB0B2").delivery_status, contact("3EB0B2").delivered, contact("3EB0B2").read) == (
        "delivered",
        2,
        1,
    )


def test_a_retried_receipt_is_answered_as_a_duplicate(client: Any, world: World) -> None:
    sent(world, "3EB0C1")
    assert post(client, world, update("3EB0C1", "DELIVERY_ACK")).get_json()["status"] == "processed"
    assert post(client, world, update("3EB0C1", "DELIVERY_ACK")).get_json()["status"] == "duplicate"


def test_the_nested_key_id_and_numeric_status_of_other_versions_are_understood(client: Any, world: World) -> None:
    sent(world, "3EB0D1")
    body = envelope("messages.update", {"key": {"id": "3EB0D1", "fromMe": True}, "status": 4, "fromMe": True})
    assert post(client, world, body).get_json()["status"] == "processed"
    assert contact("3EB0D1").delivery_status == "read"


def test_the_chat_history_row_follows_the_receipt(client: Any, world: World) -> None:
    queue = sent(world, "3EB0E1")
    [cid] = rows("SELECT id FROM billing_contacts WHERE queue_id = :q", q=queue)
    with unit_of_work() as uow:
        conv = uuid.uuid4()
        uow.session.execute(
            sa.text(
                "INSERT INTO conversations (id, tenant_id, instance_id, phone, is_open) VALUES (:id, :t, :i, :p, false)"
            ),
            {"id": conv, "t": world.tenant_id, "i": world.instance_id, "p": PHONE},
        )
        uow.session.execute(
            sa.text(
                "INSERT INTO messages (id, tenant_id, conversation_id, contact_id, direction, body, "
                "provider_message_id, status) VALUES (:id, :t, :c, :k, 'out', 'Olá', '3EB0E1', 'sent')"
            ),
            {"id": uuid.uuid4(), "t": world.tenant_id, "c": conv, "k": cid[0]},
        )
        uow.commit()
    post(client, world, update("3EB0E1", "DELIVERY_ACK"))
    assert rows("SELECT status FROM messages") == [("delivered",)]


def test_a_receipt_that_overtook_the_sender_is_applied_once_the_message_id_is_stored(client: Any, world: World) -> None:
    queue = sent(world, "PLACEHOLDER")
    post(client, world, update("3EB0F1", "DELIVERY_ACK"))  # the sender has not stored the id yet
    with unit_of_work() as uow:
        uow.session.execute(
            sa.text("UPDATE billing_contacts SET provider_message_id = '3EB0F1' WHERE queue_id = :q"), {"q": queue}
        )
        outcome = catch_up_receipts(world.tenant_id, "3EB0F1", session=uow.session, now=datetime.now(UTC))
        uow.commit()
    assert outcome.advanced
    c = contact("3EB0F1")
    assert (c.delivery_status, c.delivered, c.read) == ("delivered", 1, 0)


def test_a_receipt_for_a_message_we_did_not_send_changes_nothing(client: Any, world: World) -> None:
    sent(world, "3EB0G1")
    assert post(client, world, update("3EB0FFFF", "READ")).status_code == 200
    assert contact("3EB0G1").delivery_status is None


def test_another_tenants_instance_cannot_touch_our_contacts(client: Any, world: World) -> None:
    sent(world, "3EB0H1")
    other = make_world("other")
    post(client, other, update("3EB0H1", "READ"))
    assert contact("3EB0H1").delivery_status is None


def test_receipts_racing_for_many_contacts_still_count_each_once(client: Any, world: World) -> None:
    keys = [f"3EB0R{i:03d}" for i in range(12)]
    sent(world, *keys)
    bodies = [update(k, s) for k in keys for s in ("SERVER_ACK", "DELIVERY_ACK", "READ", "READ")]
    codes: list[int] = []
    # One app per thread, built here: compiling its URL rules in four threads at once trips a CPython
    # 3.11 race in ast.parse ("AST constructor recursion depth mismatch"), which is not what is tested.
    clients = [webhook_client() for _ in range(4)]

    def worker(local: Any, chunk: list[dict[str, Any]]) -> None:
        for body in chunk:
            codes.append(post(local, world, body).status_code)

    threads = [threading.Thread(target=worker, args=(clients[i], bodies[i::4])) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * len(bodies)  # every body answered: a thread that died would leave some out
    [queue] = rows("SELECT delivered, read FROM billing_queues")
    assert tuple(queue) == (12, 12)


def test_one_event_costs_a_constant_number_of_statements(client: Any, world: World) -> None:
    sent(world, *(f"3EB0Q{i}" for i in range(50)))
    with recorded_statements(get_engine()) as statements:
        post(client, world, update("3EB0Q1", "READ"))
        receipt = len(statements)
        statements.clear()
        post(client, world, upsert("PARAR"))
        reply = len(statements)
    assert receipt <= 7 and reply <= 12


# --- connection --------------------------------------------------------------------------------------


def test_close_marks_the_instance_down_at_once(client: Any, world: World) -> None:
    assert post(client, world, connection("close", 401)).get_json()["status"] == "processed"
    [(state, checked)] = rows("SELECT health_state, health_checked_at FROM whatsapp_instances")
    assert state == "close" and checked is not None


def test_open_marks_the_instance_up_and_asks_for_recovery(client: Any, world: World, broker: InMemoryBroker) -> None:
    post(client, world, connection("close", 401))
    post(client, world, connection("open"))
    assert rows("SELECT health_state FROM whatsapp_instances") == [("open",)]
    [token] = broker.tokens(queue_names().check_recovery)
    assert token.kind == "check_recovery" and token.instance_id == str(world.instance_id)


def test_open_with_the_broker_down_still_answers_200(client: Any, world: World, broker: InMemoryBroker) -> None:
    broker.down = True
    assert post(client, world, connection("open")).status_code == 200
    assert rows("SELECT health_state FROM whatsapp_instances") == [("open",)]


def test_connecting_changes_nothing(client: Any, world: World) -> None:
    assert post(client, world, connection("connecting")).get_json()["status"] == "ignored"
    assert rows("SELECT health_state FROM whatsapp_instances") == [("unknown",)]


# --- authentication, shapes, other events ------------------------------------------------------------


def _nothing_stored() -> bool:
    return all(
        rows(f"SELECT count(*) FROM {t}")[0][0] == 0
        for t in ("webhook_receipts", "messages", "conversations", "suppressions")
    ) and rows("SELECT health_state FROM whatsapp_instances") == [("unknown",)]


@pytest.mark.parametrize("case", ["missing", "wrong", "unknown-id", "not-a-uuid", "no-secret-configured"])
def test_a_bad_secret_or_instance_is_401_and_stores_nothing(client: Any, world: World, case: str) -> None:
    path, secret = world.path, world.secret
    if case == "missing":
        secret = ""
    elif case == "wrong":
        secret = world.secret + "x"
    elif case == "unknown-id":
        path = f"/api/v1/billing/webhook/evolution/{uuid.uuid4()}"
    elif case == "not-a-uuid":
        path = "/api/v1/billing/webhook/evolution/loja-centro"
    else:
        with unit_of_work() as uow:
            uow.session.execute(sa.text("UPDATE whatsapp_instances SET webhook_secret_hash = NULL"))
            uow.commit()
    for body in (upsert("PARAR"), connection("close", 401), b"not json"):
        answer = post(client, world, body, secret=secret, path=path)
        assert answer.status_code == 401
        assert answer.headers["Content-Type"] == "application/problem+json"
    assert _nothing_stored()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"",
        b"[]",
        b'"messages.upsert"',
        b'{"data": {}}',
        b'{"event": "messages.upsert", "data": null}',
        b'{"event": "messages.upsert", "data": {"key": {"remoteJid": "5511988887777@s.whatsapp.net"}}}',
        b'{"event": "messages.update", "data": {"remoteJid": "x", "status": "READ"}}',
        b'{"event": "messages.update", "data": {"keyId": "", "status": "READ"}}',
        b'{"event": "messages.update", "data": {"keyId": "3EB0\\u0000", "status": "READ"}}',
        b'{"event": "connection.update", "data": {"state": 5}}',
        b"\xff\xfe\x00garbage",
    ],
)
def test_a_malformed_body_is_400_and_stores_nothing(client: Any, world: World, body: bytes) -> None:
    answer = post(client, world, body)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert _nothing_stored()


@pytest.mark.parametrize("event", ["send.message", "qrcode.updated", "contacts.upsert", "LOGOUT_INSTANCE", "x"])
def test_other_events_are_200_and_ignored(client: Any, world: World, event: str) -> None:
    data = {"key": {"remoteJid": PHONE, "fromMe": True, "id": "3EB0S"}, "status": "PENDING"}
    answer = post(client, world, envelope(event, data))
    assert answer.status_code == 200 and answer.get_json()["status"] == "ignored"
    assert _nothing_stored()


def test_the_by_events_url_suffix_is_accepted(client: Any, world: World) -> None:
    answer = post(client, world, connection("close", 401), path=world.path + "/connection-update")
    assert answer.status_code == 200
    assert rows("SELECT health_state FROM whatsapp_instances") == [("close",)]


def test_only_post_is_allowed(client: Any, world: World) -> None:
    assert client.get(world.path).status_code == 405
    assert client.get("/healthz").status_code == 200


def test_instance_update_rotates_the_secret(client: Any, world: World) -> None:
    with unit_of_work() as uow:
        tenant = admin.resolve_tenant("acme", session=uow.session)
        inst = admin.resolve_instance(tenant, "loja-centro", session=uow.session)
        admin.update_instance(inst, session=uow.session, secret_key="x" * 32, webhook_secret="rotated-" + "r" * 32)
        uow.commit()
    assert post(client, world, connection("close", 401)).status_code == 401
    assert post(client, world, connection("close", 401), secret="rotated-" + "r" * 32).status_code == 200


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_is_413_and_stores_nothing(
    client: Any, world: World, monkeypatch: pytest.MonkeyPatch, chunked: bool
) -> None:
    import io

    from billing.config import reset_settings_cache

    monkeypatch.setenv("BILLING_MAX_BODY_BYTES", "2048")
    reset_settings_cache()
    stream = io.BytesIO(b" " * 100_000)
    headers = {"Content-Type": "application/json", SECRET_HEADER: world.secret}
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = "100000"
    answer = client.post(
        world.path, input_stream=stream, headers=headers, environ_overrides={"wsgi.input_terminated": chunked}
    )
    assert answer.status_code == 413 and answer.headers["Content-Type"] == "application/problem+json"
    assert _nothing_stored()


@pytest.mark.parametrize("case", ["wrong-secret", "unknown-instance"])
def test_a_stranger_is_refused_before_a_byte_of_the_body_is_read(world: World, case: str) -> None:
    from billing.errors import AuthenticationError
    from billing.services.inbound.webhook import handle_webhook

    def body() -> bytes:
        raise AssertionError("the body was read before the secret was checked")

    ref = str(uuid.uuid4()) if case == "unknown-instance" else str(world.instance_id)
    with pytest.raises(AuthenticationError):
        handle_webhook(instance_ref=ref, secret=world.secret + "x", body=body)
    assert _nothing_stored()
