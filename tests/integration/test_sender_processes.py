"""Sender acceptance with real processes (issue 6, items 2, 6, 7): functions-framework subprocesses
running the sender function, real Postgres and RabbitMQ, the simulator over HTTP.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pika
import pytest
from billing.adapters.broker import Token, queue_names
from billing.config import get_settings
from billing.services import admin
from billing.services.delivery.deps import SenderDeps
from billing.services.tenants import forget_tenant
from billing.sim.server import SimulatorHandle
from billing.testing import InMemoryBroker
from support.delivery import deliver as deliver_queue
from support.factories import World, contacts_of, make_queue, make_world, queue_row

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_FRAMEWORK = ROOT / ".venv" / "bin" / "functions-framework"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SenderProcess:
    """``functions-framework --target sender`` in its own session (so SIGKILL takes the whole tree)."""

    def __init__(self, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                str(FUNCTIONS_FRAMEWORK),
                "--source",
                "functions/sender/main.py",
                "--target",
                "sender",
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            env={**os.environ, "BILLING_LOG_LEVEL": "WARNING", "WORKERS": "1", **env},
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("sender process did not start")

    def post(self, token: Token, results: list[Any]) -> threading.Thread:
        def call() -> None:
            try:
                response = httpx.post(
                    self.url, content=token.to_bytes(), headers={"content-type": "application/json"}, timeout=60
                )
                results.append(response.status_code)
            except httpx.HTTPError as exc:
                results.append(exc)

        thread = threading.Thread(target=call, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def world(db: Any, sim: SimulatorHandle, broker_prefix: str) -> World:
    w = make_world(db, gateway_url=sim.base_url)
    w.register(sim.client)
    return w


def token_for(queue_id: uuid.UUID) -> Token:
    return Token(kind="queue", queue_id=str(queue_id), reason="created")


def wait_for(condition: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def finish_in_process(queue_id: uuid.UUID) -> str:
    """One in-process sender invocation (it serves every due slot); the queue's status afterwards."""
    broker = InMemoryBroker()
    deps = SenderDeps(
        settings=get_settings().model_copy(update={"pacing_disabled": True}),
        publisher=lambda: broker,
        stop_requested=lambda: False,
    )
    return deliver_queue(queue_id, deps=deps).status


def settle_stale_claims(lease_s: float) -> Any:
    """One sweeper tick (its stale step releases claims) with a short claim timeout."""
    from billing.services.sweep.sweeper import run_tick

    settings = get_settings().model_copy(update={"lease_s": lease_s})
    return run_tick(settings=settings, publisher=InMemoryBroker())


def test_two_sender_processes_share_the_instance_pace_and_never_send_a_contact_twice(
    db: Any, sim: SimulatorHandle, world: World
) -> None:
    tenant = admin.resolve_tenant(world.tenant_name, session=db)
    admin.set_config(tenant, session=db, throttle_per_minute=60, jitter_s=0)
    db.commit()
    forget_tenant()
    queues = [make_queue(db, world, 3, first_phone=1), make_queue(db, world, 3, first_phone=100)]
    senders = [SenderProcess(), SenderProcess()]
    try:
        results: list[Any] = []
        # Every process gets a token for every queue at once: leases decide who works on what.
        threads = [s.post(token_for(q), results) for q in queues for s in senders]
        for thread in threads:
            thread.join(60)
    finally:
        for sender in senders:
            sender.stop()
    assert results == [200, 200, 200, 200]
    received = sim.client.messages(world.instance_name)
    assert len(received) == 6 and len({m["number"] for m in received}) == 6
    times = sorted(m["received_wall"] for m in received)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1.0 - 0.15, gaps  # 60/min on the instance, across both processes and queues
    for queue_id in queues:
        assert queue_row(db, queue_id).status == "completed"


def test_a_sender_killed_mid_queue_is_finished_by_the_next_token_without_duplicates(
    db: Any, sim: SimulatorHandle, world: World
) -> None:
    queue_id = make_queue(db, world, 30)
    sim.client.set_latency(150)
    sender = SenderProcess(BILLING_LEASE_S="2", BILLING_PACING_DISABLED="true")
    results: list[Any] = []
    try:
        sender.post(token_for(queue_id), results)
        wait_for(lambda: len(sim.client.messages()) >= 5)
        time.sleep(0.07)  # mid-call: a send is in flight
    finally:
        sender.stop()  # SIGKILL to the whole process tree
    sim.client.set_latency(0)
    killed_at = len(sim.client.messages())
    # No lease to wait for: the next invocation carries on at once; only the call in flight is left.
    finish_in_process(queue_id)
    in_flight = [c for c in contacts_of(db, queue_id) if c.status == "sending"]
    assert len(in_flight) <= 1, "more than the one call in flight was left claimed"

    time.sleep(2.2)  # the dead worker's claim outlives BILLING_LEASE_S
    summary = settle_stale_claims(2.0)
    assert summary.unknown_contacts == len(in_flight)
    assert queue_row(db, queue_id).status == "completed"
    assert killed_at >= 5
    received = [m["number"] for m in sim.client.messages()]
    assert len(received) == len(set(received)), "a contact was sent twice"
    statuses = [c.status for c in contacts_of(db, queue_id)]
    assert statuses.count("unknown") <= 1 and statuses.count("sent") + statuses.count("unknown") == 30
    assert statuses.count("sent") <= len(received) <= 30
    queue = queue_row(db, queue_id)
    assert (queue.status, queue.sent, queue.unknown) == ("completed", statuses.count("sent"), statuses.count("unknown"))


def test_sigterm_finishes_the_message_in_flight_publishes_a_wake_token_and_answers_2xx(
    db: Any, sim: SimulatorHandle, world: World, broker_prefix: str
) -> None:
    queue_id = make_queue(db, world, 30)
    sim.client.set_latency(150)
    sender = SenderProcess(BILLING_PACING_DISABLED="true")
    results: list[Any] = []
    try:
        thread = sender.post(token_for(queue_id), results)
        wait_for(lambda: len(sim.client.messages()) >= 5)
        os.kill(sender.proc.pid, signal.SIGTERM)
        thread.join(10)
        sender.proc.wait(15)
    finally:
        sender.stop()
    assert results == [200]
    sim.client.set_latency(0)
    sent_before = len(sim.client.messages())
    assert sent_before < 30
    queue = queue_row(db, queue_id)
    assert (queue.status, queue.sent) == ("running", sent_before)  # nothing held: no lease, no sending
    assert all(c.status in ("sent", "pending") for c in contacts_of(db, queue_id))

    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        method, _, body = connection.channel().basic_get(queue_names(broker_prefix).resume, auto_ack=True)
    finally:
        connection.close()
    assert method is not None, "no continuation published"
    token = Token.from_bytes(body)
    assert (token.kind, token.reason) == ("queue", "continuation:shutdown")

    assert finish_in_process(queue_id) == "completed"
    received = [m["number"] for m in sim.client.messages()]
    assert len(received) == 30 == len(set(received))
