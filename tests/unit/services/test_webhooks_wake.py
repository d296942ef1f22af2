"""Waking the deliverer: a burst of wake-ups becomes one token now and one at the end of the interval."""

from __future__ import annotations

import time

from billing.adapters.broker import queue_names
from billing.services.webhooks_out.wake import DelivererWaker, wake_deliverer
from billing.testing import InMemoryBroker


def test_a_burst_of_wake_ups_publishes_one_token_at_once_and_one_for_the_rest() -> None:
    broker = InMemoryBroker()
    waker = DelivererWaker(broker, interval_s=0.1)
    for _ in range(50):
        waker.wake()
    assert len(broker.tokens(queue_names().events)) == 1
    time.sleep(0.3)
    tokens = broker.tokens(queue_names().events)
    assert len(tokens) == 2 and all(t.kind == "events" for t in tokens)
    waker.wake()  # the interval since the trailing token has passed: at once
    assert len(broker.tokens()) == 3
    waker.close()


def test_a_refused_wake_up_is_left_to_the_sweeper() -> None:
    broker = InMemoryBroker()
    broker.down = True
    assert not wake_deliverer(broker)
    broker.down = False
    assert wake_deliverer(broker, reason="operator")
    assert [t.reason for t in broker.tokens()] == ["operator"]
