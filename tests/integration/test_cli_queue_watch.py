from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from billing.cli import main
from support.factories import make_queue, make_world


def test_queue_watch_once_prints_the_status_body_of_any_tenants_queue(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world = make_world(db, gateway_url="http://127.0.0.1:9")
    queue_id = make_queue(db, world, 3)
    assert main(["queue", "watch", str(queue_id), "--once"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["queue_id"] == str(queue_id)
    assert (status["total"], status["pending"], status["status"]) == (3, 3, "pending")


def test_queue_watch_returns_when_the_queue_is_finished(db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    world = make_world(db, gateway_url="http://127.0.0.1:9")
    queue_id = make_queue(db, world, 2, status="cancelled")
    assert main(["queue", "watch", str(queue_id), "--interval", "0.01"]) == 0
    assert "cancelled" in capsys.readouterr().out


@pytest.mark.parametrize("ref", ["5d0c7a4e-3b1f-4c2a-9e8d-0f6a1b2c3d4e", "not-a-uuid"])
def test_queue_watch_on_an_unknown_queue_says_so_and_exits_2(
    database_url: str, capsys: pytest.CaptureFixture[str], ref: str
) -> None:
    assert main(["queue", "watch", ref, "--once"]) == 2
    assert "not found" in capsys.readouterr().err


def test_queue_watch_once_prints_what_the_status_route_answers(db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from billing.db.engine import unit_of_work
    from billing.http.queues import status_json
    from billing.services.queues.operator import operator_status

    world = make_world(db, gateway_url="http://127.0.0.1:9")
    queue_id = make_queue(db, world, 2)
    assert main(["queue", "watch", str(queue_id), "--once"]) == 0
    printed = json.loads(capsys.readouterr().out)
    with unit_of_work() as uow:
        view = operator_status(str(queue_id), session=uow.session, now=datetime.now(UTC))
    wire = json.loads(status_json(view))
    printed.pop("estimated_completion"), wire.pop("estimated_completion")  # computed from "now" each time
    assert printed == wire and printed["created_at"].endswith("Z")


def test_queue_watch_follows_the_event_log_not_a_timer(db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """With a 60 s refresh interval, the watch still ends within a second or two of the cancel: the
    event (LISTEN/NOTIFY on the event log) wakes it."""
    import threading
    import time

    import sqlalchemy as sa
    from billing.db.engine import get_engine

    world = make_world(db, gateway_url="http://127.0.0.1:9")
    queue_id = make_queue(db, world, 2, status="running")
    result: list[int] = []
    watcher = threading.Thread(
        target=lambda: result.append(main(["queue", "watch", str(queue_id), "--interval", "60"]))
    )
    watcher.start()
    time.sleep(1.0)
    with get_engine().begin() as conn:
        conn.execute(sa.text("UPDATE billing_queues SET status = 'cancelled' WHERE id = :q"), {"q": queue_id})
    cancelled_at = time.monotonic()
    watcher.join(30)
    assert result == [0] and time.monotonic() - cancelled_at < 5
    assert "cancelled" in capsys.readouterr().out
