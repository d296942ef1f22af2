"""Event stream latency from a change's commit to an SSE client, and ERP webhook throughput to one endpoint.

    .venv/bin/python bench/events.py [--events 400] [--interval-ms 20] [--webhook-events 2000] [--json]

Creates a fresh migrated database (dropped afterwards), starts the events server as production runs it
(gunicorn, threads, ``billing.http.events_app:create_app()``), opens one Server-Sent Events stream for
the tenant, then commits ``--events`` queue status changes one at a time (each a ``queue.paused`` or
``queue.resumed`` event written by the trigger) and stamps the instant each commit returned. The stream
delivers events in commit order, so the n-th event received belongs to the n-th commit; latency is its
arrival time minus its commit time (trigger NOTIFY -> the server's listener numbers it -> the stream
reads and writes it). Target: p99 <= 500 ms.

Then, in the same database, webhooks: an ERP endpoint (``billing endpoint add``'s use case) for the
tenant, pointing at a receiver in its own process (answers 200 at once, records each arrival's time and
``webhook-id``); one UPDATE cancels the ``--webhook-events`` contacts of a new queue (the trigger writes
one ``contact.cancelled`` each), and the deliverer use case runs in process, as the ``deliverer``
function does, until the endpoint's cursor reaches the tenant's last event. ``webhook_events_per_s`` is
the events the receiver got divided by the time from the deliverer's start to the last arrival (the
numbering of the new events included). Every event must arrive exactly once, in event-id order, or the
run fails.

``--json`` prints one object with ``events``, ``stream_p50_ms``, ``stream_p99_ms``, ``stream_max_ms``,
``webhook_events`` and ``webhook_events_per_s``.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

os.environ.setdefault("BILLING_SECRET_KEY", "bench-secret-key-0123456789abcdef")
os.environ.setdefault("BILLING_LOG_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import httpx
from _support import free_port, scratch_database, serve_in_process, started

ROOT = Path(__file__).resolve().parents[1]


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": url, "BILLING_IP_RATE_LIMIT_PER_MINUTE": str(10**9)}
    command = [
        str(Path(sys.executable).parent / "gunicorn"), "--threads", "16", "--bind", f"127.0.0.1:{port}",
        "--graceful-timeout", "1", "--log-level", "warning", "billing.http.events_app:create_app()",
    ]  # fmt: skip
    server = subprocess.Popen(command, env=env, cwd=ROOT)
    return started(server, port, what="the events server")  # type: ignore[no-any-return]


def read_stream(url: str, key: str, arrivals: list[float], opened: threading.Event, expected: int) -> None:
    headers = {"X-Billing-API-Key": key}
    with httpx.Client(timeout=httpx.Timeout(5.0, read=30.0)) as client, client.stream("GET", url, headers=headers) as r:
        opened.set()
        for line in r.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.time())
                if len(arrivals) >= expected:
                    return


def measure(url: str, events: int, interval_s: float, webhook_events: int) -> dict[str, Any]:
    from billing.config import reset_settings_cache
    from billing.db.engine import dispose_engine, unit_of_work
    from support.factories import make_queue, make_world

    os.environ["DATABASE_URL"] = url
    reset_settings_cache()
    with unit_of_work() as uow:
        world = make_world(uow.session, rate_limit=10**6)
        queue_id = make_queue(uow.session, world, 1, status="running")
    try:
        figures = measure_stream(url, world.key, queue_id, events, interval_s)
        figures.update(measure_webhooks(world, webhook_events))
    finally:
        dispose_engine()
    return figures


def measure_stream(url: str, key: str, queue_id: Any, events: int, interval_s: float) -> dict[str, Any]:
    import sqlalchemy as sa
    from billing.db.engine import get_engine

    port = free_port()
    server = start_server(url, port)
    arrivals: list[float] = []
    opened = threading.Event()
    reader = threading.Thread(
        target=read_stream,
        args=(f"http://127.0.0.1:{port}/api/v1/billing/events", key, arrivals, opened, events),
        daemon=True,
    )
    try:
        reader.start()
        opened.wait(10)
        time.sleep(0.5)
        commits: list[float] = []
        engine = get_engine()
        for i in range(events):
            status = "paused" if i % 2 == 0 else "running"
            with engine.begin() as conn:
                conn.execute(
                    sa.text("UPDATE billing_queues SET status = :s WHERE id = :q"), {"s": status, "q": queue_id}
                )
            commits.append(time.time())
            time.sleep(interval_s)
        reader.join(30)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    if len(arrivals) != events:
        raise RuntimeError(f"the stream delivered {len(arrivals)} of {events} events")
    latencies = sorted((a - c) * 1000 for a, c in zip(arrivals, commits, strict=True))
    return {
        "events": events,
        "stream_p50_ms": round(statistics.median(latencies), 1),
        "stream_p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        "stream_max_ms": round(latencies[-1], 1),
    }


def serve_receiver(port: int) -> None:
    """The ERP's webhook receiver (run in its own process until killed): answers each POST 200 at once,
    keeping the connection open, and records its arrival time and ``webhook-id``; ``GET /`` answers
    what it recorded, as a JSON list of ``[time, webhook-id]``."""
    arrivals: list[tuple[float, str]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the deliverer's pooled client reuses its connection

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            arrivals.append((time.time(), self.headers["webhook-id"]))
            self.answer(b"")

        def do_GET(self) -> None:
            self.answer(json.dumps(arrivals).encode())

        def answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def measure_webhooks(world: Any, events: int) -> dict[str, Any]:
    import sqlalchemy as sa
    from billing.config import get_settings
    from billing.db import events as event_store
    from billing.db.engine import get_engine, unit_of_work
    from billing.services.events.log import EventQuery, read, sequence_pending
    from billing.services.webhooks_out.deliverer import deliver_due
    from billing.services.webhooks_out.endpoints import add_endpoint
    from billing.testing import InMemoryBroker
    from support.factories import make_queue

    engine = get_engine()
    queue_id = make_queue(None, world, events)
    sequence_pending(engine)  # the stream's events are numbered: the endpoint starts after them
    receiver, base_url = serve_in_process(serve_receiver, what="the webhook receiver")
    try:
        with unit_of_work() as uow:
            endpoint = add_endpoint(
                world.tenant_name, uow=uow, url=f"{base_url}/webhooks/billing", events=None, secret=None,
                settings=get_settings(),
            )  # fmt: skip
        with engine.begin() as conn:
            cancelled = conn.execute(
                sa.text("UPDATE billing_contacts SET status = 'cancelled' WHERE queue_id = :q AND status = 'pending'"),
                {"q": queue_id},
            ).rowcount
        if cancelled != events:
            raise RuntimeError(f"cancelled {cancelled} of {events} contacts")
        started = time.time()
        for run in range(1, 11):
            summary = deliver_due(publisher=InMemoryBroker())
            if summary.failed or summary.disabled:
                raise RuntimeError(f"the deliverer failed: {summary}")
            with engine.connect() as conn:
                cursor = conn.execute(
                    sa.text("SELECT last_event_id FROM billing_endpoints WHERE id = :id"), {"id": endpoint["id"]}
                ).scalar_one()
                latest = event_store.last_id(conn, tenant_id=world.tenant_id)
            if cursor >= latest:
                break
            if not summary.delivered:
                raise RuntimeError(f"the deliverer stopped at event {cursor} of {latest} (run {run}: {summary})")
        else:
            raise RuntimeError(f"the deliverer did not catch up in {run} runs (at event {cursor} of {latest})")
        arrivals = httpx.get(base_url + "/", timeout=10).json()
    finally:
        receiver.terminate()
        receiver.join(5)
    with engine.connect() as conn:
        written = read(
            EventQuery(tenant_id=world.tenant_id, after=endpoint["last_event_id"]), conn=conn, limit=2 * events
        )
    if len(written) != events or {e.type for e in written} != {"contact.cancelled"}:
        raise RuntimeError(f"expected {events} contact.cancelled events, the log has {len(written)}")
    check_once_in_order([int(msg_id.removeprefix("evt_")) for _, msg_id in arrivals], [e.id for e in written])
    return {"webhook_events": events, "webhook_events_per_s": round(events / (arrivals[-1][0] - started), 1)}


def check_once_in_order(received: list[int], expected: list[int]) -> None:
    """Fail unless ``received`` is ``expected``: every event once, in event-id order."""
    if received == expected:
        return
    twice = sorted(i for i, n in collections.Counter(received).items() if n > 1)
    missing = sorted(set(expected) - set(received))
    foreign = sorted(set(received) - set(expected))
    unordered = next((i for i, (a, b) in enumerate(itertools.pairwise(received)) if a >= b), None)
    raise RuntimeError(
        f"webhooks not delivered exactly once in order: {len(received)} received for {len(expected)} events;"
        f" more than once: {twice[:10]}; missing: {missing[:10]}; not written: {foreign[:10]};"
        f" first out of order at arrival {unordered}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument("--webhook-events", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with scratch_database() as url:
        figures = measure(url, args.events, args.interval_ms / 1000, args.webhook_events)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"event stream, one SSE client, {figures['events']} commits {args.interval_ms:g} ms apart;")
    print(f"ERP webhooks, {figures['webhook_events']} events to one endpoint, one deliverer in process")
    print("| measure | value |")
    print("|---|---|")
    for key in ("stream_p50_ms", "stream_p99_ms", "stream_max_ms", "webhook_events", "webhook_events_per_s"):
        print(f"| {key} | {figures[key]} |")


if __name__ == "__main__":
    main()
