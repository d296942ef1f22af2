"""Hostile input at every door: send, status, control, webhook and the two trigger functions.

Each request below is something a stranger, a broken ERP or a misconfigured gateway could send: an
oversized body, declared or chunked; nesting deeper than the parser allows; wrong types; control
characters; a very long header. Whatever it is, the answer is never a 5xx, every refusal is
problem+json, and a refused request writes nothing (no queue, no contact, no receipt, no audit).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from support.ops_factories import CONTROL, STATUS, client, create_queue
from support.send_factories import make_tenant

LIMIT = 4096
NESTED = b"[" * 50_000 + b"]" * 50_000
DEEP_OBJECT = b'{"a":' * 20_000 + b"1" + b"}" * 20_000
WRITTEN = (
    "SELECT (SELECT count(*) FROM billing_queues) + (SELECT count(*) FROM billing_contacts)"
    " + (SELECT count(*) FROM webhook_receipts) + (SELECT count(*) FROM audit_entries)"
    " + (SELECT count(*) FROM messages) + (SELECT count(*) FROM suppressions)"
)


@dataclass
class Door:
    name: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Hostile:
    label: str
    body: bytes | None = None
    content_type: str | None = "application/json"
    chunked: bool = False
    extra_headers: tuple[tuple[str, str], ...] = ()


HOSTILE = [
    Hostile("declared over the limit", b" " * (LIMIT * 5)),  # over every door's limit (control: 16 KiB)
    Hostile("chunked over the limit", b" " * (LIMIT * 5), chunked=True),
    Hostile("nested arrays", NESTED[: LIMIT // 2] + NESTED[-LIMIT // 2 :]),
    Hostile("nested objects", DEEP_OBJECT[:2000] + b"1" + b"}" * 300),
    Hostile("deep nesting within the limit", b"[" * 3000 + b"]" * 1000),
    Hostile("a JSON string", b'"pause"'),
    Hostile("a JSON number", b"1e999"),
    Hostile("wrong types", b'{"action": 5, "contacts": "x", "event": [], "kind": {"a": 1}}'),
    Hostile("control characters", b'{"action": "pa\\u0000use\\u202e", "contacts": [{"phone": "\\u0007"}]}'),
    Hostile("invalid UTF-8", b'{"a": "\xff\xfe"}'),
    Hostile("not JSON at all", b"\x00\x01\x02 <xml/>", content_type="text/xml"),
    Hostile("no body", None, content_type=None),
    Hostile("a very long header", b"{}", extra_headers=(("X-Long", "a" * 16_000),)),
    Hostile("a very long key", b"{}", extra_headers=(("X-Billing-API-Key", "bk_" + "a" * 10_000),)),
    Hostile("a very long forwarded-for", b"{}", extra_headers=(("X-Forwarded-For", "1.2.3.4, " * 2000),)),
    Hostile("a forwarded-for of garbage", b"{}", extra_headers=(("X-Forwarded-For", "x" * 5000 + ", 127.0.0.9"),)),
]


@pytest.fixture
def doors(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    from billing.adapters.broker import set_publisher
    from billing.config import reset_settings_cache
    from billing.testing import InMemoryBroker
    from support.factories import make_world

    monkeypatch.setenv("BILLING_MAX_BODY_BYTES", str(LIMIT))
    monkeypatch.setenv("BILLING_IP_RATE_LIMIT_PER_MINUTE", "1000000")
    monkeypatch.setenv("BILLING_TRUSTED_PROXIES", "127.0.0.0/8")  # the test client's address: headers are read
    reset_settings_cache()
    set_publisher(InMemoryBroker())
    tenant = make_tenant("acme", rate_limit=1_000_000)
    queue_id = create_queue(client("send"), tenant.key, 2)
    webhook_world = make_world(name="globex", webhook_secret="s" * 32)
    key = {"X-Billing-API-Key": tenant.key}
    yield {
        "queue_id": queue_id,
        "doors": [
            Door("send", "POST", "/api/v1/billing/send/overdue", key),
            Door("status", "GET", STATUS.format(queue_id), key),
            Door("control", "POST", CONTROL.format(queue_id), key),
            Door("control", "POST", "/api/v1/billing/invoices/NF-1/cancel", key),
            Door("control", "POST", "/api/v1/billing/invoices/NF%00X/cancel", key),
            Door("control", "POST", "/api/v1/billing/conversations/00000000-0000-4000-8000-000000000000/close", key),
            Door("status", "GET", f"/api/v1/billing/queue/{queue_id}/contacts?invoice_id=NF%00X&status=sent", key),
            Door("status", "GET", f"/api/v1/billing/queue/{queue_id}/contacts?limit=%C2%B2", key),
            Door("status", "GET", "/api/v1/billing/queues?external_id=erp%00run", key),
            Door("status", "GET", "/api/v1/billing/conversations?limit=%C2%B2&since=2026%00", key),
            Door("status", "GET", "/api/v1/billing/conversations?limit=" + "9" * 5000, key),
            Door("webhook", "POST", webhook_world.path, {"X-Billing-Webhook-Secret": "s" * 32}),
            Door("webhook", "POST", webhook_world.path, {}),
            Door("sender", "POST", "/", {}),
            Door("sweeper", "POST", "/", {}),
        ],
        "clients": {name: client(name) for name in ("send", "status", "control", "webhook", "sender", "sweeper")},
    }
    set_publisher(None)


def written() -> int:
    from billing.db.engine import unit_of_work

    with unit_of_work() as uow:
        return int(uow.session.execute(sa.text(WRITTEN)).scalar_one())


def _request(test_client: Any, door: Door, hostile: Hostile) -> Any:
    headers = dict(door.headers)
    headers.update(dict(hostile.extra_headers))
    if hostile.content_type:
        headers["Content-Type"] = hostile.content_type
    kwargs: dict[str, Any] = {"headers": headers}
    if hostile.body is not None and door.method == "POST":
        if hostile.chunked:
            headers["Transfer-Encoding"] = "chunked"
            kwargs["input_stream"] = io.BytesIO(hostile.body)
            kwargs["environ_overrides"] = {"wsgi.input_terminated": True}
        else:
            kwargs["data"] = hostile.body
    return test_client.open(door.path, method=door.method, **kwargs)


@pytest.mark.parametrize("hostile", HOSTILE, ids=[h.label for h in HOSTILE])
def test_no_door_answers_hostile_input_with_a_5xx_or_writes_anything(doors: dict[str, Any], hostile: Hostile) -> None:
    from billing.adapters.broker import get_publisher

    before = written()
    for door in doors["doors"]:
        answer = _request(doors["clients"][door.name], door, hostile)
        where = f"{door.name} {door.path} ({hostile.label})"
        assert answer.status_code < 500, f"{where}: {answer.status_code} {answer.get_data()[:300]!r}"
        if answer.status_code >= 400:
            assert answer.content_type == "application/problem+json", where
            problem = json.loads(answer.get_data())
            assert problem["status"] == answer.status_code and problem["detail"], where
    # Some requests are accepted (a tick for the sweeper, an ignored webhook event): none of them is
    # allowed to write a queue, a contact, a receipt, an audit entry, a message or a suppression.
    assert written() == before
    published = [(p.token.kind, p.token.queue_id, p.token.reason) for p in get_publisher().published]  # type: ignore[attr-defined]
    # Tokens: the fixture's own queue being created, and the sweeper's tick waking dispatch for it.
    allowed = {("queue", doors["queue_id"], "created"), ("queue", None, "slot_due")}
    assert set(published) <= allowed, published
