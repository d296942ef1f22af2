from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.ops_factories import client, create_queue, queue_row, set_queue
from support.send_factories import make_tenant


def test_billing_sweep_runs_one_tick_and_prints_what_it_did(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import billing.cli.ops  # noqa: F401 - registers the sub-command
    from billing import cli
    from billing.adapters.broker import set_publisher
    from billing.testing import InMemoryBroker

    broker = InMemoryBroker()
    set_publisher(broker)
    try:
        tenant = make_tenant("acme")
        queue_id = create_queue(client("send"), tenant.key, 1, kind="notification")
        old = datetime.now(UTC) - timedelta(minutes=5)
        set_queue(queue_id, published_at=None, created_at=old, updated_at=old)
        broker.clear()
        assert cli.main(["sweep"]) == 0
        out = capsys.readouterr().out  # log lines are one-line JSON; the summary is printed indented
        summary: dict[str, Any] = json.loads(out[out.rindex("{\n") :])
        assert summary["unpublished"] == 1 and summary["published"] == 1
        # The queue's own token, and one that wakes dispatch for the slot now due.
        assert [(t.queue_id, t.reason) for t in broker.tokens()] == [(queue_id, "unpublished"), (None, "slot_due")]
        assert queue_row(queue_id)["published_at"] is not None
        broker.down = True
        set_queue(queue_id, published_at=None)
        assert cli.main(["sweep"]) == 1  # the broker refused: work left for the next tick
    finally:
        set_publisher(None)
