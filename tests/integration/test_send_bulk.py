"""Bulk behaviour of the send function: constant statements per request and one queue under a race."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from billing.adapters.broker import reset_publisher
from support.send_factories import SEND, batch, headers, make_tenant, send_client
from support.sql import recorded_statements


@pytest.fixture
def env(database_url: str, broker_prefix: str) -> Iterator[Any]:
    reset_publisher()
    yield make_tenant()
    reset_publisher()


@pytest.fixture
def live_url(env: Any) -> Iterator[str]:
    """The send function behind a real threaded HTTP server."""
    from functions_framework import create_app
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, create_app(target="send", source="functions/send/main.py"), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def scalar(sql: str, **params: Any) -> Any:
    from billing.db.engine import unit_of_work

    with unit_of_work() as uow:
        return uow.session.execute(sa.text(sql), params).scalar_one()


def test_ten_and_a_thousand_contacts_cost_the_same_number_of_statements(env: Any) -> None:
    from billing.db.engine import get_engine

    client = send_client()
    assert client.post(SEND.format("overdue"), json=batch(1), headers=headers(env.key)).status_code == 202  # warm
    counts = []
    with recorded_statements(get_engine()) as statements:
        for n in (10, 1000):
            statements.clear()
            answer = client.post(SEND.format("overdue"), json=batch(n, external_id=f"n{n}"), headers=headers(env.key))
            assert answer.status_code == 202 and answer.get_json()["accepted"] == n
            counts.append(len(statements))
    assert counts == [8, 8], counts  # docs/send.md lists them
    assert scalar("SELECT count(*) FROM billing_contacts") == 1 + 10 + 1000


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_identical_requests_create_one_queue(env: Any, live_url: str, round_: int) -> None:
    body = batch(200, external_id=f"race-{round_}")
    barrier = threading.Barrier(4)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def fire() -> None:
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            response = client.post(live_url + SEND.format("overdue"), json=body, headers=headers(env.key))
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 200, 200, 202], [a.text for a in answers]
    assert len({a.content for a in answers}) == 1
    assert scalar("SELECT count(*) FROM billing_queues") == 1
    assert scalar("SELECT count(*) FROM billing_contacts") == 200
