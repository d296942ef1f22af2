"""ERP webhooks (issue 17, item 2): a tenant's events posted to its endpoints as Standard Webhooks, one at a
time in event-id order, retried on the schedule, disabled on 410 or after days of failures, replayable,
and never another tenant's. The ERP is a real HTTP server; signatures are checked with ``standardwebhooks``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from billing.adapters.broker import queue_names
from billing.cli import main
from billing.config import Settings, get_settings
from billing.db.engine import get_engine, unit_of_work
from billing.domain.webhooks import PostResult
from billing.services.events.log import EventQuery, read, sequence_pending
from billing.services.webhooks_out import endpoints
from billing.services.webhooks_out.deliverer import DeliverySummary, deliver_due
from billing.testing import FakeClock, FakeWebhookPoster, InMemoryBroker
from standardwebhooks import Webhook
from support.factories import World, make_queue, make_world
from test_sender_processes import finish_in_process

QUICK_RETRIES = "0,0.2"  # the schedule's second step is what a failed attempt waits


class Received:
    """One request the ERP got."""

    def __init__(self, headers: dict[str, str], body: bytes, status: int) -> None:
        self.headers, self.body, self.status = headers, body, status

    @property
    def event_id(self) -> int:
        return int(self.headers["webhook-id"].removeprefix("evt_"))


class Erp:
    """An ERP's webhook receiver on 127.0.0.1: answers each POST with the next scripted status (then 200),
    records every request, and counts the requests it is handling at once."""

    def __init__(self, *script: int, delay_s: float = 0.0) -> None:
        self.script = list(script)
        self.delay_s = delay_s
        self.received: list[Received] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        erp = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                with erp._lock:
                    erp.in_flight += 1
                    erp.most_in_flight = max(erp.most_in_flight, erp.in_flight)
                    status = erp.script.pop(0) if erp.script else 200
                time.sleep(erp.delay_s)
                with erp._lock:
                    erp.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body, status))
                    erp.in_flight -= 1
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/billing"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def acknowledged(self) -> list[int]:
        return [r.event_id for r in self.received if 200 <= r.status < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def erp() -> Iterator[Erp]:
    server = Erp()
    yield server
    server.close()


@pytest.fixture
def world(db: Any, sim: Any, broker_prefix: str) -> World:
    w = make_world(db, gateway_url=sim.base_url)
    w.register(sim.client)
    return w


def quick(**changes: Any) -> Settings:
    return get_settings().model_copy(update={"webhook_retry_schedule": QUICK_RETRIES, **changes})


def add_endpoint(world: World, url: str, *, events: str | None = None) -> tuple[uuid.UUID, str]:
    with unit_of_work() as uow:
        added = endpoints.add_endpoint(
            world.tenant_name, uow=uow, url=url, events=events, secret=None, settings=get_settings()
        )
    return uuid.UUID(added["id"]), str(added["secret"])


def tenant_events(tenant_id: uuid.UUID, *, after: int = 0) -> list[Any]:
    sequence_pending(get_engine())
    with get_engine().connect() as conn:
        return read(EventQuery(tenant_id=tenant_id, after=after), conn=conn, limit=10_000)


def endpoint_row(endpoint_id: uuid.UUID) -> Any:
    with get_engine().connect() as conn:
        return conn.execute(sa.text("SELECT * FROM billing_endpoints WHERE id = :id"), {"id": endpoint_id}).one()


def deliver(settings: Settings | None = None, **options: Any) -> DeliverySummary:
    return deliver_due(
        settings=settings or get_settings(), publisher=options.pop("publisher", InMemoryBroker()), **options
    )


def deliver_until(done: Any, *, settings: Settings, rounds: int = 50) -> None:
    """Run the deliverer until ``done()``, waiting out the (shortened) retry delays between runs."""
    for _ in range(rounds):
        deliver(settings)
        if done():
            return
        time.sleep(0.25)
    raise AssertionError("the deliverer did not catch up")


def verify(secret: str, received: Received) -> Any:
    return Webhook(secret).verify(received.body, received.headers)


def test_every_event_of_a_completed_100_contact_queue_reaches_the_erp_once_in_order_and_signed(
    db: Any, world: World, erp: Erp
) -> None:
    endpoint_id, secret = add_endpoint(world, erp.url)
    queue_id = make_queue(db, world, 100)
    assert finish_in_process(queue_id) == "completed"
    summary = deliver()
    events = tenant_events(world.tenant_id)
    assert [e.type for e in events].count("contact.sent") == 100
    assert (summary.delivered, summary.failed) == (len(events), 0)
    assert erp.acknowledged() == [e.id for e in events]  # each once, in event-id order
    for received, event in zip(erp.received, events, strict=True):
        body = verify(secret, received)
        assert body == {"type": event.type, "timestamp": body["timestamp"], "data": event.data}
        assert received.headers["webhook-id"] == f"evt_{event.id}"
        assert received.headers["content-type"] == "application/json"
        assert abs(int(received.headers["webhook-timestamp"]) - time.time()) < 60
    assert body["type"] == "queue.completed" and body["data"]["queue_id"] == str(queue_id)
    assert endpoint_row(endpoint_id).last_event_id == events[-1].id
    assert deliver().delivered == 0 and len(erp.received) == len(events)  # caught up: nothing posted twice


def test_an_erp_answering_500_for_a_while_gets_every_event_later_none_lost_or_duplicated(db: Any, world: World) -> None:
    erp = Erp(500, 500, 502)
    try:
        endpoint_id, secret = add_endpoint(world, erp.url)
        assert finish_in_process(make_queue(db, world, 5)) == "completed"
        events = tenant_events(world.tenant_id)
        first = deliver(quick())
        assert (first.delivered, first.failed) == (0, 1)
        row = endpoint_row(endpoint_id)
        assert row.attempts == 1 and row.failing_since is not None and row.next_attempt_at is not None
        assert row.last_event_id < events[0].id
        deliver_until(lambda: len(erp.acknowledged()) == len(events), settings=quick())
    finally:
        erp.close()
    assert erp.acknowledged() == [e.id for e in events]
    # The failed attempts were the first event's, each with the same webhook-id; all verify.
    assert [r.event_id for r in erp.received[:4]] == [events[0].id] * 4
    assert [r.status for r in erp.received[:4]] == [500, 500, 502, 200]
    assert all(verify(secret, r) for r in erp.received)
    row = endpoint_row(endpoint_id)
    assert (row.attempts, row.failing_since, row.next_attempt_at) == (0, None, None)
    shown = endpoints.show_endpoint(world.tenant_name, str(endpoint_id), session=db)
    first_event = [d for d in shown["recent_deliveries"] if d["event_id"] == events[0].id]
    assert [(d["attempt"], d["outcome"], d["status_code"]) for d in reversed(first_event)] == [
        (1, "failed", 500), (2, "failed", 500), (3, "failed", 502), (4, "delivered", 200),
    ]  # fmt: skip


def test_a_410_disables_the_endpoint_says_so_in_an_event_and_nothing_more_is_posted(
    db: Any, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    erp = Erp(410)
    try:
        endpoint_id, _ = add_endpoint(world, erp.url)
        assert finish_in_process(make_queue(db, world, 2)) == "completed"
        assert deliver().disabled == 1
        assert deliver().endpoints == 0 and len(erp.received) == 1
    finally:
        erp.close()
    row = endpoint_row(endpoint_id)
    assert not row.enabled and "410" in row.disabled_reason and row.disabled_at is not None
    [disabled] = [e for e in tenant_events(world.tenant_id) if e.type == "endpoint.disabled"]
    assert disabled.data["endpoint_id"] == str(endpoint_id) and "410" in disabled.data["reason"]
    [line] = [r for r in caplog.records if getattr(r, "action", None) == "endpoint.disabled"]
    assert line.levelname == "WARNING" and erp.url not in line.getMessage()


def test_an_endpoint_failing_for_five_days_is_disabled_and_retry_after_can_only_delay(db: Any, world: World) -> None:
    endpoint_id, _ = add_endpoint(world, "https://erp.example.com/hooks")
    assert finish_in_process(make_queue(db, world, 1)) == "completed"
    asked = 120.0
    before = datetime.now(UTC)
    deliver(poster=FakeWebhookPoster(PostResult(503, retry_after_s=asked)))  # 429 would also wait a step more
    row = endpoint_row(endpoint_id)
    # The schedule's second step is 5 s (+-10 %); the ERP's Retry-After asked for longer.
    assert timedelta(seconds=asked - 1) <= row.next_attempt_at - before <= timedelta(seconds=asked + 5)
    db.execute(
        sa.text("UPDATE billing_endpoints SET next_attempt_at = NULL, failing_since = :since WHERE id = :id"),
        {"id": endpoint_id, "since": datetime.now(UTC) - timedelta(days=5)},
    )
    db.commit()
    assert deliver(poster=FakeWebhookPoster(503)).disabled == 1
    row = endpoint_row(endpoint_id)
    assert not row.enabled and row.disabled_reason.startswith("failing since") and row.attempts == 2


def test_a_replay_sends_a_range_again_with_the_same_ids_and_never_moves_forward(
    db: Any, world: World, erp: Erp
) -> None:
    endpoint_id, secret = add_endpoint(world, erp.url)
    assert finish_in_process(make_queue(db, world, 4)) == "completed"
    deliver()
    events = tenant_events(world.tenant_id)
    assert erp.acknowledged() == [e.id for e in events]
    with unit_of_work() as uow:
        replayed = endpoints.replay(
            world.tenant_name, str(endpoint_id), since=events[2].id, uow=uow, publisher=(broker := InMemoryBroker())
        )
    assert replayed["last_event_id"] == events[2].id - 1
    assert [t.reason for t in broker.tokens(queue_names().events)] == ["operator"]  # the deliverer is woken
    deliver()
    assert erp.acknowledged() == [e.id for e in events] + [e.id for e in events[2:]]
    assert all(verify(secret, r) for r in erp.received)
    with unit_of_work() as uow, pytest.raises(Exception, match="moves the cursor back"):
        endpoints.replay(world.tenant_name, str(endpoint_id), since=events[-1].id + 2, uow=uow, publisher=broker)


def test_an_endpoint_never_sees_another_tenants_events_and_filters_choose_the_types(
    db: Any, world: World, sim: Any
) -> None:
    other = make_world(
        db, gateway_url=sim.base_url, name="globex", instance_name="globex-sp", gateway_token="instance-token-2"
    )
    other.register(sim.client)
    mine, theirs, failures_only = Erp(), Erp(), Erp()
    try:
        add_endpoint(world, mine.url)
        add_endpoint(other, theirs.url)
        add_endpoint(world, failures_only.url, events="queue.completed,contact.failed")
        my_queue = make_queue(db, world, 3)
        their_queue = make_queue(db, other, 3, first_phone=50)
        assert finish_in_process(my_queue) == "completed" and finish_in_process(their_queue) == "completed"
        deliver()
    finally:
        for server in (mine, theirs, failures_only):
            server.close()
    my_events, their_events = tenant_events(world.tenant_id), tenant_events(other.tenant_id)
    assert mine.acknowledged() == [e.id for e in my_events]
    assert theirs.acknowledged() == [e.id for e in their_events]
    # Queue and contact events name their queue; the instance's first check ("instance.up") names its own.
    for erp, queue, instance in ((mine, my_queue, world.instance_id), (theirs, their_queue, other.instance_id)):
        bodies = [json.loads(r.body) for r in erp.received]
        assert {b["data"]["queue_id"] for b in bodies if not b["type"].startswith("instance.")} == {str(queue)}
        assert {b["data"]["instance_id"] for b in bodies if b["type"].startswith("instance.")} <= {str(instance)}
    assert [json.loads(r.body)["type"] for r in failures_only.received] == ["queue.completed"]


def test_two_deliverers_at_once_never_post_to_one_endpoint_together(db: Any, world: World) -> None:
    erp = Erp(delay_s=0.02)
    try:
        add_endpoint(world, erp.url)
        assert finish_in_process(make_queue(db, world, 20)) == "completed"
        runs = [threading.Thread(target=deliver) for _ in range(2)]
        for run in runs:
            run.start()
        for run in runs:
            run.join(60)
        deliver()
    finally:
        erp.close()
    assert erp.most_in_flight == 1
    assert erp.acknowledged() == [e.id for e in tenant_events(world.tenant_id)]


def test_the_sweeper_wakes_the_deliverer_only_when_an_endpoint_is_due(db: Any, world: World, erp: Erp) -> None:
    from billing.services.sweep.sweeper import run_tick

    add_endpoint(world, erp.url)
    broker = InMemoryBroker()
    assert not run_tick(publisher=broker).deliverer_woken
    assert finish_in_process(make_queue(db, world, 1)) == "completed"
    summary = run_tick(publisher=broker)
    assert summary.deliverer_woken and "webhooks" in summary.steps
    [token] = broker.tokens(queue_names().events)
    assert (token.kind, token.reason) == ("events", "sweeper.due")
    # The deliverer function, woken by that token, posts them; then nothing is due.
    from support.ops_factories import client

    answer = client("deliverer").post("/", data=token.to_bytes(), content_type="application/json")
    assert answer.status_code == 200 and len(erp.acknowledged()) == len(tenant_events(world.tenant_id))
    assert not run_tick(publisher=InMemoryBroker()).deliverer_woken


def test_a_deliverer_out_of_time_hands_on_and_the_next_one_carries_on_in_order(db: Any, world: World) -> None:
    clock = FakeClock(datetime.now(UTC))

    class SlowErp(FakeWebhookPoster):
        def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> PostResult:
            clock.advance(20)
            return super().post(url, body=body, headers=headers)

    add_endpoint(world, "https://erp.example.com/hooks")
    assert finish_in_process(make_queue(db, world, 3)) == "completed"
    erp, broker = SlowErp(), InMemoryBroker()
    first = deliver(poster=erp, publisher=broker, clock=clock)  # 50 s of budget: three posts
    assert (first.delivered, first.out_of_time, first.handed_on) == (3, True, True)
    assert [t.reason for t in broker.tokens(queue_names().events)] == ["continuation"]
    deliver(poster=erp, clock=clock)
    ids = [int(p.headers["webhook-id"].removeprefix("evt_")) for p in erp.posted]
    assert ids == [e.id for e in tenant_events(world.tenant_id)]


def test_an_endpoint_that_cannot_be_served_waits_for_its_lease_instead_of_spinning(
    db: Any, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint_id, _ = add_endpoint(world, "https://erp.example.com/hooks")
    db.execute(sa.text("UPDATE billing_endpoints SET secret_encrypted = 'not-fernet'"))
    db.commit()
    assert finish_in_process(make_queue(db, world, 1)) == "completed"
    started = time.monotonic()
    summary = deliver(poster=(erp := FakeWebhookPoster()))
    assert summary.endpoints == 1 and erp.posted == [] and time.monotonic() - started < 5
    assert [getattr(r, "action", None) for r in caplog.records].count("deliverer.error") == 1
    assert endpoint_row(endpoint_id).lease_until > datetime.now(UTC)


def test_the_sweeper_keeps_only_the_latest_deliveries_of_each_endpoint(db: Any, world: World) -> None:
    from billing.db.endpoints import purge_deliveries

    endpoint_id, _ = add_endpoint(world, "https://erp.example.com/hooks")
    assert finish_in_process(make_queue(db, world, 6)) == "completed"
    deliver(poster=FakeWebhookPoster())
    with get_engine().begin() as conn:
        assert purge_deliveries(conn, keep=3) == len(tenant_events(world.tenant_id)) - 3
        kept = conn.execute(
            sa.text("SELECT event_id FROM billing_endpoint_deliveries WHERE endpoint_id = :id ORDER BY id"),
            {"id": endpoint_id},
        ).scalars()
        assert list(kept) == [e.id for e in tenant_events(world.tenant_id)[-3:]]


# --------------------------------------------------------------------------------------------- the CLI
def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, out, err


def test_the_endpoint_commands(db: Any, world: World, erp: Erp, capsys: pytest.CaptureFixture[str]) -> None:
    tenant = world.tenant_name
    code, added, _ = run(capsys, "endpoint", "add", "--tenant", tenant, "--url", erp.url, "--events", "queue.*")
    assert code == 0 and added["events"] == ["queue.*"] and added["enabled"] is True
    secret = added["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24
    stored = db.execute(sa.text("SELECT secret_encrypted FROM billing_endpoints")).scalar_one()
    assert secret not in stored and secret.removeprefix("whsec_") not in stored
    endpoint_id = added["id"]
    ident = ["--tenant", tenant, "--id", endpoint_id]

    code, table, _ = run(capsys, "endpoint", "list", "--tenant", tenant)
    assert code == 0 and table.splitlines()[0].split()[:3] == ["id", "url", "events"] and endpoint_id in table
    code, listed, _ = run(capsys, "endpoint", "list", "--tenant", tenant, "--json")
    assert [e["id"] for e in listed] == [endpoint_id]
    assert finish_in_process(make_queue(db, world, 2)) == "completed"
    deliver()
    code, shown, _ = run(capsys, "endpoint", "show", *ident)
    delivered = [d["event_id"] for d in shown["recent_deliveries"]]
    assert code == 0 and delivered == sorted(erp.acknowledged(), reverse=True) and len(delivered) == 2  # started, done
    assert secret not in json.dumps([listed, shown])

    code, disabled, _ = run(capsys, "endpoint", "disable", *ident)
    assert code == 0 and not disabled["enabled"] and disabled["disabled_reason"] == "disabled by an operator"
    code, replayed, _ = run(capsys, "endpoint", "replay", *ident, "--since", str(delivered[-1]))
    assert code == 0 and replayed["last_event_id"] == delivered[-1] - 1
    assert deliver().endpoints == 0  # disabled: nothing posted
    code, enabled, _ = run(capsys, "endpoint", "enable", *ident)
    assert code == 0 and enabled["enabled"] and enabled["disabled_reason"] is None
    deliver()
    assert erp.acknowledged() == sorted(delivered) * 2

    code, removed, _ = run(capsys, "endpoint", "remove", *ident)
    assert code == 0 and removed["removed"] == endpoint_id
    assert run(capsys, "endpoint", "list", "--tenant", tenant, "--json")[1] == []


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["add", "--url", "http://erp.example.com/hooks"], "https"),
        (["add", "--url", "https://erp.example.com/hooks", "--events", "queue.finished"], "unknown event type"),
        (["add", "--url", "https://erp.example.com/hooks", "--secret", "whsec_c2hvcnQ="], "24 to 64 bytes"),
        (["add", "--url", "https://erp.example.com/hooks", "--secret", "not-a-secret"], "starts with whsec_"),
        (["show", "--id", str(uuid.uuid4())], "not found"),
        (["replay", "--id", "nope", "--since", "1"], "not found"),
    ],
)
def test_endpoint_commands_refuse_bad_input_with_exit_2_and_write_nothing(
    world: World, capsys: pytest.CaptureFixture[str], argv: list[str], complaint: str
) -> None:
    code, _, err = run(capsys, "endpoint", argv[0], "--tenant", world.tenant_name, *argv[1:])
    assert code == 2 and complaint in err
    assert "whsec_c2hvcnQ" not in err
    with get_engine().connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM billing_endpoints")).scalar_one() == 0


def test_another_tenants_endpoint_is_not_found(
    db: Any, world: World, sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    other = make_world(db, gateway_url=sim.base_url, name="globex", gateway_token="instance-token-2")
    endpoint_id, _ = add_endpoint(other, "https://erp.example.com/hooks")
    for command in ("show", "disable", "remove"):
        code, _, err = run(capsys, "endpoint", command, "--tenant", world.tenant_name, "--id", str(endpoint_id))
        assert code == 2 and "not found" in err
    assert endpoint_row(endpoint_id).enabled
