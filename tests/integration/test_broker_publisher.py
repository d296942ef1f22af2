from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pika.exceptions
import pytest
from billing.adapters.broker import REDELIVERIES_HEADER, PikaPublisher, Token, queue_names
from billing.adapters.topology import declare_topology, declare_topology_async, work_queue_arguments
from billing.errors import BrokerUnavailableError
from support.rabbit import delete_topology

RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


@pytest.fixture
def prefix() -> Iterator[str]:
    """A queue prefix unique to this test; its queues and exchange are deleted afterwards."""
    value = f"tpub{uuid.uuid4().hex[:10]}"
    yield value
    delete_topology(value)


@pytest.fixture
def channel() -> Iterator[Any]:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    yield connection.channel()
    if connection.is_open:
        connection.close()


def get_one(channel: Any, queue: str, timeout: float = 5.0) -> tuple[Any, Any, bytes]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is not None:
            return method, properties, body
        time.sleep(0.05)
    raise AssertionError(f"nothing arrived on {queue} within {timeout}s")


def test_the_topology_can_be_declared_twice_with_the_same_arguments(prefix: str, channel: Any) -> None:
    declare_topology(channel, prefix)
    names = declare_topology(channel, prefix)
    for queue in names.work:
        assert channel.queue_declare(queue, passive=True).method.message_count == 0
        assert channel.queue_declare(names.dead_letter(queue), passive=True).method.message_count == 0
        # Re-declaring with exactly these arguments is accepted only if the queue has them.
        channel.queue_declare(queue, durable=True, arguments=work_queue_arguments(queue, names))


def test_the_declared_queues_refuse_a_different_priority_ceiling(prefix: str, channel: Any) -> None:
    names = declare_topology(channel, prefix)
    arguments = {**work_queue_arguments(names.overdue, names), "x-max-priority": 5}
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
        channel.queue_declare(names.overdue, durable=True, arguments=arguments)
    assert caught.value.reply_code == 406


def test_pika_and_aio_pika_declare_the_same_topology(prefix: str, channel: Any) -> None:
    import aio_pika

    async def declare_async() -> None:
        connection = await aio_pika.connect_robust(RABBITMQ_URL)
        async with connection:
            await declare_topology_async(await connection.channel(), prefix)
            await declare_topology_async(await connection.channel(), prefix)

    asyncio.run(declare_async())
    declare_topology(channel, prefix)  # would fail with PRECONDITION_FAILED if the arguments differed


def test_a_published_token_is_persistent_prioritised_and_on_its_queue(prefix: str, channel: Any) -> None:
    publisher = PikaPublisher(RABBITMQ_URL, prefix=prefix)
    names = queue_names(prefix)
    token = Token(kind="queue", queue_id="q-1", tenant_id="t-1")
    try:
        publisher.publish(names.overdue, token, priority=10)
    finally:
        publisher.close()
    _method, properties, body = get_one(channel, names.overdue)
    assert Token.from_bytes(body) == token
    assert properties.priority == 10
    assert properties.delivery_mode == 2
    assert properties.message_id == token.id
    assert properties.content_type == "application/json"
    assert channel.queue_declare(names.upcoming, passive=True).method.message_count == 0


def test_the_publisher_reuses_its_connection_across_publishes(prefix: str, channel: Any) -> None:
    publisher = PikaPublisher(RABBITMQ_URL, prefix=prefix)
    names = queue_names(prefix)
    try:
        publisher.publish(names.resume, Token(kind="queue", reason="continuation"))
        first_connection = publisher._connection
        publisher.publish(names.resume, Token(kind="queue", reason="continuation"))
        assert publisher._connection is first_connection
    finally:
        publisher.close()
    assert channel.queue_declare(names.resume, passive=True).method.message_count == 2


def test_the_publisher_reconnects_after_its_connection_was_closed(prefix: str, channel: Any) -> None:
    publisher = PikaPublisher(RABBITMQ_URL, prefix=prefix)
    names = queue_names(prefix)
    try:
        publisher.publish(names.notification, Token(kind="queue"), priority=1)
        publisher._connection.close()
        publisher.publish(names.notification, Token(kind="queue"), priority=1)
    finally:
        publisher.close()
    assert channel.queue_declare(names.notification, passive=True).method.message_count == 2


def test_a_publish_to_an_undeclared_queue_is_not_confirmed(prefix: str) -> None:
    publisher = PikaPublisher(RABBITMQ_URL, prefix=prefix)
    try:
        with pytest.raises(BrokerUnavailableError):
            publisher.publish(f"{prefix}.no_such_queue", Token(kind="queue"))
    finally:
        publisher.close()


def test_a_publisher_pointed_at_a_closed_port_fails_within_three_seconds() -> None:
    publisher = PikaPublisher("amqp://guest:guest@127.0.0.1:1/%2F")
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError):
        publisher.publish("billing.overdue", Token(kind="queue"))
    assert time.monotonic() - started < 3


def test_a_rejected_token_lands_in_its_dead_letter_queue(prefix: str, channel: Any) -> None:
    names = declare_topology(channel, prefix)
    token = Token(kind="check_recovery", reason="instance_down")
    channel.basic_publish(
        "", names.check_recovery, token.to_bytes(), pika.BasicProperties(headers={REDELIVERIES_HEADER: 3})
    )
    method, _properties, _body = None, None, b""
    deadline = time.monotonic() + 5
    while method is None and time.monotonic() < deadline:
        method, _properties, _body = channel.basic_get(names.check_recovery)
    assert method is not None
    channel.basic_reject(method.delivery_tag, requeue=False)
    _method, properties, body = get_one(channel, names.dead_letter(names.check_recovery))
    assert Token.from_bytes(body) == token
    assert properties.headers[REDELIVERIES_HEADER] == 3


def test_the_publisher_replaces_a_connection_that_died_while_idle(prefix: str, channel: Any) -> None:
    import socket

    publisher = PikaPublisher(RABBITMQ_URL, prefix=prefix)
    names = queue_names(prefix)
    try:
        publisher.publish(names.overdue, Token(kind="queue"), priority=10)
        # Kill the TCP stream under pika, as a broker restart or idle timeout would.
        publisher._connection._impl._transport._sock.shutdown(socket.SHUT_RDWR)
        publisher.publish(names.overdue, Token(kind="queue"), priority=10)
    finally:
        publisher.close()
    assert channel.queue_declare(names.overdue, passive=True).method.message_count == 2


def test_a_broker_that_never_confirms_is_given_up_on_within_the_publish_timeout(prefix: str) -> None:
    from support.rabbit import FreezingProxy

    proxy = FreezingProxy()
    publisher = PikaPublisher(proxy.url, prefix=prefix, publish_timeout_s=1.5)
    try:
        publisher.publish(queue_names(prefix).overdue, Token(kind="queue", queue_id="warm"))
        proxy.frozen.set()
        started = time.monotonic()
        with pytest.raises(BrokerUnavailableError, match="did not confirm"):
            publisher.publish(queue_names(prefix).overdue, Token(kind="queue", queue_id="stalled"))
        assert time.monotonic() - started < 3  # measured before: 70 s, then an exception no one caught
    finally:
        proxy.close()
