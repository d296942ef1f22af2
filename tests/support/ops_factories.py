"""Helpers for the status, control and sweeper tests: function clients, queues made through the real
send function, and direct row edits for states a test needs (a dead worker, an outage...)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

STATUS = "/api/v1/billing/queue/{}/status"
CONTROL = "/api/v1/billing/queue/{}/control"
_QUEUE_COLUMNS = frozenset(
    {
        "status", "processing_by", "lease_expires_at", "last_heartbeat", "published_at", "resume_at",
        "paused_reason", "scheduled_for", "started_at", "completed_at", "updated_at", "created_at",
        "sent", "failed", "cancelled", "unknown", "expired", "skipped",
    }
)  # fmt: skip


def client(name: str) -> Any:
    from functions_framework import create_app

    return create_app(target=name, source=f"functions/{name}/main.py").test_client()


def create_queue(send: Any, key: str, n: int = 3, *, kind: str = "overdue", **top: Any) -> str:
    from support.send_factories import batch, headers

    response = send.post(f"/api/v1/billing/send/{kind}", json=batch(n, kind=kind, **top), headers=headers(key))
    assert response.status_code == 202, response.get_json()
    return str(response.get_json()["queue_id"])


def execute(sql: str, **params: Any) -> list[Any]:
    from billing.db.engine import unit_of_work

    with unit_of_work() as uow:
        result = uow.session.execute(sa.text(sql), params)
        rows = list(result.mappings().all()) if result.returns_rows else []
        uow.commit()
    return rows


def set_queue(queue_id: str, **columns: Any) -> None:
    assert set(columns) <= _QUEUE_COLUMNS, set(columns) - _QUEUE_COLUMNS
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    execute(f"UPDATE billing_queues SET {assignments} WHERE id = :queue_id", queue_id=queue_id, **columns)


def set_contacts(queue_id: str, positions: list[int], **columns: Any) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    execute(
        f"UPDATE billing_contacts SET {assignments} WHERE queue_id = :queue_id AND position = ANY(:positions)",
        queue_id=queue_id,
        positions=positions,
        **columns,
    )


def queue_row(queue_id: str) -> dict[str, Any]:
    return dict(execute("SELECT * FROM billing_queues WHERE id = :id", id=queue_id)[0])


def contact_statuses(queue_id: str) -> dict[str, int]:
    rows = execute(
        "SELECT status, count(*) AS n FROM billing_contacts WHERE queue_id = :id GROUP BY status", id=queue_id
    )
    return {r["status"]: int(r["n"]) for r in rows}


def new_id() -> str:
    return str(uuid.uuid4())
