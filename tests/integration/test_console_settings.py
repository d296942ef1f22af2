"""The console's settings page through the real console function and PostgreSQL: business hours with
several windows a weekday, closed dates, sending settings, API keys (shown once, working against the
API, revoked) and the ERP's webhook endpoints; who may change what, CSRF, audit and hostile forms."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from support.console import ConsoleClient, signed_in
from support.factories import World, make_world
from support.ops_factories import STATUS, client
from support.send_factories import headers
from support.sql import recorded_statements

SETTINGS = "/console/settings"
TZ = ZoneInfo("America/Sao_Paulo")
OPERATOR = "console:admin@acme.test"
DASH = "\u2013"  # between a window's opening and closing


@pytest.fixture
def world(database_url: str) -> World:
    return make_world()


@pytest.fixture
def admin(world: World) -> ConsoleClient:
    console = signed_in("admin@acme.test", role="admin", tenant_id=world.tenant_id)
    console.get(SETTINGS)
    return console


def _all(sql: str, **params: Any) -> list[Any]:
    from billing.db.engine import unit_of_work

    with unit_of_work() as uow:
        return list(uow.session.execute(sa.text(sql), params).all())


def _hours() -> list[tuple[int, str, str]]:
    rows = _all("SELECT weekday, start_time, end_time FROM business_hours ORDER BY weekday, start_time")
    return [(r.weekday, f"{r.start_time:%H:%M}", f"{r.end_time:%H:%M}") for r in rows]


def _config() -> Any:
    return _all("SELECT throttle_per_minute, jitter_s, daily_cap, opt_out_keywords FROM billing_configs")[0]


def _closed() -> list[tuple[str, str | None]]:
    return [(r.day.isoformat(), r.reason) for r in _all("SELECT day, reason FROM closed_dates ORDER BY day")]


def _audits(action: str | None = None) -> list[Any]:
    return _all(
        "SELECT action, details, details->>'operator' AS operator FROM audit_entries "
        "WHERE CAST(:action AS text) IS NULL OR action = :action ORDER BY created_at",
        action=action,
    )


def _state() -> tuple[Any, ...]:
    keys = _all("SELECT name, active FROM api_keys ORDER BY name")
    return (_hours(), tuple(_config()), _closed(), [tuple(k) for k in keys], len(_audits()))


def _text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def _section(page: str, heading_id: str) -> str:
    start = page.index(f'id="{heading_id}"')
    end = page.find("<section", start)
    return page[start : end if end > 0 else len(page)]


def _tomorrow() -> str:
    return (datetime.now(TZ).date() + timedelta(days=1)).isoformat()


def _add_endpoint(world: World, url: str, deliveries: int) -> str:
    from billing.config import get_settings
    from billing.db.engine import unit_of_work
    from billing.services.webhooks_out.endpoints import add_endpoint

    with unit_of_work() as uow:
        endpoint = add_endpoint(world.tenant_name, uow=uow, url=url, events=None, secret=None, settings=get_settings())
    with unit_of_work() as uow:
        for i in range(deliveries):
            uow.session.execute(
                sa.text(
                    "INSERT INTO billing_endpoint_deliveries (tenant_id, endpoint_id, event_id, event_type, attempt,"
                    " status_code, outcome, error, duration_ms)"
                    " VALUES (:t, :e, :n, 'queue.completed', 1, :code, :outcome, :error, 42)"
                ),
                {
                    "t": world.tenant_id,
                    "e": uuid.UUID(endpoint["id"]),
                    "n": 100 + i,
                    "code": 200 if i % 2 == 0 else 503,
                    "outcome": "delivered" if i % 2 == 0 else "failed",
                    "error": None if i % 2 == 0 else "HTTP 503 do ERP",
                },
            )
        uow.commit()
    return str(endpoint["id"])


def test_the_page_shows_every_section_with_the_tenants_values(admin: ConsoleClient, world: World) -> None:
    endpoint = _add_endpoint(world, "https://erp.acme.test/hooks/billing", deliveries=7)
    answer = admin.get(SETTINGS)
    page = _text(answer)
    assert answer.status_code == 200
    for heading in ("Horário comercial", "Datas fechadas", "Envio", "Chaves de API", "Webhooks do ERP"):
        assert f">{heading}</h2>" in page
    hours = _section(page, "hours-h")
    assert hours.count(f"08:00{DASH}18:00") == 5 and hours.count("sem envio") == 2
    assert re.search(r'data-weekday="5">\s*<th scope="row">Sábado</th>\s*<td><span class="empty">sem envio', hours)
    sending = _section(page, "sending-h")
    assert 'name="throttle_per_minute" type="number" min="1" max="600" required value="20"' in sending
    assert 'value="2.0"' in sending and 'placeholder="PARAR, SAIR, STOP, CANCELAR"' in sending
    keys = _section(page, "keys-h")
    prefix = world.api_key.split("_")[1]
    assert 'data-key="erp"' in keys and prefix in keys and "ativa" in keys and world.api_key not in page
    assert 'action="/console/settings/keys/erp/revoke"' in keys
    hooks = _section(page, "webhooks-h")
    assert f'data-endpoint="{endpoint}"' in hooks and "https://erp.acme.test/hooks/billing" in hooks
    assert hooks.count("queue.completed") == 5  # the latest five deliveries
    assert "HTTP 503 do ERP" in hooks and "entregue" in hooks and "falhou" in hooks and ">106<" in hooks
    assert "whsec_" not in page


def test_a_viewer_and_an_operator_see_the_values_without_forms(world: World) -> None:
    for role in ("viewer", "operator"):
        console = signed_in(f"{role}@acme.test", role=role, tenant_id=world.tenant_id)
        page = _text(console.get(SETTINGS))
        assert f"08:00{DASH}18:00" in page and 'data-key="erp"' in page
        assert "<dt>Mensagens por minuto</dt><dd>20</dd>" in page and "PARAR, SAIR, STOP, CANCELAR" in page
        assert 'action="/console/settings/' not in page and "Somente administradores" in page


def test_hours_take_several_windows_a_weekday_and_are_removed(admin: ConsoleClient) -> None:
    saturday = admin.post(f"{SETTINGS}/hours", {"weekday": "5", "start": "09:00", "end": "13:00"})
    assert saturday.status_code == 303 and saturday.headers["Location"].startswith(f"{SETTINGS}?msg=saved")
    morning = admin.post(f"{SETTINGS}/hours", {"weekday": "0", "start": "08:00", "end": "12:00", "mode": "replace"})
    afternoon = admin.post(f"{SETTINGS}/hours", {"weekday": "0", "start": "13:30", "end": "18:00", "mode": "add"})
    assert (morning.status_code, afternoon.status_code) == (303, 303)
    hours = _hours()
    assert [(d, s, e) for d, s, e in hours if d in (0, 5)] == [
        (0, "08:00", "12:00"),
        (0, "13:30", "18:00"),
        (5, "09:00", "13:00"),
    ]
    page = _text(admin.get(SETTINGS + "?msg=saved"))
    assert "Alterações salvas." in page
    assert f'08:00{DASH}12:00</span>, <span class="window">13:30{DASH}18:00' in page
    removed = admin.post(f"{SETTINGS}/hours/remove", {"weekday": "0"})
    assert removed.status_code == 303
    assert [h for h in _hours() if h[0] == 0] == []
    assert [(a.action, a.details["weekday"], a.operator) for a in _audits("hours.set")] == [
        ("hours.set", 5, OPERATOR),
        ("hours.set", 0, OPERATOR),
        ("hours.set", 0, OPERATOR),
    ]
    (entry,) = _audits("hours.remove")
    assert entry.details["removed"] == 2 and entry.operator == OPERATOR
    assert _audits("hours.set")[2].details == {
        "weekday": 0, "start": "13:30", "end": "18:00", "mode": "add", "actor": "operator", "operator": OPERATOR
    }  # fmt: skip


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"weekday": "1", "start": "10:00", "end": "12:00", "mode": "add"}, "start", "sobrepõe"),
        ({"weekday": "1", "start": "18:00", "end": "08:00"}, "end", "depois da abertura"),
        ({"weekday": "7", "start": "08:00", "end": "12:00"}, "weekday", "dia da semana"),
        ({"weekday": "-1", "start": "08:00", "end": "12:00"}, "weekday", "dia da semana"),
        ({"weekday": "segunda", "start": "08:00", "end": "12:00"}, "weekday", "dia da semana"),
        ({"weekday": "1", "start": "25:00", "end": "26:00"}, "start", "HH:MM"),
        ({"weekday": "1", "start": "8h", "end": "12:00"}, "start", "HH:MM"),
        ({"weekday": "1", "start": "08:00", "end": "12:00", "mode": "apagar"}, "mode", "substituir"),
        ({"weekday": "1", "start": "0" * 5000, "end": "12:00"}, "start", "HH:MM"),
    ],
)
def test_a_bad_window_is_refused_inline_and_changes_nothing(
    admin: ConsoleClient, form: dict[str, str], field: str, words: str
) -> None:
    before = _state()
    answer = admin.post(f"{SETTINGS}/hours", form)
    page = _text(answer)
    assert answer.status_code == 422
    error = re.search(rf'<p id="hours-{field}-error" class="field-error" role="alert">(.*?)</p>', page)
    assert error and words in error.group(1), page[:3000]
    assert "Nada foi alterado" in page
    assert _state() == before


def test_closed_dates_are_added_and_bad_ones_refused(admin: ConsoleClient) -> None:
    day = _tomorrow()
    answer = admin.post(f"{SETTINGS}/closed-dates", {"date": day, "reason": "Inventário anual"})
    assert answer.status_code == 303
    assert _closed() == [(day, "Inventário anual")]
    page = _text(admin.get(SETTINGS))
    assert f'data-closed="{day}"' in page and "Inventário anual" in page
    (entry,) = _audits("closed_date.add")
    assert entry.details["day"] == day and entry.operator == OPERATOR
    before = _state()
    refused = {
        "duplicate": {"date": day, "reason": ""},
        "impossible": {"date": "2026-02-30"},
        "words": {"date": "amanhã"},
        "format": {"date": "31/12/2030"},
        "past": {"date": "2001-01-01"},
        "huge year": {"date": "99999-01-01"},
        "long reason": {"date": "2031-01-02", "reason": "r" * 201},
        "control": {"date": "2031-01-02", "reason": "nul\x00byte"},
    }
    for case, form in refused.items():
        answer = admin.post(f"{SETTINGS}/closed-dates", form)
        assert answer.status_code == 422, case
        assert re.search(r'<p id="closed-(date|reason)-error" class="field-error" role="alert">', _text(answer)), case
    assert _state() == before


def test_a_closed_date_added_by_mistake_is_reopened(admin: ConsoleClient) -> None:
    day = _tomorrow()
    assert admin.post(f"{SETTINGS}/closed-dates", {"date": day, "reason": "engano"}).status_code == 303
    page = _text(admin.get(SETTINGS))
    assert 'action="/console/settings/closed-dates/remove"' in page and f'value="{day}"' in page
    answer = admin.post(f"{SETTINGS}/closed-dates/remove", {"date": day})
    assert answer.status_code == 303
    assert _closed() == []
    (entry,) = _audits("closed_date.remove")
    assert entry.details["day"] == day and entry.details["reason"] == "engano" and entry.operator == OPERATOR
    assert admin.post(f"{SETTINGS}/closed-dates/remove", {"date": day}).status_code == 404  # already open
    assert admin.post(f"{SETTINGS}/closed-dates/remove", {"date": "amanhã"}).status_code == 422
    assert len(_audits("closed_date.remove")) == 1


def test_sending_settings_are_saved_and_a_bad_value_changes_nothing(admin: ConsoleClient) -> None:
    form = {
        "throttle_per_minute": "12",
        "jitter_s": "3,5",
        "daily_cap": "800",
        "opt_out_keywords": "sair, parar ,  chega",
    }
    answer = admin.post(f"{SETTINGS}/sending", form)
    assert answer.status_code == 303
    config = _config()
    assert (config.throttle_per_minute, config.jitter_s, config.daily_cap) == (12, 3.5, 800)
    assert config.opt_out_keywords == ["sair", "parar", "chega"]
    page = _text(admin.get(SETTINGS))
    assert (
        'value="12"' in page
        and 'value="3.5"' in page
        and 'value="800"' in page
        and 'value="sair, parar, chega"' in page
    )
    lifted = admin.post(
        f"{SETTINGS}/sending", {"throttle_per_minute": "12", "jitter_s": "0", "daily_cap": "", "opt_out_keywords": ""}
    )
    assert lifted.status_code == 303
    config = _config()
    assert (config.jitter_s, config.daily_cap, config.opt_out_keywords) == (0.0, None, [])
    entries = _audits("config.set")
    assert [e.operator for e in entries] == [OPERATOR, OPERATOR]
    assert entries[0].details["throttle_per_minute"] == 12 and entries[0].details["daily_cap"] == 800

    before = _state()
    good = {"throttle_per_minute": "30", "jitter_s": "1", "daily_cap": "100", "opt_out_keywords": "SAIR"}
    for field, bad in [
        ("throttle_per_minute", "0"),
        ("throttle_per_minute", "601"),
        ("throttle_per_minute", "abc"),
        ("throttle_per_minute", "1e3"),
        ("throttle_per_minute", "9" * 400),
        ("throttle_per_minute", ""),
        ("jitter_s", "NaN"),
        ("jitter_s", "inf"),
        ("jitter_s", "-1"),
        ("jitter_s", "601"),
        ("daily_cap", "0"),
        ("daily_cap", "-5"),
        ("daily_cap", "2000000"),
        ("opt_out_keywords", ",".join(f"p{i}" for i in range(30))),
        ("opt_out_keywords", "x" * 41),
        ("opt_out_keywords", "sa\x00ir"),
    ]:
        answer = admin.post(f"{SETTINGS}/sending", {**good, field: bad})
        page = answer.get_data(as_text=True)
        assert answer.status_code == 422, (field, bad)
        assert f'<p id="sending-{field}-error" class="field-error" role="alert">' in page, (field, bad)
        if field == "throttle_per_minute" and bad == "abc":
            assert 'value="abc"' in page and 'value="100"' in page  # what was typed is kept
    assert _state() == before


def test_an_api_key_is_shown_once_works_and_stops_working_when_revoked(admin: ConsoleClient, world: World) -> None:
    status = client("status")
    answer = admin.post(f"{SETTINGS}/keys", {"name": "erp-novo", "read_only": "1"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    found = re.search(r'<p id="new-key" class="secret">(bk_[0-9a-f]+_[A-Za-z0-9_-]+)</p>', page)
    assert found, page[:3000]
    key = found.group(1)
    assert 'data-key="erp-novo"' in page and "somente leitura" in _section(_text(answer), "keys-h")
    assert "Location" not in answer.headers
    (row,) = _all("SELECT name, prefix, read_only, key_hash FROM api_keys WHERE name = 'erp-novo'")
    assert row.read_only is True and key.split("_")[1] == row.prefix and key not in row.key_hash

    queue_path = STATUS.format(uuid.uuid4())
    assert status.get(queue_path, headers=headers(key)).status_code == 404  # authenticated, no such queue
    again = admin.get(SETTINGS).get_data(as_text=True)
    assert key not in again and 'id="new-key"' not in again  # shown once

    (entry,) = _audits("api_key.create")
    assert entry.operator == OPERATOR and entry.details["name"] == "erp-novo" and entry.details["prefix"] == row.prefix
    assert key not in str(_all("SELECT details FROM audit_entries"))

    revoked = admin.post(f"{SETTINGS}/keys/erp-novo/revoke", {})
    assert revoked.status_code == 303 and "msg=revoked" in revoked.headers["Location"]
    assert _all("SELECT active, revoked_at IS NOT NULL AS gone FROM api_keys WHERE name = 'erp-novo'")[0] == (
        False,
        True,
    )
    assert status.get(queue_path, headers=headers(key)).status_code == 401
    assert status.get(queue_path, headers=headers(world.api_key)).status_code == 404  # the others still work
    page = _text(admin.get(SETTINGS + "?msg=revoked"))
    assert "Chave revogada." in page and 'action="/console/settings/keys/erp-novo/revoke"' not in page
    (entry,) = _audits("api_key.revoke")
    assert entry.operator == OPERATOR and entry.details["name"] == "erp-novo"
    assert admin.post(f"{SETTINGS}/keys/erp-novo/revoke", {}).status_code == 303  # again: nothing more
    assert len(_audits("api_key.revoke")) == 1


def test_the_logs_never_hold_a_created_key(admin: ConsoleClient, caplog: pytest.LogCaptureFixture) -> None:
    answer = admin.post(f"{SETTINGS}/keys", {"name": "sem-log"})
    key = re.search(r'id="new-key" class="secret">([^<]+)<', answer.get_data(as_text=True))
    assert key
    assert key.group(1) not in caplog.text
    assert any(getattr(r, "action", None) == "console.api_key_create" for r in caplog.records)


@pytest.mark.parametrize(
    ("name", "status"),
    [("erp", 422), ("com espaço", 422), ("", 422), ("n" * 101, 422), ("<script>", 422), ("ação", 422)],
)
def test_a_bad_key_name_is_refused_inline(admin: ConsoleClient, name: str, status: int) -> None:
    before = _state()
    answer = admin.post(f"{SETTINGS}/keys", {"name": name})
    page = answer.get_data(as_text=True)
    assert answer.status_code == status
    assert '<p id="keys-name-error" class="field-error" role="alert">' in page and 'id="new-key"' not in page
    assert "<script>" not in page
    assert _state() == before


@pytest.mark.parametrize(
    "path",
    ["/console/settings/keys/nao-existe/revoke", "/console/settings/keys/" + "k" * 300 + "/revoke",
     "/console/settings/keys/erp%00/revoke"],
)  # fmt: skip
def test_revoking_an_unknown_key_is_not_found(admin: ConsoleClient, path: str) -> None:
    before = _state()
    assert admin.post(path, {}).status_code == 404
    assert _state() == before


MANAGE_POSTS = [
    ("/console/settings/hours", {"weekday": "5", "start": "09:00", "end": "12:00"}),
    ("/console/settings/hours/remove", {"weekday": "0"}),
    ("/console/settings/closed-dates", {"date": "2031-05-02", "reason": "x"}),
    ("/console/settings/closed-dates/remove", {"date": "2031-05-02"}),
    (
        "/console/settings/sending",
        {"throttle_per_minute": "5", "jitter_s": "1", "daily_cap": "", "opt_out_keywords": ""},
    ),
    ("/console/settings/keys", {"name": "intrusa"}),
    ("/console/settings/keys/erp/revoke", {}),
]


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_an_admin_may_change_settings(world: World, role: str) -> None:
    console = signed_in(f"{role}@acme.test", role=role, tenant_id=world.tenant_id)
    console.get(SETTINGS)
    before = _state()
    for path, form in MANAGE_POSTS:
        answer = console.post(path, form)
        assert answer.status_code == 403, path
        assert "não permite" in _text(answer)
    assert _state() == before


def test_a_form_without_its_csrf_token_changes_nothing(admin: ConsoleClient) -> None:
    before = _state()
    for path, form in MANAGE_POSTS:
        assert admin.post(path, form, csrf=False).status_code == 403, path
        assert admin.post(path, {**form, "csrf_token": "x" * 64}).status_code == 403, path
    assert _state() == before


def test_every_change_is_audited_with_the_operator(admin: ConsoleClient) -> None:
    for path, form in MANAGE_POSTS:
        assert admin.post(path, form).status_code in (200, 303), path
    assert [(a.action, a.operator) for a in _audits()] == [
        ("hours.set", OPERATOR),
        ("hours.remove", OPERATOR),
        ("closed_date.add", OPERATOR),
        ("closed_date.remove", OPERATOR),
        ("config.set", OPERATOR),
        ("api_key.create", OPERATOR),
        ("api_key.revoke", OPERATOR),
    ]


def test_the_page_costs_the_same_statements_whatever_the_tenants_size(admin: ConsoleClient, world: World) -> None:
    from billing.db.engine import get_engine, unit_of_work
    from billing.services import admin as setup

    def count() -> int:
        with recorded_statements(get_engine()) as statements:
            assert admin.get(SETTINGS).status_code == 200
        return len(statements)

    _add_endpoint(world, "https://erp.acme.test/hooks/1", deliveries=1)
    small = count()
    for i in range(2, 5):
        _add_endpoint(world, f"https://erp.acme.test/hooks/{i}", deliveries=8)
    with unit_of_work() as uow:
        tenant = setup.resolve_tenant(world.tenant_name, session=uow.session)
        for i in range(8):
            setup.create_api_key(tenant, session=uow.session, name=f"chave-{i}")
            setup.add_closed_date(tenant, session=uow.session, day=datetime.now(UTC).date() + timedelta(days=10 + i))
        setup.set_hours(tenant, session=uow.session, weekdays=[0, 1, 2], start=datetime(2026, 1, 1, 19).time(),
                        end=datetime(2026, 1, 1, 21).time(), add=True)  # fmt: skip
        uow.commit()
    assert count() == small
    page = admin.get(SETTINGS).get_data(as_text=True)
    assert page.count("data-endpoint=") == 4 and 'data-key="chave-7"' in page and f"19:00{DASH}21:00" in page


def test_the_pages_answer_html_errors_for_unknown_paths_and_methods(admin: ConsoleClient) -> None:
    assert admin.get("/console/settings/hours").status_code == 405
    assert admin.get("/console/settings/nada").status_code == 404
    assert admin.post("/console/settings/sending", {"throttle_per_minute": "1" * 70_000}).status_code == 413
