"""The guard's single statement: who gets counted, and when, against which limit.

Driven through the status route (the cheapest guarded route); send and control share the guard.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from support.ops_factories import STATUS, client
from support.send_factories import TenantSetup, headers, make_tenant
from support.sql import recorded_statements
from support.windows import same_window


@pytest.fixture
def status() -> Any:
    return client("status")


def key_hits(key_name: str, counter: str = "read") -> int:
    """Hits counted against the API key called ``key_name`` in every window, on its ``read`` (status and
    other reads) or ``key`` (send, control) counter."""
    from billing.db.engine import get_engine

    with get_engine().connect() as conn:
        key_id = conn.execute(sa.text("SELECT id FROM api_keys WHERE name = :n"), {"n": key_name}).scalar_one()
        query = sa.text("SELECT COALESCE(sum(hits), 0) FROM rate_limit_buckets WHERE key LIKE :k")
        hits = conn.execute(query, {"k": f"{counter}:{key_id}:%"}).scalar_one()
    return int(hits)


def fenced_key(tenant: TenantSetup, name: str, *, ips: list[str], rate_limit: int) -> str:
    from billing.db.engine import unit_of_work
    from billing.services import admin

    with unit_of_work() as uow:
        owner = admin.resolve_tenant(tenant.name, session=uow.session)
        _, key = admin.create_api_key(owner, session=uow.session, name=name, ips=ips, rate_limit=rate_limit)
        uow.commit()
    return key


def test_a_key_limited_to_some_addresses_is_counted_when_used_from_one(
    database_url: str, broker: Any, status: Any
) -> None:
    from billing.db.engine import get_engine

    acme = make_tenant("acme", api_read_rate_limit_per_minute=2)  # status is a read: the read budget applies
    key = fenced_key(acme, "fenced", ips=["127.0.0.0/8"], rate_limit=1000)  # the test client calls from 127.0.0.1
    same_window()
    with recorded_statements(get_engine(autocommit=True)) as statements:
        answers = [status.get(STATUS.format(uuid.uuid4()), headers=headers(key)) for _ in range(3)]
    # Unknown queue ids: the key is good, so the first two are 404 and the third is over the key's limit.
    assert [a.status_code for a in answers] == [404, 404, 429]
    assert "API key" in answers[2].get_json()["detail"]
    assert key_hits("fenced") == 3
    # Per request: the guard's statement, the fenced key's own count, then the queue read (none on the
    # 429), and once the refresh of last_used_at.
    touches = sum("last_used_at =" in s for s in statements)
    assert touches == 1 and len(statements) == 3 + 3 + 2 + touches


def test_a_key_used_from_an_address_outside_its_list_is_403_and_not_counted(
    database_url: str, broker: Any, status: Any
) -> None:
    acme = make_tenant("acme")
    key = fenced_key(acme, "fenced", ips=["10.0.0.0/8"], rate_limit=5)
    answer = status.get(STATUS.format(uuid.uuid4()), headers=headers(key))
    assert answer.status_code == 403 and "address" in answer.get_json()["detail"]
    assert key_hits("fenced") == 0


def test_refused_keys_count_against_the_address_and_never_against_the_key(
    database_url: str, broker: Any, status: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.config import reset_settings_cache

    monkeypatch.setenv("BILLING_IP_RATE_LIMIT_PER_MINUTE", "3")
    reset_settings_cache()
    acme = make_tenant("acme")
    wrong_secret = acme.key[:-1] + ("A" if acme.key[-1] != "A" else "B")  # the right prefix, a wrong key
    same_window()
    refused = [
        status.get(STATUS.format(uuid.uuid4()), headers=headers(presented)).status_code
        for presented in (wrong_secret, "bk_nosuchky_" + "x" * 43)
    ]
    assert refused == [401, 401]
    assert key_hits("erp") == 0
    assert status.get(STATUS.format(uuid.uuid4()), headers=headers(acme.key)).status_code == 404  # 3rd hit
    over = status.get(STATUS.format(uuid.uuid4()), headers=headers(acme.key))
    assert over.status_code == 429 and "client address" in over.get_json()["detail"]
    assert key_hits("erp") == 2
    # Over its limit, the address is refused before any key it presents is judged.
    still_guessing = status.get(STATUS.format(uuid.uuid4()), headers=headers(wrong_secret))
    assert still_guessing.status_code == 429 and int(still_guessing.headers["Retry-After"]) >= 1
    reset_settings_cache()


def test_refused_requests_count_on_routes_that_run_in_a_transaction(
    database_url: str, broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """send rolls its transaction back on an error; the guard's counts must stand all the same."""
    from billing.config import reset_settings_cache
    from support.send_factories import SEND, batch, send_client

    monkeypatch.setenv("BILLING_IP_RATE_LIMIT_PER_MINUTE", "2")
    reset_settings_cache()
    acme = make_tenant("acme")
    send = send_client()
    same_window()
    answers = [send.post(SEND.format("overdue"), json=batch(1), headers=headers("bk_nosuchky_" + "x" * 43))
               for _ in range(3)]  # fmt: skip
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert send.post(SEND.format("overdue"), json=batch(1), headers=headers(acme.key)).status_code == 429
    reset_settings_cache()


