"""RabbitMQ helpers for tests: delete everything a queue prefix declared."""

from __future__ import annotations

import os

RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def delete_topology(prefix: str) -> None:
    """Delete the work queues, dead-letter queues and exchange of ``prefix`` (missing ones are fine)."""
    import pika
    from billing.adapters.topology import queue_names

    try:
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    except pika.exceptions.AMQPError:
        return
    try:
        channel = connection.channel()
        names = queue_names(prefix)
        for queue in names.work:
            channel.queue_delete(queue)
            channel.queue_delete(names.dead_letter(queue))
        channel.exchange_delete(names.dead_letter_exchange)
    finally:
        if connection.is_open:
            connection.close()
