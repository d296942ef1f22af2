"""GET /api/v1/billing/events over real HTTP: Server-Sent Events and a WebSocket on the same path, fed by
LISTEN/NOTIFY with the event log as the source of truth."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from support.factories import World, make_queue, make_world
from support.wsgi import serving
from test_sender_processes import finish_in_process

PATH = "/api/v1/billing/events"


@pytest.fixture
def events_url(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The events server behind a real threaded HTTP server."""
    from billing.config import reset_settings_cache
    from billing.http.events_app import create_app

    monkeypatch.setenv("BILLING_EVENTS_POLL_S", "0.3")
    monkeypatch.setenv("BILLING_EVENTS_HEARTBEAT_S", "1")
    monkeypatch.setenv("BILLING_EVENTS_STREAMS_PER_KEY", "3")
    reset_settings_cache()
    with serving(create_app()) as url:
        yield url


@pytest.fixture
def world(sim_world: World) -> World:
    """The conftest's tenant on this test's simulator, under the name these tests use."""
    return sim_world


class SseReader:
    """Reads one SSE response in a thread, collecting (id, type, data) and comments."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self.comments = 0
        self.status: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()

    def _run(self, url: str, headers: dict[str, str]) -> None:
        with (
            httpx.Client(timeout=httpx.Timeout(5.0, read=10.0)) as client,
            client.stream("GET", url, headers=headers) as r,
        ):
            self.status = r.status_code
            frame: dict[str, str] = {}
            for line in r.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith(":"):
                    self.comments += 1
                elif line == "":
                    if "data" in frame:
                        self.events.append((int(frame["id"]), frame["event"], json.loads(frame["data"])))
                    frame = {}
                else:
                    name, _, value = line.partition(": ")
                    frame[name] = value

    def wait_for(self, predicate: Any, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not predicate(self):
            time.sleep(0.05)
        assert predicate(self), f"timed out; got {[(i, t) for i, t, _ in self.events]}"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(15)


def test_an_sse_client_sees_a_queue_live_and_a_reconnect_with_its_last_id_misses_nothing(
    db: Any, world: World, events_url: str
) -> None:
    queue_id = make_queue(db, world, 20)
    headers = {"X-Billing-API-Key": world.key}
    first = SseReader(f"{events_url}{PATH}?queue_id={queue_id}&types=queue.*,contact.sent", headers)
    time.sleep(0.5)  # the stream is open before anything happens
    assert finish_in_process(queue_id) == "completed"
    first.wait_for(lambda r: any(t == "queue.completed" for _, t, _ in r.events))
    first.close()
    assert first.status == 200
    types = [t for _, t, _ in first.events]
    assert types[0] == "queue.started" and types[-1] == "queue.completed" and types.count("contact.sent") == 20
    ids = [i for i, _, _ in first.events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # A client that saw only the first five reconnects with the fifth id: it gets exactly the rest.
    again = SseReader(
        f"{events_url}{PATH}?queue_id={queue_id}&types=queue.*,contact.sent", {**headers, "Last-Event-ID": str(ids[4])}
    )
    again.wait_for(lambda r: len(r.events) >= len(ids) - 5)
    time.sleep(0.3)
    again.close()
    assert [i for i, _, _ in again.events] == ids[5:]


def test_a_websocket_client_sees_the_same_events_on_the_same_path(db: Any, world: World, events_url: str) -> None:
    from simple_websocket import Client

    queue_id = make_queue(db, world, 5)
    ws = Client.connect(
        events_url.replace("http://", "ws://") + f"{PATH}?queue_id={queue_id}",
        headers={"X-Billing-API-Key": world.key},
    )
    try:
        time.sleep(0.3)
        assert finish_in_process(queue_id) == "completed"
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(e["type"] == "queue.completed" for e in received):
            message = ws.receive(timeout=1)
            if message is not None:
                received.append(json.loads(message))
    finally:
        ws.close()
    types = [e["type"] for e in received]
    assert types[0] == "queue.started" and types[-1] == "queue.completed" and types.count("contact.sent") == 5
    assert all(e["data"]["queue_id"] == str(queue_id) and e["timestamp"].endswith("Z") for e in received)
    from billing.http.schemas import Event

    for event in received:  # what the stream sends is what OpenAPI documents
        Event.model_validate(event)


def test_an_event_whose_notification_was_dropped_is_found_in_the_log(db: Any, world: World, events_url: str) -> None:
    reader = SseReader(f"{events_url}{PATH}", {"X-Billing-API-Key": world.key})
    time.sleep(0.5)
    # Written without the trigger's NOTIFY: only the listener's poll of the log can find it.
    db.execute(
        sa.text(
            "INSERT INTO billing_events (tenant_id, type, data) VALUES (:t, 'instance.down', '{\"state\": \"close\"}')"
        ),
        {"t": world.tenant_id},
    )
    db.commit()
    reader.wait_for(lambda r: any(t == "instance.down" for _, t, _ in r.events), timeout=5)
    reader.close()


def test_the_stream_refuses_bad_input_another_tenants_queue_and_too_many_streams(
    db: Any, world: World, sim: Any, events_url: str
) -> None:
    other = make_world(db, gateway_url=sim.base_url, name="globex", gateway_token="instance-token-2")
    foreign = make_queue(db, other, 1)
    headers = {"X-Billing-API-Key": world.key}
    with httpx.Client(base_url=events_url, timeout=5) as client:
        assert client.get(PATH).status_code == 401
        for query, field in (("types=queue.nope", "types"), ("after=-3", "after"), ("queue_id=xyz", "queue_id")):
            answer = client.get(f"{PATH}?{query}", headers=headers)
            assert answer.status_code == 422, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["errors"][0]["loc"] == ["query", field]
        assert client.get(f"{PATH}?queue_id={foreign}", headers=headers).status_code == 404
        assert client.get(f"{PATH}?queue_id={uuid.uuid4()}", headers=headers).status_code == 404
    readers = [SseReader(f"{events_url}{PATH}", headers) for _ in range(3)]
    for r in readers:
        r.wait_for(lambda r: r.status == 200)
    with httpx.Client(base_url=events_url, timeout=5) as client:
        refused = client.get(PATH, headers=headers)
    assert refused.status_code == 429 and "open event streams" in refused.json()["detail"]
    for r in readers:
        r.close()


def test_a_full_events_server_answers_503_with_retry_after(
    db: Any, world: World, sim: Any, events_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.config import reset_settings_cache

    monkeypatch.setenv("BILLING_EVENTS_MAX_STREAMS", "2")
    reset_settings_cache()
    other = make_world(db, gateway_url=sim.base_url, name="globex", gateway_token="instance-token-2")
    readers = [SseReader(f"{events_url}{PATH}", {"X-Billing-API-Key": k}) for k in (world.key, other.key)]
    for r in readers:
        r.wait_for(lambda r: r.status == 200)
    with httpx.Client(base_url=events_url, timeout=5) as client:
        refused = client.get(PATH, headers={"X-Billing-API-Key": world.key})
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    assert "maximum of 2 open streams" in refused.json()["detail"]
    for r in readers:
        r.close()


def test_a_stream_sends_heartbeats_while_nothing_happens(db: Any, world: World, events_url: str) -> None:
    reader = SseReader(f"{events_url}{PATH}", {"X-Billing-API-Key": world.key})
    reader.wait_for(lambda r: r.comments >= 2, timeout=5)
    reader.close()


def test_events_the_server_numbers_wake_the_erp_webhook_deliverer_at_once(
    db: Any, world: World, events_url: str
) -> None:
    from billing.adapters.broker import queue_names, set_publisher
    from billing.testing import InMemoryBroker

    broker = InMemoryBroker()
    set_publisher(broker)  # installed after the server started: the listener publishes through it anyway
    queue_id = make_queue(db, world, 1, status="running")
    db.execute(sa.text("UPDATE billing_queues SET status = 'paused' WHERE id = :q"), {"q": queue_id})
    db.commit()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not broker.tokens(queue_names().events):
        time.sleep(0.05)
    [token] = broker.tokens(queue_names().events)
    assert token.kind == "events"


def test_a_malformed_websocket_handshake_is_a_400_and_holds_no_stream(db: Any, world: World, events_url: str) -> None:
    headers = {"X-Billing-API-Key": world.key, "Upgrade": "websocket", "Connection": "Upgrade"}
    with httpx.Client(base_url=events_url, timeout=5) as client:
        for _ in range(4):  # more than the key's 3 streams: none may be held by a refused handshake
            answer = client.get(PATH, headers=headers)
            assert answer.status_code == 400 and "Sec-WebSocket-Version" in answer.json()["detail"]
    reader = SseReader(f"{events_url}{PATH}", {"X-Billing-API-Key": world.key})
    reader.wait_for(lambda r: r.status == 200)
    reader.close()


def test_a_websocket_client_that_writes_is_disconnected(db: Any, world: World, events_url: str) -> None:
    from simple_websocket import Client, ConnectionClosed

    ws = Client.connect(events_url.replace("http://", "ws://") + PATH, headers={"X-Billing-API-Key": world.key})
    ws.send("x" * 100)
    deadline = time.monotonic() + 5
    with pytest.raises(ConnectionClosed):
        while time.monotonic() < deadline:
            ws.receive(timeout=0.5)
    assert ws.close_reason == 1008


def test_a_websocket_client_that_reconnects_after_its_last_id_misses_nothing(
    db: Any, world: World, events_url: str
) -> None:
    from simple_websocket import Client

    queue_id = make_queue(db, world, 6)
    assert finish_in_process(queue_id) == "completed"
    url = events_url.replace("http://", "ws://") + f"{PATH}?queue_id={queue_id}"
    headers = {"X-Billing-API-Key": world.key}

    def receive(ws: Any, count: int) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while len(got) < count and time.monotonic() < deadline:
            message = ws.receive(timeout=1)
            if message is not None:
                got.append(json.loads(message))
        return got

    first = Client.connect(url, headers=headers)
    everything = receive(first, 8)  # started, 6 sent, completed
    first.close()
    assert [e["type"] for e in everything][-1] == "queue.completed" and len(everything) == 8
    again = Client.connect(url + f"&after={everything[2]['id']}", headers=headers)
    rest = receive(again, 5)
    extra = again.receive(timeout=0.5)
    again.close()
    assert [e["id"] for e in rest] == [e["id"] for e in everything[3:]] and extra is None


def test_the_console_session_cookie_opens_the_stream_of_the_operators_tenant(
    db: Any, world: World, sim: Any, events_url: str
) -> None:
    """A browser's EventSource cannot send the key header: the console's live bars use the session cookie."""
    from support.console import signed_in

    other = make_world(db, gateway_url=sim.base_url, name="globex", gateway_token="instance-token-2")
    foreign = make_queue(db, other, 1)
    queue_id = make_queue(db, world, 3)
    console = signed_in("ana@acme.example", role="viewer", tenant_id=world.tenant_id)
    cookie = console.client.get_cookie("billing_console")
    assert cookie is not None
    headers = {"Cookie": f"billing_console={cookie.value}"}
    with httpx.Client(base_url=events_url, timeout=5) as client:
        assert client.get(f"{PATH}?queue_id={foreign}", headers=headers).status_code == 404
        forged = {"Cookie": f"billing_console={cookie.value[:-4]}AAAA"}
        assert client.get(PATH, headers=forged).status_code == 401
    reader = SseReader(f"{events_url}{PATH}?queue_id={queue_id}&types=queue.*,contact.sent", headers)
    time.sleep(0.5)
    assert finish_in_process(queue_id) == "completed"
    reader.wait_for(lambda r: any(t == "queue.completed" for _, t, _ in r.events))
    reader.close()
    assert reader.status == 200
    assert [t for _, t, _ in reader.events].count("contact.sent") == 3
    websocket = {
        **headers,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    with httpx.Client(base_url=events_url, timeout=5) as client:
        refused = client.get(PATH, headers=websocket)  # another site's page could open one with the cookie
    assert refused.status_code == 403
    console.post("/console/logout")  # signing out ends the stream's credential too
    with httpx.Client(base_url=events_url, timeout=5) as client:
        assert client.get(PATH, headers=headers).status_code == 401
