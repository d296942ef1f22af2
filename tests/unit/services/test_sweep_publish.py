from __future__ import annotations

import uuid
from datetime import UTC, datetime

from billing.adapters.broker import queue_names
from billing.services.publishing import Claimed, publish_claimed
from billing.testing import InMemoryBroker, RecordingUnitOfWork

STAMP = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def claimed(*, started: bool, template_type: str = "overdue", priority: int = 10) -> Claimed:
    return Claimed(uuid.uuid4(), uuid.uuid4(), priority, template_type, started)


def test_a_queue_that_never_started_goes_to_its_types_queue_and_a_started_one_resumes() -> None:
    broker, uow = InMemoryBroker(), RecordingUnitOfWork()
    fresh, running = claimed(started=False, template_type="upcoming", priority=5), claimed(started=True)
    result = publish_claimed([fresh, running], reason="stale", stamp=STAMP, publisher=broker, uow=uow)  # type: ignore[arg-type]
    assert result.published == [fresh.queue_id, running.queue_id] and result.unclaimed == []
    assert [(p.queue, p.priority) for p in broker.published] == [
        (queue_names().upcoming, 5),
        (queue_names().resume, 10),
    ]
    assert all(p.token.kind == "queue" and p.token.reason == "stale" for p in broker.published)
    assert uow.executed == [] and uow.commits == 0


def test_when_the_broker_is_down_every_claim_is_given_back_after_one_attempt() -> None:
    broker, uow = InMemoryBroker(), RecordingUnitOfWork()
    broker.down = True
    items = [claimed(started=True) for _ in range(3)]
    result = publish_claimed(items, reason="unpublished", stamp=STAMP, publisher=broker, uow=uow)  # type: ignore[arg-type]
    assert result.published == [] and result.unclaimed == [i.queue_id for i in items]
    assert broker.publish_attempts == 1  # no point waiting for the same timeout three times
    assert uow.executed == [{"ids": [i.queue_id for i in items], "stamp": STAMP}] and uow.commits == 1
