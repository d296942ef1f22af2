"""The console's template pages through the real console function and PostgreSQL: the list, one
variation's edit form with its preview, saving (with the same checks as ``billing template edit``),
turning variations on and off, who may do it, and hostile forms."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import sqlalchemy as sa
from support.console import ConsoleClient, signed_in
from support.factories import World, make_world
from support.sql import recorded_statements

EDIT = "/console/templates/cobranca-padrao/1"
PREVIEW = "/console/templates/preview"


@pytest.fixture
def world(database_url: str) -> World:
    return make_world()


@pytest.fixture
def admin(world: World) -> ConsoleClient:
    return signed_in("admin@acme.test", role="admin", tenant_id=world.tenant_id)


def _one(sql: str, **params: Any) -> Any:
    from billing.db.engine import unit_of_work

    with unit_of_work() as uow:
        return uow.session.execute(sa.text(sql), params).first()


def _all(sql: str, **params: Any) -> list[Any]:
    from billing.db.engine import unit_of_work

    with unit_of_work() as uow:
        return list(uow.session.execute(sa.text(sql), params).all())


def _variation(name: str, position: int) -> Any:
    return _one(
        "SELECT v.body, v.active FROM template_variations v JOIN templates t ON t.id = v.template_id "
        "WHERE t.name = :name AND v.position = :position",
        name=name,
        position=position,
    )


def _audits(action: str) -> list[Any]:
    return _all(
        "SELECT action, details, details->>'operator' AS operator FROM audit_entries WHERE action = :action "
        "ORDER BY created_at",
        action=action,
    )


def _text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def _preview_div(page: str) -> str:
    found = re.search(r'<div id="preview" class="preview" aria-live="polite">(.*?)</div>', page, re.DOTALL)
    assert found, page[:2000]
    return found.group(1)


def test_the_list_shows_each_type_with_its_templates_and_variations(admin: ConsoleClient) -> None:
    answer = admin.get("/console/templates")
    page = _text(answer)
    assert answer.status_code == 200
    for heading in ("Vencidas", "A vencer", "Avisos"):
        assert f">{heading}</h2>" in page
    for name in ("cobranca-padrao", "lembrete-vencimento", "aviso-padrao"):
        assert f'data-template="{name}"' in page
        for position in (1, 2, 3):
            assert f'href="/console/templates/{name}/{position}"' in page
    assert "Olá, {{nome}}! Identificamos que a fatura" in page  # the first line of variation 1
    assert page.count("ativa</td>") == 9 and "(padrão do tipo)" in page
    assert 'action="/console/templates/cobranca-padrao/2/enabled"' in page  # admins get the switch


def test_the_edit_form_shows_the_body_and_a_preview_on_sample_data(admin: ConsoleClient, world: World) -> None:
    answer = admin.get(EDIT)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert '<form id="template-form" method="post" action="/console/templates/cobranca-padrao/1"' in page
    assert 'data-preview="/console/templates/preview" data-preview-target="preview"' in page
    assert '<textarea id="body" name="body"' in page and 'type="hidden" name="name" value="cobranca-padrao"' in page
    stored = _variation("cobranca-padrao", 1).body
    assert html.escape(stored, quote=False) in page
    preview = html.unescape(_preview_div(page))
    assert "Olá, Maria Silva!" in preview and "R$ 1.234,56" in preview and "20/11/2026" in preview
    assert world.company in preview and "{{" not in preview  # rendered, not the source
    assert '<button type="submit">Salvar</button>' in page
    assert "{{link_pagamento}}" in _text(answer)  # the variables an operator may use are listed


def test_the_preview_follows_the_body_and_explains_a_refusal(admin: ConsoleClient) -> None:
    admin.get(EDIT)
    first = admin.post(PREVIEW, {"name": "cobranca-padrao", "body": "Oi {{nome}}, são {{valor}}."})
    assert first.status_code == 200 and _text(first).strip() == "Oi Maria Silva, são R$ 1.234,56."
    second = admin.post(
        PREVIEW, {"name": "cobranca-padrao", "body": "{{#if fatura}}Fatura {{fatura}}{{/if}} vence {{vencimento}}"}
    )
    assert _text(second).strip() == "Fatura NF-123 vence 20/11/2026"
    typo = admin.post(PREVIEW, {"name": "cobranca-padrao", "body": "Pague {{valro}}"})
    assert '<p class="field-error">' in typo.get_data(as_text=True)
    assert "{{valro}}" in _text(typo) and "{{valor}}" in _text(typo)
    broken = admin.post(PREVIEW, {"name": "cobranca-padrao", "body": "{{#if nome}}sem fim"})
    assert "sintaxe" in _text(broken) and "field-error" in broken.get_data(as_text=True)
    escaped = admin.post(PREVIEW, {"name": "cobranca-padrao", "body": "Olá <script>alert(1)</script>{{nome}}"})
    assert "<script" not in escaped.get_data(as_text=True)
    unknown = admin.post(PREVIEW, {"name": "nao-existe", "body": "Oi"})
    assert "field-error" in unknown.get_data(as_text=True)


def test_a_viewer_sees_the_preview_but_no_save_button(world: World) -> None:
    viewer = signed_in("viewer@acme.test", role="viewer", tenant_id=world.tenant_id)
    page = viewer.get(EDIT).get_data(as_text=True)
    assert "Maria Silva" in _preview_div(page)
    assert "Salvar</button>" not in page and " readonly>" in page
    listing = viewer.get("/console/templates").get_data(as_text=True)
    assert "/enabled" not in listing and 'href="/console/templates/aviso-padrao/1"' in listing
    answer = viewer.post(PREVIEW, {"name": "aviso-padrao", "body": "Olá {{nome}}"})
    assert answer.status_code == 200 and _text(answer).strip() == "Olá Maria Silva"


def test_saving_a_variation_stores_it_and_audits_the_operator(admin: ConsoleClient) -> None:
    admin.get(EDIT)
    body = "Olá {{nome}}, a fatura de {{valor}} venceu em {{vencimento}}.\r\nResponda SAIR para parar. {{empresa}}"
    answer = admin.post(EDIT, {"name": "cobranca-padrao", "body": body})
    assert answer.status_code == 303
    assert answer.headers["Location"] == EDIT + "?msg=saved"
    assert _variation("cobranca-padrao", 1).body == body.replace("\r\n", "\n")
    assert _variation("cobranca-padrao", 2).body != body.replace("\r\n", "\n")
    after = admin.get(answer.headers["Location"])
    assert "Alterações salvas." in _text(after) and "a fatura de R$ 1.234,56 venceu" in _text(after)
    (entry,) = _audits("template.edit")
    assert entry.operator == "console:admin@acme.test"
    assert entry.details["template"] == "cobranca-padrao" and entry.details["variation"] == 1


def test_an_unknown_variable_is_refused_inline_with_the_closest_name(admin: ConsoleClient) -> None:
    before = _variation("cobranca-padrao", 1).body
    admin.get(EDIT)
    typed = "Olá {{nome}}, pague {{valro}} até amanhã."
    answer = admin.post(EDIT, {"name": "cobranca-padrao", "body": typed})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    error = re.search(r'<p id="body-error" class="field-error" role="alert">(.*?)</p>', page, re.DOTALL)
    assert error, page[:3000]
    assert "{{valro}}" in html.unescape(error.group(1)) and "{{valor}}" in html.unescape(error.group(1))
    assert f">\n{html.escape(typed, quote=False)}</textarea>" in page  # what was typed is kept
    assert 'aria-invalid="true"' in page
    assert _variation("cobranca-padrao", 1).body == before
    assert _audits("template.edit") == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("{{#if nome}}sem fim", "sintaxe"),
        ("Olá {{nome", "sintaxe"),
        ("   ", "vazio"),
        ("x" * 20_000, "limite"),
        ("{{nome}} " + "y" * 4_200, "caracteres"),
    ],
)
def test_a_body_the_cli_would_refuse_is_refused_inline(admin: ConsoleClient, body: str, words: str) -> None:
    before = _variation("cobranca-padrao", 1).body
    admin.get(EDIT)
    answer = admin.post(EDIT, {"name": "cobranca-padrao", "body": body})
    assert answer.status_code == 422
    assert 'id="body-error"' in answer.get_data(as_text=True) and words in _text(answer)
    assert _variation("cobranca-padrao", 1).body == before


def test_variations_are_turned_off_and_on_but_never_the_last_one(admin: ConsoleClient) -> None:
    admin.get("/console/templates")
    off = admin.post("/console/templates/cobranca-padrao/2/enabled", {"enabled": "0", "back": "list"})
    assert off.status_code == 303 and off.headers["Location"] == "/console/templates?msg=disabled"
    assert _variation("cobranca-padrao", 2).active is False
    page = _text(admin.get(off.headers["Location"]))
    assert "Desativado." in page and page.count("desativada</td>") == 1
    on = admin.post("/console/templates/cobranca-padrao/2/enabled", {"enabled": "1", "back": "edit"})
    assert on.headers["Location"] == "/console/templates/cobranca-padrao/2?msg=enabled"
    assert _variation("cobranca-padrao", 2).active is True
    for position in (2, 3):
        assert admin.post(f"/console/templates/cobranca-padrao/{position}/enabled", {"enabled": "0"}).status_code == 303
    last = admin.post("/console/templates/cobranca-padrao/1/enabled", {"enabled": "0"})
    assert last.status_code == 409 and "única ativa" in _text(last)
    assert _variation("cobranca-padrao", 1).active is True
    listing = admin.get("/console/templates").get_data(as_text=True)
    assert 'action="/console/templates/cobranca-padrao/1/enabled"' not in listing  # no switch for the last one
    assert 'action="/console/templates/cobranca-padrao/2/enabled"' in listing
    assert "única variação ativa" in _text(admin.get(EDIT))
    actions = [
        (a.action, a.details["variation"], a.operator) for a in _audits("template.disable") + _audits("template.enable")
    ]
    assert sorted(actions) == [
        ("template.disable", 2, "console:admin@acme.test"),
        ("template.disable", 2, "console:admin@acme.test"),
        ("template.disable", 3, "console:admin@acme.test"),
        ("template.enable", 2, "console:admin@acme.test"),
    ]


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_an_admin_may_change_a_template(world: World, role: str) -> None:
    console = signed_in(f"{role}@acme.test", role=role, tenant_id=world.tenant_id)
    before = _variation("cobranca-padrao", 2)
    console.get(EDIT)
    saved = console.post("/console/templates/cobranca-padrao/2", {"name": "cobranca-padrao", "body": "Oi {{nome}}"})
    switched = console.post("/console/templates/cobranca-padrao/2/enabled", {"enabled": "0"})
    assert (saved.status_code, switched.status_code) == (403, 403)
    assert _variation("cobranca-padrao", 2) == before
    assert _audits("template.edit") == [] and _audits("template.disable") == []


def test_a_form_without_its_csrf_token_changes_nothing(admin: ConsoleClient) -> None:
    before = _variation("cobranca-padrao", 1)
    admin.get(EDIT)
    saved = admin.post(EDIT, {"name": "cobranca-padrao", "body": "Oi {{nome}}"}, csrf=False)
    switched = admin.post("/console/templates/cobranca-padrao/1/enabled", {"enabled": "0"}, csrf=False)
    wrong = admin.post(EDIT, {"name": "cobranca-padrao", "body": "Oi {{nome}}", "csrf_token": "forjado"})
    assert (saved.status_code, switched.status_code, wrong.status_code) == (403, 403, 403)
    assert _variation("cobranca-padrao", 1) == before and _audits("template.edit") == []


@pytest.mark.parametrize(
    ("method", "path", "form", "status"),
    [
        ("get", "/console/templates/cobranca-padrao/9", None, 404),
        ("get", "/console/templates/cobranca-padrao/abc", None, 404),
        ("get", "/console/templates/cobranca-padrao/%D9%A1", None, 404),  # an Arabic-Indic digit one
        ("get", "/console/templates/cobranca-padrao/00000000000000000001", None, 404),
        ("get", "/console/templates/" + "n" * 500 + "/1", None, 404),
        ("get", "/console/templates/n%C3%A3o-existe/1", None, 404),
        ("get", "/console/templates/preview", None, 405),
        ("post", "/console/templates/nao-existe/1", {"body": "Oi"}, 404),
        ("post", "/console/templates/cobranca-padrao/1/enabled", {"enabled": "talvez"}, 422),
        ("post", "/console/templates/cobranca-padrao/1/enabled", {}, 422),
        ("post", "/console/templates/cobranca-padrao/7/enabled", {"enabled": "1"}, 404),
        ("post", PREVIEW, {"name": "x" * 5_000, "body": "Oi"}, 200),
        ("post", PREVIEW, {"name": "cobranca-padrao", "body": "{{" * 8_000}, 200),
        ("post", EDIT, {"body": "\x00{{nome}}"}, 422),
        ("post", PREVIEW, {"name": "cobranca\x00padrao", "body": "Oi"}, 200),
        ("get", "/console/templates/cobranca%00padrao/1", None, 404),
        ("post", EDIT, {"body": "z" * 70_000}, 413),
    ],
)
def test_hostile_requests_get_a_4xx_page_never_a_500(
    admin: ConsoleClient, method: str, path: str, form: dict[str, str] | None, status: int
) -> None:
    before = _variation("cobranca-padrao", 1)
    admin.get(EDIT)
    answer = admin.get(path) if method == "get" else admin.post(path, form)
    assert answer.status_code == status, _text(answer)[:1500]
    assert answer.headers["Content-Type"].startswith("text/html")
    assert _variation("cobranca-padrao", 1) == before


def test_the_pages_cost_the_same_statements_whatever_the_number_of_templates(
    admin: ConsoleClient, world: World
) -> None:
    from billing.db.engine import get_engine, unit_of_work
    from billing.services import admin as setup

    def count(path: str) -> int:
        with recorded_statements(get_engine()) as statements:
            assert admin.get(path).status_code == 200
        return len(statements)

    small = (count("/console/templates"), count(EDIT))
    with unit_of_work() as uow:
        tenant = setup.resolve_tenant(world.tenant_name, session=uow.session)
        for i in range(12):
            setup.add_template(
                tenant,
                session=uow.session,
                template_type="overdue",
                name=f"extra-{i}",
                bodies=[f"Variação {p} de {{{{nome}}}}" for p in range(1, 6)],
            )
        uow.commit()
    large = (count("/console/templates"), count(EDIT))
    assert large == small
    assert 'data-template="extra-11"' in admin.get("/console/templates").get_data(as_text=True)
