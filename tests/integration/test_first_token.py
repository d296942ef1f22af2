"""A new queue's first token finds the queue ready: the sender it wakes at once (in process, as under
``billing dev``) must not find the row still locked by the ``published_at`` update and give up until
the sweeper's next minute."""

from __future__ import annotations

import time
from typing import Any

import pytest
from support.ops_factories import client, create_queue, queue_row


@pytest.fixture
def in_process_sender(gateway_sim: Any) -> Any:
    from billing.adapters.broker import queue_names, set_publisher
    from billing.adapters.memory_broker import DirectDispatcher

    sender = client("sender")

    def deliver(token: Any) -> bool:
        answer = sender.post("/", data=token.to_bytes(), content_type="application/json")
        return bool(200 <= answer.status_code < 300)

    dispatcher = DirectDispatcher()
    names = queue_names()
    for queue in (names.overdue, names.upcoming, names.notification, names.resume):
        dispatcher.register(queue, deliver)
    set_publisher(dispatcher)
    yield dispatcher
    dispatcher.close(wait=True)


def test_every_new_queue_is_sent_by_the_token_that_announced_it(sim_world: Any, in_process_sender: Any) -> None:
    send = client("send")
    for attempt in range(12):
        queue_id = create_queue(send, sim_world.key, 1, kind="notification", external_id=f"first-{attempt}")
        deadline = time.monotonic() + 5  # the sweeper is not running: only the first token can send it
        while time.monotonic() < deadline and queue_row(queue_id)["status"] != "completed":
            time.sleep(0.02)
        assert queue_row(queue_id)["status"] == "completed", f"attempt {attempt}: the first token sent nothing"
