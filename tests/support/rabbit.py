"""RabbitMQ helpers for tests: delete everything a queue prefix declared."""

from __future__ import annotations

import os
from typing import Any

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


class FreezingProxy:
    """A TCP proxy in front of RabbitMQ that can stop passing the broker's bytes while keeping every
    connection open: a broker that takes messages and never confirms them."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5672)) -> None:
        import socket
        import threading

        self.target = target
        self.frozen = threading.Event()
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen()
        self.port = int(self._server.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, source: Any, sink: Any, from_broker: bool) -> None:
        import time

        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                return
            while from_broker and self.frozen.is_set():
                time.sleep(0.05)
            try:
                sink.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self.frozen.clear()
        self._server.close()
