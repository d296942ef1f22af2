"""``billing queue pause|resume|cancel``: an operator acts on a queue through the ERP's own use case."""

from __future__ import annotations

import json
from typing import Any

import pytest
from billing.cli import main
from billing.config import reset_settings_cache
from support.ops_factories import contact_statuses, create_queue, execute, queue_row
from support.send_factories import TenantSetup, make_tenant


@pytest.fixture
def acme(database_url: str, broker: Any) -> TenantSetup:
    return make_tenant("acme")


def billing(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """Run the command; its stdout must be exactly one JSON document (logs go to stderr)."""
    capsys.readouterr()  # what the functions under test printed before
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def audit(queue_id: str) -> list[dict[str, Any]]:
    return execute(
        "SELECT api_key_id, client_ip, action, before_status, after_status, details "
        "FROM audit_entries WHERE queue_id = :id ORDER BY created_at",
        id=queue_id,
    )


def test_an_operator_pauses_resumes_and_cancels_a_queue_and_the_audit_names_the_operator(
    acme: TenantSetup, send: Any, broker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from billing.adapters.broker import queue_names

    queue_id = create_queue(send, acme.key, 3)
    broker.clear()

    code, paused, _ = billing(capsys, "queue", "pause", queue_id, "--as", "ana")
    assert code == 0 and paused["status"] == "paused" and paused["paused_reason"] == "paused by an operator"

    code, resumed, _ = billing(capsys, "queue", "resume", queue_id, "--as", "ana", "--tenant", "acme")
    assert code == 0 and resumed["status"] == "pending"
    [token] = broker.published
    assert token.queue == queue_names().overdue and token.token.reason == "resumed"
    assert queue_row(queue_id)["published_at"] is not None

    code, cancelled, _ = billing(capsys, "queue", "cancel", queue_id, "--as", "bruno")
    assert code == 0 and cancelled["status"] == "cancelled" and cancelled["cancelled"] == 3
    assert contact_statuses(queue_id) == {"cancelled": 3}

    entries = audit(queue_id)
    assert [(e["action"], e["before_status"], e["after_status"]) for e in entries] == [
        ("queue.pause", "pending", "paused"),
        ("queue.resume", "paused", "pending"),
        ("queue.cancel", "pending", "cancelled"),
    ]
    assert all(e["api_key_id"] is None and e["client_ip"] is None for e in entries)
    assert [(e["details"]["actor"], e["details"]["operator"]) for e in entries] == [
        ("operator", "ana"),
        ("operator", "ana"),
        ("operator", "bruno"),
    ]
    assert entries[2]["details"]["cancelled_contacts"] == 3


def test_naming_another_tenant_finds_no_queue_and_changes_nothing(
    acme: TenantSetup, send: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    make_tenant("globex")
    queue_id = create_queue(send, acme.key, 2)
    code, out, err = billing(capsys, "queue", "cancel", queue_id, "--tenant", "globex")
    assert (code, out) == (2, None) and "not found" in err
    assert queue_row(queue_id)["status"] == "pending" and audit(queue_id) == []


def test_without_a_broker_a_resumed_queue_is_left_for_the_sweeper(
    database_url: str, send: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.adapters.broker import set_publisher
    from billing.testing import InMemoryBroker

    set_publisher(InMemoryBroker())  # the send route needs one; the operator's shell has none
    acme = make_tenant("acme")
    queue_id = create_queue(send, acme.key, 1)
    set_publisher(None)
    monkeypatch.setenv("RABBITMQ_URL", "")  # no broker configured at all
    reset_settings_cache()
    assert billing(capsys, "queue", "pause", queue_id)[0] == 0
    code, resumed, _ = billing(capsys, "queue", "resume", queue_id)
    assert code == 0 and resumed["status"] == "pending"
    assert queue_row(queue_id)["published_at"] is None
    assert audit(queue_id)[0]["details"]["operator"]  # the login name, or "operator" in a bare container


def test_an_impossible_action_is_refused_with_the_reason(
    acme: TenantSetup, send: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    queue_id = create_queue(send, acme.key, 1)
    assert billing(capsys, "queue", "cancel", queue_id)[0] == 0
    code, out, err = billing(capsys, "queue", "resume", queue_id)
    assert code == 2 and out is None and "cancelled" in err
