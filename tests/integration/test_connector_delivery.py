from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pika
import pytest
from billing.adapters.broker import REDELIVERIES_HEADER, PikaPublisher, Token, queue_names
from billing.adapters.connector import Connector
from support.rabbit import delete_topology

RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
MAX_REDELIVERIES = 2

TARGET_SOURCE = """
import json, os
import functions_framework

LOG = {log!r}
STATUS = {status}


@functions_framework.http
def target(request):
    if request.method == "GET":
        return "ready", 200
    with open(LOG, "a") as f:
        f.write(json.dumps({{"headers": {{k.lower(): v for k, v in request.headers.items()}},
                            "body": request.get_data(as_text=True)}}) + "\\n")
    return ("handled" if STATUS < 300 else "try again"), STATUS
"""


@pytest.fixture
def prefix() -> Iterator[str]:
    """A queue prefix unique to this test; its queues and exchange are deleted afterwards."""
    value = f"tcon{uuid.uuid4().hex[:10]}"
    yield value
    delete_topology(value)


@pytest.fixture
def publisher(prefix: str) -> Iterator[PikaPublisher]:
    publisher = PikaPublisher(RABBITMQ_URL, prefix=prefix)
    yield publisher
    publisher.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_function(tmp_path: Path, *, status: int) -> tuple[str, Path, subprocess.Popen[bytes]]:
    """Run a functions-framework target that logs each request and answers ``status``."""
    log = tmp_path / f"requests-{status}.jsonl"
    source = tmp_path / f"target_{status}.py"
    source.write_text(textwrap.dedent(TARGET_SOURCE.format(log=str(log), status=status)))
    port = free_port()
    executable = Path(sys.executable).parent / "functions-framework"
    process = subprocess.Popen(
        [str(executable), "--source", str(source), "--target", "target", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return url, log, process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("functions-framework did not start")


@pytest.fixture
def functions(tmp_path: Path) -> Iterator[Callable[[int], tuple[str, Path]]]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(status: int) -> tuple[str, Path]:
        url, log, process = start_function(tmp_path, status=status)
        processes.append(process)
        return url, log

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def requests_logged(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def queue_depth(queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def take_dead_letters(queue: str) -> list[tuple[Token, dict[str, Any]]]:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    taken: list[tuple[Token, dict[str, Any]]] = []
    try:
        channel = connection.channel()
        while True:
            method, properties, body = channel.basic_get(queue + ".dlq", auto_ack=True)
            if method is None:
                return taken
            taken.append((Token.from_bytes(body), dict(properties.headers or {})))
    finally:
        connection.close()


async def eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def run_with_connector(connector: Connector, scenario: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        await connector.start()
        try:
            await scenario()
        finally:
            await connector.stop()

    asyncio.run(main())


def make_connector(prefix: str, *, sender: Any = None, sweeper: Any = None) -> Connector:
    return Connector(
        sender_target=sender,
        sweeper_target=sweeper,
        url=RABBITMQ_URL,
        prefix=prefix,
        max_redeliveries=MAX_REDELIVERIES,
        retry_backoff_s=0.05,
    )


def test_the_connector_posts_a_binary_cloudevent_to_a_function_and_acks(
    prefix: str, publisher: PikaPublisher, functions: Callable[[int], tuple[str, Path]]
) -> None:
    url, log = functions(200)
    names = queue_names(prefix)
    token = Token(kind="queue", queue_id="q-7", reason="created")
    connector = make_connector(prefix, sender=url)

    async def scenario() -> None:
        publisher.publish(names.overdue, token, priority=10)
        await eventually(lambda: len(requests_logged(log)) == 1)
        await eventually(lambda: connector.in_flight == 0)

    run_with_connector(connector, scenario)
    [request] = requests_logged(log)
    assert Token.from_bytes(request["body"].encode()) == token
    assert request["headers"]["ce-specversion"] == "1.0"
    assert request["headers"]["ce-id"] == token.id
    assert request["headers"]["ce-type"] == "billing.token.queue"
    assert request["headers"]["ce-source"] == "billing/connector"
    assert request["headers"]["content-type"] == "application/json"
    assert queue_depth(names.overdue) == 0
    assert take_dead_letters(names.overdue) == []


def test_a_token_a_function_always_fails_is_dead_lettered_after_the_redeliveries(
    prefix: str, publisher: PikaPublisher, functions: Callable[[int], tuple[str, Path]]
) -> None:
    url, log = functions(500)
    names = queue_names(prefix)
    token = Token(kind="queue", queue_id="q-8", reason="resume")
    connector = make_connector(prefix, sender=url)

    async def scenario() -> None:
        publisher.publish(names.resume, token)
        await eventually(lambda: len(requests_logged(log)) == MAX_REDELIVERIES + 1)
        await eventually(lambda: connector.in_flight == 0)

    run_with_connector(connector, scenario)
    assert len(requests_logged(log)) == MAX_REDELIVERIES + 1
    [(dead, headers)] = take_dead_letters(names.resume)
    assert dead == token
    assert headers[REDELIVERIES_HEADER] == MAX_REDELIVERIES
    assert queue_depth(names.resume) == 0


def test_an_async_in_process_target_receives_the_token(prefix: str, publisher: PikaPublisher) -> None:
    names = queue_names(prefix)
    received: list[Token] = []

    async def sender(token: Token) -> bool:
        received.append(token)
        return True

    token = Token(kind="queue", queue_id="q-1")
    connector = make_connector(prefix, sender=sender)

    async def scenario() -> None:
        publisher.publish(names.upcoming, token, priority=5)
        await eventually(lambda: len(received) == 1)
        await eventually(lambda: connector.in_flight == 0)

    run_with_connector(connector, scenario)
    assert received == [token]
    assert queue_depth(names.upcoming) == 0


def test_a_sync_target_that_declines_twice_gets_the_token_a_third_time(prefix: str, publisher: PikaPublisher) -> None:
    names = queue_names(prefix)
    attempts: list[str] = []

    def sender(token: Token) -> bool:
        attempts.append(token.id)
        return len(attempts) > 2

    token = Token(kind="queue", queue_id="q-2")
    connector = make_connector(prefix, sender=sender)

    async def scenario() -> None:
        publisher.publish(names.notification, token, priority=1)
        await eventually(lambda: len(attempts) == 3)
        await eventually(lambda: connector.in_flight == 0)

    run_with_connector(connector, scenario)
    assert attempts == [token.id] * 3
    assert take_dead_letters(names.notification) == []
    assert queue_depth(names.notification) == 0


def test_check_tokens_go_to_the_sweeper_target_and_crashes_dead_letter(prefix: str, publisher: PikaPublisher) -> None:
    names = queue_names(prefix)
    sweeper_calls: list[str] = []

    def sweeper(token: Token) -> bool:
        sweeper_calls.append(token.kind)
        raise RuntimeError("sweeper crashed")

    token = Token(kind="check_recovery", instance_id="i-1", reason="recovery")
    connector = make_connector(prefix, sender=lambda t: True, sweeper=sweeper)

    async def scenario() -> None:
        publisher.publish(names.check_recovery, token)
        await eventually(lambda: len(sweeper_calls) == MAX_REDELIVERIES + 1)
        await eventually(lambda: connector.in_flight == 0)

    run_with_connector(connector, scenario)
    assert sweeper_calls == ["check_recovery"] * (MAX_REDELIVERIES + 1)
    assert [dead for dead, _ in take_dead_letters(names.check_recovery)] == [token]


def test_a_message_that_is_not_a_token_is_dead_lettered_at_once(prefix: str, publisher: PikaPublisher) -> None:
    names = queue_names(prefix)
    calls: list[Token] = []

    def sender(token: Token) -> bool:
        calls.append(token)
        return True

    connector = make_connector(prefix, sender=sender)

    async def scenario() -> None:
        publisher.publish(names.overdue, Token(kind="queue"))  # declares the topology
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
        connection.channel().basic_publish("", names.overdue, b"garbage")
        connection.close()
        await eventually(lambda: queue_depth(names.dead_letter(names.overdue)) == 1)

    run_with_connector(connector, scenario)
    assert len(calls) == 1


def test_a_connector_process_exits_cleanly_on_sigterm(prefix: str, publisher: PikaPublisher) -> None:
    names = queue_names(prefix)
    publisher.publish(names.overdue, Token(kind="queue"))  # declares the topology before consuming
    code = (
        "from billing.adapters.connector import run_connector; "
        f"run_connector(sender_target='http://127.0.0.1:{free_port()}/', sweeper_target=None, url={RABBITMQ_URL!r})"
    )
    env = {**os.environ, "BILLING_BROKER_QUEUE_PREFIX": prefix, "BILLING_BROKER_MAX_REDELIVERIES": "100"}
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE)
    try:
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
        channel = connection.channel()
        deadline = time.monotonic() + 15
        while channel.queue_declare(names.resume, passive=True).method.consumer_count == 0:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "connector never started consuming"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert channel.queue_declare(names.resume, passive=True).method.consumer_count == 0
        # The token it could not deliver is back on a queue, not lost.
        assert queue_depth(names.overdue) == 1
        connection.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_connector_running_in_a_dev_server_thread_stops_on_request(prefix: str, publisher: PikaPublisher) -> None:
    import threading

    names = queue_names(prefix)
    received: list[Token] = []
    done = threading.Event()

    def sender(token: Token) -> bool:
        received.append(token)
        done.set()
        return True

    connector = make_connector(prefix, sender=sender)
    thread = threading.Thread(target=lambda: asyncio.run(connector.run()), daemon=True)
    thread.start()
    publisher.publish(names.overdue, Token(kind="queue"), priority=10)
    assert done.wait(timeout=15)
    connector.request_stop()
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert len(received) == 1


def test_the_probe_server_reports_readiness_and_counts_deliveries(prefix: str, publisher: PikaPublisher) -> None:
    import httpx
    from billing.adapters.probe_server import start_probe_server

    names = queue_names(prefix)
    connector = make_connector(prefix, sender=lambda token: True)
    server = start_probe_server(0, healthy=connector.is_consuming, host="127.0.0.1")
    base = f"http://127.0.0.1:{server.server_port}"
    readiness: list[int] = [httpx.get(f"{base}/healthz").status_code]  # not consuming yet

    async def scenario() -> None:
        readiness.append(httpx.get(f"{base}/healthz").status_code)
        publisher.publish(names.notification, Token(kind="queue", queue_id="q-probe"), priority=1)
        await eventually(lambda: queue_depth(names.notification) == 0 and connector.in_flight == 0)

    try:
        run_with_connector(connector, scenario)
        readiness.append(httpx.get(f"{base}/healthz").status_code)  # stopped
        assert readiness == [503, 200, 503]
        assert httpx.get(f"{base}/livez").status_code == 200
        metrics = httpx.get(f"{base}/metrics").text
        assert f'billing_connector_deliveries_total{{outcome="acked",queue="{names.notification}"}} 1.0' in metrics
    finally:
        server.shutdown()


@pytest.mark.slow
@pytest.mark.serial  # every other test's broker goes away with it
@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl to restart the broker")
def test_after_a_broker_restart_the_connector_consumes_again_and_says_so(
    prefix: str, publisher: PikaPublisher
) -> None:
    """Measured before the fix: after stop_app/start_app the queue kept its token with 0 consumers
    while readiness still said ok. Now readiness drops while the broker is away, the connector
    reconnects and subscribes again by itself, and tokens published after the restart are delivered."""
    names = queue_names(prefix)
    received: list[Token] = []

    async def sender(token: Token) -> bool:
        received.append(token)
        return True

    connector = make_connector(prefix, sender=sender)

    def rabbitmqctl(*args: str) -> None:
        subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)

    async def main() -> None:
        running = asyncio.create_task(connector.run())
        try:
            await eventually(connector.is_consuming)
            publisher.publish(names.overdue, Token(kind="queue", queue_id="before"))
            await eventually(lambda: len(received) == 1)
            await asyncio.to_thread(rabbitmqctl, "stop_app")
            try:
                await eventually(lambda: not connector.is_consuming())
                assert connector.is_live()  # a short outage is no reason to restart the process
            finally:
                await asyncio.to_thread(rabbitmqctl, "start_app")
            await asyncio.to_thread(rabbitmqctl, "await_startup")
            await eventually(connector.is_consuming, timeout=60)
            publisher.publish(names.overdue, Token(kind="queue", queue_id="after"))
            await eventually(lambda: len(received) == 2, timeout=30)
        finally:
            connector.request_stop()
            await asyncio.wait_for(running, 60)

    asyncio.run(main())
    assert [t.queue_id for t in received] == ["before", "after"] and connector.reconnects >= 1


def test_liveness_fails_only_after_a_long_time_without_consuming(monkeypatch: pytest.MonkeyPatch) -> None:
    from billing.adapters import connector as module

    connector = make_connector("tnever", sender=lambda token: True)
    assert connector.is_live()  # just started: not consuming yet, but not for long
    real = time.monotonic
    monkeypatch.setattr(module.time, "monotonic", lambda: real() + module.LIVENESS_GRACE_S + 1)
    assert not connector.is_live()


def test_with_a_tick_interval_the_connector_sends_the_sweeper_its_ticks(prefix: str) -> None:
    ticks: list[Token] = []
    connector = Connector(
        sender_target=None,
        sweeper_target=lambda token: ticks.append(token) or True,
        url=RABBITMQ_URL,
        prefix=prefix,
        tick_interval_s=0.2,
    )

    async def main() -> None:
        running = asyncio.create_task(connector.run())
        try:
            await eventually(lambda: len(ticks) >= 2)
        finally:
            connector.request_stop()
            await asyncio.wait_for(running, 30)

    asyncio.run(main())
    assert all(t.kind == "tick" and t.reason == "connector.tick" for t in ticks) and connector.ticks >= 2