def test_a_client_cannot_write_its_way_into_an_address_allow_list(
    database_url: str, broker: Any, status: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.config import reset_settings_cache

    monkeypatch.setenv("BILLING_TRUSTED_PROXIES", "127.0.0.0/8")  # the test client stands for the proxy
    reset_settings_cache()
    acme = make_tenant("acme")
    key = fenced_key(acme, "fenced", ips=["10.0.0.0/8"], rate_limit=5)
    url = STATUS.format(uuid.uuid4())
    # The proxy appended the real client (198.51.100.7) after what the client wrote itself (10.1.1.1).
    forged = status.get(url, headers={**headers(key), "X-Forwarded-For": "10.1.1.1, 198.51.100.7"})
    assert forged.status_code == 403 and "address" in forged.get_json()["detail"]
    allowed = status.get(url, headers={**headers(key), "X-Forwarded-For": "6.6.6.6, 10.1.1.1"})
    assert allowed.status_code == 404  # the proxy saw 10.1.1.1: the key is good, the queue unknown
    long = status.get(url, headers={**headers(key), "X-Forwarded-For": "2001:db8::1, " * 3000})
    assert long.status_code == 403  # a long header is an address outside the list, not a 500


def test_a_read_only_key_follows_queues_but_neither_sends_nor_controls(
    database_url: str, broker: Any, status: Any
) -> None:
    from billing.db.engine import unit_of_work
    from billing.services import admin
    from support.ops_factories import CONTROL, client, create_queue, queue_row
    from support.send_factories import batch

    acme = make_tenant("acme")
    queue_id = create_queue(client("send"), acme.key, 1)
    with unit_of_work() as uow:
        owner = admin.resolve_tenant("acme", session=uow.session)
        _, viewer = admin.create_api_key(owner, session=uow.session, name="painel", read_only=True)
        uow.commit()
    assert status.get(STATUS.format(queue_id), headers=headers(viewer)).status_code == 200
    sent = client("send").post("/api/v1/billing/send/overdue", json=batch(1), headers=headers(viewer))
    assert sent.status_code == 403 and "read-only" in sent.get_json()["detail"]
    paused = client("control").post(CONTROL.format(queue_id), json={"action": "pause"}, headers=headers(viewer))
    assert paused.status_code == 403 and queue_row(queue_id)["status"] == "pending"


def test_a_key_expires_at_the_end_of_its_last_day_in_the_tenants_zone(database_url: str) -> None:
    from datetime import date

    from billing.db.engine import unit_of_work
    from billing.services import admin

    make_tenant("acme")  # America/Sao_Paulo, UTC-3
    with unit_of_work() as uow:
        owner = admin.resolve_tenant("acme", session=uow.session)
        new_year = datetime(2099, 1, 1, tzinfo=UTC)
        key, _ = admin.create_api_key(
            owner, session=uow.session, name="ate-natal", expires=date(2099, 12, 25), now=new_year
        )
        uow.commit()
    assert key.expires_at == datetime(2099, 12, 26, 3, 0, tzinfo=UTC)  # midnight after the 25th in São Paulo
