"""Tests drive the sender in-process: one dispatch invocation, then the queue's state read back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from billing.services.delivery.deps import SenderDeps


@dataclass(frozen=True)
class Delivered:
    """``outcome``: the dispatch's (idle, budget, shutdown); ``status``: the queue's afterwards."""

    outcome: str
    status: str
    sent: int
    processed: int


def deliver(queue_id: uuid.UUID, *, deps: SenderDeps) -> Delivered:
    """Run one sender invocation (it serves every due slot, this queue's among them) until it is idle."""
    from billing.db.engine import unit_of_work
    from billing.services.delivery.dispatch import dispatch
    from sqlalchemy import text

    result = dispatch(deps=deps)
    with unit_of_work() as uow:
        status: Any = uow.session.execute(
            text("SELECT status FROM billing_queues WHERE id = :id"), {"id": str(queue_id)}
        ).scalar_one()
    return Delivered(result.outcome, str(status), result.sent, result.processed)
