"""The console's instances page: health in words, pace, today's count against the daily cap, active
queues, what to do when the gateway refused a key, and the admin's key update (clears auth_failed, resumes
the parked queues, audited, the key never shown)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from billing.crypto import decrypt_secret
from billing.db.engine import get_engine, unit_of_work
from billing.services.delivery.dispatch import AUTH_FAILED_REASON
from support.console import signed_in
from support.factories import SECRET, World, make_queue, make_world
from support.sql import recorded_statements

INSTANCES = "/console/instances"
NEW_KEY = "evo-key-NOVA-7f3a9c1e5b2d"


@pytest.fixture
def world(database_url: str, broker: Any) -> Iterator[World]:
    from billing.services.tenants import forget_tenant

    yield make_world(throttle_per_minute=30, jitter_s=1.5, daily_cap=500)
    forget_tenant()


def text_of(answer: Any) -> str:
    return str(answer.get_data(as_text=True))


def execute(sql: str, **params: Any) -> list[Any]:
    with unit_of_work() as uow:
        result = uow.session.execute(sa.text(sql), params)
        found = list(result.all()) if result.returns_rows else []
        uow.commit()
        return found


def instance(instance_id: uuid.UUID) -> Any:
    [row] = execute(
        "SELECT health_state, health_checked_at, api_key_encrypted FROM whatsapp_instances WHERE id = :id",
        id=instance_id,
    )
    return row


def add_instance(world: World, name: str, **columns: Any) -> uuid.UUID:
    from billing.services import admin

    with unit_of_work() as uow:
        tenant = admin.resolve_tenant(world.tenant_name, session=uow.session)
        inst = admin.add_instance(tenant, session=uow.session, name=name, url="http://127.0.0.1:9", api_key="k",
                                  secret_key=SECRET)  # fmt: skip
        inst_id = inst.id
        uow.commit()
    if columns:
        sets = ", ".join(f"{column} = :{column}" for column in columns)
        execute(f"UPDATE whatsapp_instances SET {sets} WHERE id = :id", id=inst_id, **columns)
    return inst_id


def park_for_refused_key(world: World) -> uuid.UUID:
    """The instance the gateway refused, and a queue parked because of it (as the sender leaves them)."""
    queue_id = make_queue(None, world, 2, status="instance_down")
    execute("UPDATE billing_queues SET paused_reason = :r WHERE id = :q", r="instance_down: " + AUTH_FAILED_REASON,
            q=queue_id)  # fmt: skip
    execute("UPDATE whatsapp_instances SET health_state = 'auth_failed', health_checked_at = now() WHERE id = :id",
            id=world.instance_id)  # fmt: skip
    return queue_id


def key_updates() -> list[Any]:
    return execute(
        "SELECT tenant_id, details->>'operator' AS operator, details->>'instance_id' AS instance_id, "
        "details::text AS details FROM audit_entries WHERE action = 'instance.key_updated'"
    )


def test_the_page_shows_health_pace_todays_count_against_the_cap_and_active_queues(world: World) -> None:
    today = datetime.now(ZoneInfo(world.timezone)).date()
    checked = datetime(2024, 3, 10, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo
    execute(
        "UPDATE whatsapp_instances SET health_state = 'open', health_checked_at = :at, daily_count = 12,"
        " daily_count_date = :today WHERE id = :id",
        at=checked, today=today, id=world.instance_id,
    )  # fmt: skip
    make_queue(None, world, 1, status="running")
    make_queue(None, world, 1, status="completed")
    down = add_instance(world, "loja-sul", health_state="close", daily_count=99,
                        daily_count_date=today - timedelta(days=1))  # fmt: skip
    console = signed_in("vera@acme.com.br", role="viewer", tenant_id=world.tenant_id)

    page = console.get(INSTANCES)
    html = text_of(page)
    assert page.status_code == 200
    assert 'href="/console/instances" aria-current="page"' in html
    ours = html[html.index(f'data-instance-row="{world.instance_id}"') :].split("</tr>", 1)[0]
    assert "loja-centro" in ours and "(padrão)" in ours and "conectado" in ours and "10/03 12:00" in ours
    assert "30/min + até 1,5 s" in ours and "12 de 500" in ours and "<td>1</td>" in ours
    theirs = html[html.index(f'data-instance-row="{down}"') :].split("</tr>", 1)[0]
    assert "loja-sul" in theirs and "desconectado" in theirs and "reconecte" in theirs
    assert "0 de 500" in theirs  # yesterday's count is not today's
    assert "30 mensagens por minuto" in html and "1,5 s" in html
    assert "Atualizar chave do gateway" not in html and 'name="api_key"' not in html  # viewers only read


def test_a_refused_key_says_what_to_do_and_an_admin_sets_a_new_one(
    world: World, broker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    queue_id = park_for_refused_key(world)
    operator = signed_in("otto@acme.com.br", role="operator", tenant_id=world.tenant_id)
    html = text_of(operator.get(INSTANCES))
    assert "chave recusada" in html and "O gateway recusou a chave" in html and "1 fila(s) parada(s)" in html
    assert "Peça a um administrador" in html and 'name="api_key"' not in html

    admin = signed_in("ana@acme.com.br", role="admin", tenant_id=world.tenant_id)
    html = text_of(admin.get(INSTANCES))
    assert f'action="/console/instances/{world.instance_id}/key"' in html and f'href="#key-{world.instance_id}"' in html
    with caplog.at_level(logging.DEBUG):
        answer = admin.post(f"{INSTANCES}/{world.instance_id}/key", {"api_key": f"  {NEW_KEY}\n"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/console/instances?msg=saved"
    row = instance(world.instance_id)
    assert row.health_state == "unknown" and row.health_checked_at is None
    assert decrypt_secret(row.api_key_encrypted, secret_key=SECRET) == NEW_KEY
    [queue] = execute("SELECT status, paused_reason FROM billing_queues WHERE id = :q", q=queue_id)
    assert (queue.status, queue.paused_reason) == ("pending", None)
    assert [t.queue_id for t in broker.tokens()] == [str(queue_id)]
    [audit] = key_updates()
    assert (audit.tenant_id, audit.operator, audit.instance_id) == (
        world.tenant_id,
        "console:ana@acme.com.br",
        str(world.instance_id),
    )
    assert str(queue_id) in audit.details
    after = admin.get(answer.headers["Location"])
    shown = text_of(after)
    assert "Alterações salvas." in shown and "O gateway recusou" not in shown and "sem verificação" in shown
    for text in (text_of(answer), shown, audit.details, caplog.text):
        assert NEW_KEY not in text


def test_only_an_admin_with_the_forms_token_changes_a_key(world: World) -> None:
    park_for_refused_key(world)
    before = instance(world.instance_id).api_key_encrypted
    for role in ("viewer", "operator"):
        console = signed_in(f"{role}@acme.com.br", role=role, tenant_id=world.tenant_id)
        console.get(INSTANCES)
        assert console.post(f"{INSTANCES}/{world.instance_id}/key", {"api_key": NEW_KEY}).status_code == 403
    admin = signed_in("ana@acme.com.br", role="admin", tenant_id=world.tenant_id)
    admin.get(INSTANCES)
    refused = admin.post(f"{INSTANCES}/{world.instance_id}/key", {"api_key": NEW_KEY}, csrf=False)
    assert refused.status_code == 403 and NEW_KEY not in text_of(refused)
    row = instance(world.instance_id)
    assert (row.health_state, row.api_key_encrypted) == ("auth_failed", before) and key_updates() == []


def test_another_tenants_instance_does_not_exist_here(world: World) -> None:
    other = make_world(name="outra", instance_name="outra-loja")
    before = instance(other.instance_id).api_key_encrypted
    admin = signed_in("ana@acme.com.br", role="admin", tenant_id=world.tenant_id)
    html = text_of(admin.get(INSTANCES))
    assert "outra-loja" not in html and str(other.instance_id) not in html
    assert admin.post(f"{INSTANCES}/{other.instance_id}/key", {"api_key": NEW_KEY}).status_code == 404
    assert instance(other.instance_id).api_key_encrypted == before and key_updates() == []


def test_hostile_input_gets_a_4xx_page_and_changes_nothing(world: World) -> None:
    park_for_refused_key(world)
    before = instance(world.instance_id).api_key_encrypted
    admin = signed_in("ana@acme.com.br", role="admin", tenant_id=world.tenant_id)
    admin.get(INSTANCES)
    assert admin.post(f"{INSTANCES}/not-a-uuid/key", {"api_key": NEW_KEY}).status_code == 404
    assert admin.post(f"{INSTANCES}/{uuid.uuid4()}/key", {"api_key": NEW_KEY}).status_code == 404
    assert admin.get(f"{INSTANCES}/{world.instance_id}/key").status_code == 405
    for key in ("", "   ", "chave com espaço", "x" * 600, "abc\x00def"):
        answer = admin.post(f"{INSTANCES}/{world.instance_id}/key", {"api_key": key})
        html = text_of(answer)
        assert answer.status_code == 422, key
        assert f'id="api-key-{world.instance_id}-error"' in html and 'role="alert"' in html
        if key.strip():
            assert key not in html
    assert admin.post(f"{INSTANCES}/{world.instance_id}/key", {"api_key": "k" * 70_000}).status_code == 413
    row = instance(world.instance_id)
    assert (row.health_state, row.api_key_encrypted) == ("auth_failed", before) and key_updates() == []


def test_the_page_costs_a_constant_number_of_statements(world: World) -> None:
    console = signed_in("vera@acme.com.br", role="viewer", tenant_id=world.tenant_id)
    with recorded_statements(get_engine()) as statements:
        assert console.get(INSTANCES).status_code == 200
    small = len(statements)
    for i in range(4):
        add_instance(world, f"loja-{i}")
    make_queue(None, world, 3, status="running")
    park_for_refused_key(world)
    with recorded_statements(get_engine()) as statements:
        html = text_of(console.get(INSTANCES))
    assert len(statements) == small and html.count("data-instance-row=") == 5
