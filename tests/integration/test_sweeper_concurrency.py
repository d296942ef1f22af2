"""Two sweepers at once never publish the same queue twice in one tick (issue 7, acceptance 4), and the
sweeper function answers every trigger form."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from support.ops_factories import client, create_queue, set_contacts, set_queue
from support.send_factories import make_tenant
from support.sweep_support import RABBITMQ_URL, purge_all, sender_tokens

PER_KIND = 15


@pytest.fixture
def needy_queues(database_url: str, broker_prefix: str) -> Iterator[set[str]]:
    """PER_KIND queues each: stale (dead worker), never published, scheduled and due, parked and due.
    The stale ones need no token of their own (their contact is settled, dispatch is woken once); the
    fixture yields the queues that each need exactly one."""
    from billing.adapters.broker import reset_publisher, set_publisher
    from billing.testing import InMemoryBroker

    set_publisher(InMemoryBroker())
    tenant = make_tenant("acme")
    send = client("send")
    past = datetime.now(UTC) - timedelta(minutes=5)
    queues: set[str] = set()
    for i in range(PER_KIND * 4):
        queue_id = create_queue(send, tenant.key, 2, kind="notification")
        kind = i % 4
        if kind == 0:
            set_contacts(queue_id, [0], status="sending", claimed_by="dead", updated_at=past)
            set_queue(queue_id, status="running", started_at=past)
            continue
        elif kind == 1:
            set_queue(queue_id, published_at=None, created_at=past, updated_at=past)
        elif kind == 2:
            set_queue(queue_id, status="scheduled", scheduled_for=past)
        else:
            set_queue(queue_id, status="paused_business_hours", resume_at=past, started_at=past)
        queues.add(queue_id)
    set_publisher(None)
    purge_all()
    yield queues
    reset_publisher()


def test_two_sweepers_started_at_once_publish_each_queue_exactly_once(
    needy_queues: set[str], broker_prefix: str
) -> None:
    from billing.adapters.broker import PikaPublisher
    from billing.services.sweep.sweeper import SweepSummary, run_tick

    barrier = threading.Barrier(2)
    summaries: list[SweepSummary] = []
    failures: list[BaseException] = []

    def sweep() -> None:
        publisher = PikaPublisher(RABBITMQ_URL, prefix=broker_prefix)
        try:
            barrier.wait()
            summaries.append(run_tick(publisher=publisher))
        except BaseException as exc:  # surfaced below
            failures.append(exc)
        finally:
            publisher.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    tokens = sender_tokens()
    published = Counter(t.queue_id for t in tokens if t.queue_id is not None)
    assert set(published) == needy_queues
    assert any(t.queue_id is None and t.reason == "slot_due" for t in tokens)  # dispatch woken
    assert max(published.values()) == 1, [q for q, n in published.items() if n > 1]
    assert sum(s.published for s in summaries) == len(needy_queues)
    assert sum(s.unknown_contacts for s in summaries) == PER_KIND


def test_a_second_tick_finds_nothing_left_to_publish(needy_queues: set[str]) -> None:
    from billing.services.sweep.sweeper import run_tick

    assert run_tick().published == len(needy_queues)
    again = run_tick()
    assert (again.published, again.stale_released, again.unknown_contacts) == (0, 0, 0)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"", {}),  # cron-connector: an empty POST is a tick
        (b"{}", {"Content-Type": "application/json"}),
        (
            b'{"specversion": "1.0", "id": "p1", "source": "/ping", "type": "dev.knative.sources.ping", "data": {}}',
            {"Content-Type": "application/cloudevents+json"},
        ),
        (b'{"kind": "check_recovery", "instance_id": "not-a-uuid"}', {"Content-Type": "application/json"}),
        (
            b'{"kind": "check_recovery", "instance_id": "00000000-0000-0000-0000-000000000000"}',
            {
                "ce-specversion": "1.0",
                "ce-id": "x",
                "ce-source": "s",
                "ce-type": "t",
                "Content-Type": "application/json",
            },
        ),
    ],
)
def test_the_sweeper_function_handles_ticks_and_check_tokens(
    needy_queues: set[str], body: bytes, headers: dict[str, str]
) -> None:
    response = client("sweeper").post("/", data=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "handled"


def test_the_sweeper_function_refuses_malformed_tokens_and_defers_without_a_database(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.config import reset_settings_cache
    from billing.db.engine import dispose_engine

    sweeper = client("sweeper")
    assert sweeper.get("/healthz").status_code == 200
    assert sweeper.post("/", data=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    dispose_engine()
    reset_settings_cache()
    response = sweeper.post("/", data=b"")
    assert response.status_code == 503 and response.headers["Retry-After"]
    dispose_engine()
