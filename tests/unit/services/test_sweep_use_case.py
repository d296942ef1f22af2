"""Sweep decisions in memory: the time budget, fanning recovery checks out, what each token asks for."""

from __future__ import annotations

import uuid
from typing import Any

from billing.adapters.broker import Token, queue_names
from billing.config import get_settings
from billing.domain.receipts import GATEWAY_LEVELS, ReceiptLevel
from billing.services.sweep import sweeper, upkeep
from billing.services.sweep.steps import InstanceRow
from billing.testing import FakeClock, InMemoryBroker


def instance(n: int = 0) -> InstanceRow:
    return InstanceRow(uuid.uuid4(), uuid.uuid4(), f"loja-{n}", "http://gw", f"loja-{n}", "enc", "v2")


def make_sweeper(broker: InMemoryBroker | None = None, clock: FakeClock | None = None) -> sweeper.Sweeper:
    return sweeper.Sweeper(settings=get_settings(), publisher=broker or InMemoryBroker(), clock=clock or FakeClock())


def test_a_tick_stops_when_its_budget_is_spent_and_says_so() -> None:
    clock = FakeClock()
    sweep = make_sweeper(clock=clock)
    assert sweep.time_left() and not sweep.summary.out_of_time
    clock.advance(get_settings().sweeper_budget_s)
    assert not sweep.time_left() and sweep.summary.out_of_time


def test_many_instances_are_fanned_out_as_one_recovery_token_each() -> None:
    broker = InMemoryBroker()
    sweep = make_sweeper(broker)
    instances = [instance(n) for n in range(8)]
    assert sweep._fan_out(instances) == []
    tokens = broker.tokens(queue_names().check_recovery)
    assert [t.instance_id for t in tokens] == [str(i.id) for i in instances]
    assert all(t.kind == "check_recovery" and t.reason == "instance_down" for t in tokens)
    assert sweep.summary.recovery_fanned_out == 8


def test_when_the_broker_refuses_the_rest_are_checked_inline() -> None:
    broker = InMemoryBroker()
    broker.down = True
    sweep = make_sweeper(broker)
    instances = [instance(n) for n in range(8)]
    assert sweep._fan_out(instances) == instances
    assert sweep.summary.recovery_fanned_out == 0 and broker.publish_attempts == 1


def test_a_queue_token_is_acknowledged_without_work(caplog: Any) -> None:
    assert sweeper.handle_token(Token(kind="queue", queue_id=str(uuid.uuid4()), reason="test"), clock=FakeClock())
    assert [getattr(r, "action", None) for r in caplog.records] == ["sweep.ignored"]


def test_a_recovery_token_without_a_valid_instance_id_does_nothing() -> None:
    summary = sweeper.check_recovery("not-a-uuid", publisher=InMemoryBroker(), clock=FakeClock())
    assert summary.instances_checked == 0 and summary.steps == []


def test_the_sweepers_receipt_levels_in_sql_are_the_domains() -> None:
    for status, level in GATEWAY_LEVELS.items():
        assert f"WHEN '{status}' THEN {int(level)}" in upkeep._GATEWAY_LEVEL
    for level in (ReceiptLevel.SERVER_ACK, ReceiptLevel.DELIVERED, ReceiptLevel.READ):
        assert f"WHEN '{level.label}' THEN {int(level)}" in upkeep._CONTACT_LEVEL
