"""Event stream latency: from a change's commit to an SSE client, through the events server.

    .venv/bin/python bench/events.py [--events 400] [--interval-ms 20] [--json]

Creates a fresh migrated database (dropped afterwards), starts the events server as production runs it
(gunicorn, threads, ``billing.http.events_app:create_app()``), opens one Server-Sent Events stream for
the tenant, then commits ``--events`` queue status changes one at a time (each a ``queue.paused`` or
``queue.resumed`` event written by the trigger) and stamps the instant each commit returned. The stream
delivers events in commit order, so the n-th event received belongs to the n-th commit; latency is its
arrival time minus its commit time (trigger NOTIFY -> the server's listener numbers it -> the stream
reads and writes it). Target: p99 <= 500 ms. ``--json`` prints one object with ``events``,
``stream_p50_ms``, ``stream_p99_ms`` and ``stream_max_ms``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("BILLING_SECRET_KEY", "bench-secret-key-0123456789abcdef")
os.environ.setdefault("BILLING_LOG_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import httpx
from _support import free_port, scratch_database, started

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


def measure(url: str, events: int, interval_s: float) -> dict[str, Any]:
    import sqlalchemy as sa
    from billing.config import reset_settings_cache
    from billing.db.engine import dispose_engine, get_engine, unit_of_work
    from support.factories import make_queue, make_world

    os.environ["DATABASE_URL"] = url
    reset_settings_cache()
    with unit_of_work() as uow:
        world = make_world(uow.session, rate_limit=10**6)
        queue_id = make_queue(uow.session, world, 1, status="running")
    port = free_port()
    server = start_server(url, port)
    arrivals: list[float] = []
    opened = threading.Event()
    reader = threading.Thread(
        target=read_stream,
        args=(f"http://127.0.0.1:{port}/api/v1/billing/events", world.key, arrivals, opened, events),
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
        dispose_engine()
    if len(arrivals) != events:
        raise RuntimeError(f"the stream delivered {len(arrivals)} of {events} events")
    latencies = sorted((a - c) * 1000 for a, c in zip(arrivals, commits, strict=True))
    return {
        "events": events,
        "stream_p50_ms": round(statistics.median(latencies), 1),
        "stream_p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        "stream_max_ms": round(latencies[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with scratch_database() as url:
        figures = measure(url, args.events, args.interval_ms / 1000)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"event stream, one SSE client, {figures['events']} commits {args.interval_ms:g} ms apart")
    print("| measure | value |")
    print("|---|---|")
    for key in ("stream_p50_ms", "stream_p99_ms", "stream_max_ms"):
        print(f"| {key} | {figures[key]} |")


if __name__ == "__main__":
    main()
