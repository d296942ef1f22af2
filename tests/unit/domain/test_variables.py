from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from billing.domain.templates import compile_template
from billing.domain.variables import BUILTIN_VARIABLES, VARIABLE_EXAMPLES, ContactData, build_context
from billing.errors import InvalidValueError

MARIA = ContactData(
    phone="+5511999998888",
    name="Maria Silva",
    due_date=date(2026, 11, 20),
    amount=Decimal("1234.56"),
    invoice_id="NF-123",
    payment_link="https://pagar.exemplo.com.br/abc",
    pix_code="00020126580014BR.GOV.BCB.PIX",
    variables={"plano": "Pro", "parcela": 3, "valor": "9,99"},
)


def test_overdue_contact_gets_every_builtin_variable_formatted_in_pt_br() -> None:
    ctx = build_context(MARIA, today=date(2026, 11, 29), company="Loja Exemplo")
    assert ctx.keys() >= BUILTIN_VARIABLES
    assert ctx["nome"] == ctx["name"] == "Maria Silva"
    assert ctx["telefone"] == ctx["phone"] == "+5511999998888"
    assert ctx["valor"] == "R$ 1.234,56"
    assert ctx["valor_numero"] == "1.234,56"
    assert ctx["vencimento"] == ctx["data_vencimento"] == "20/11/2026"
    assert (ctx["dias_atraso"], ctx["dias_para_vencer"], ctx["vence_hoje"]) == (9, 0, False)
    assert ctx["fatura"] == ctx["invoice_id"] == "NF-123"
    assert ctx["link_pagamento"] == ctx["payment_link"] == "https://pagar.exemplo.com.br/abc"
    assert ctx["codigo_pix"] == ctx["pix_code"] == "00020126580014BR.GOV.BCB.PIX"
    assert ctx["empresa"] == "Loja Exemplo"


def test_upcoming_and_due_today_day_counts() -> None:
    upcoming = build_context(MARIA, today=date(2026, 11, 17), company="X")
    assert (upcoming["dias_atraso"], upcoming["dias_para_vencer"], upcoming["vence_hoje"]) == (0, 3, False)
    today = build_context(MARIA, today=date(2026, 11, 20), company="X")
    assert (today["dias_atraso"], today["dias_para_vencer"], today["vence_hoje"]) == (0, 0, True)


def test_contact_variables_are_available_but_builtins_win() -> None:
    ctx = build_context(MARIA, today=date(2026, 11, 29), company="X")
    assert ctx["plano"] == "Pro" and ctx["parcela"] == 3
    assert ctx["valor"] == "R$ 1.234,56"
    assert ctx["variaveis"]["valor"] == "9,99"


def test_missing_optional_fields_are_none_so_they_render_empty_and_falsy() -> None:
    ctx = build_context(ContactData(phone="+5511999998888"), today=date(2026, 1, 1), company="X")
    for key in ("nome", "valor", "vencimento", "dias_atraso", "fatura", "link_pagamento", "codigo_pix"):
        assert ctx[key] is None
    assert ctx["vence_hoje"] is False


def test_string_values_are_sanitized() -> None:
    contact = ContactData(phone="+5511999998888", name="<b>Ana</b><script>x</script>", variables={"p": "<i>Pro</i>"})
    ctx = build_context(contact, today=date(2026, 1, 1), company="<b>Loja</b>")
    assert (ctx["nome"], ctx["p"], ctx["empresa"]) == ("Ana", "Pro", "Loja")


def test_payment_links_must_be_https() -> None:
    contact = ContactData(phone="+5511999998888", payment_link="http://inseguro.example/x")
    with pytest.raises(InvalidValueError, match="https"):
        build_context(contact, today=date(2026, 1, 1), company="X")


def test_every_builtin_has_a_documented_example() -> None:
    assert set(VARIABLE_EXAMPLES) == BUILTIN_VARIABLES


OVERDUE_TEMPLATE = """\
Olá, *{{nome}}*! 👋
{{#if dias_atraso}}
A fatura {{fatura}} de {{valor}} venceu em {{vencimento}} e está em aberto há {{dias_atraso}} dias.
{{else}}
{{#if vence_hoje}}
A fatura {{fatura}} de {{valor}} vence *hoje*.
{{else}}
A fatura {{fatura}} de {{valor}} vence em {{dias_para_vencer}} dias ({{vencimento}}).
{{/if}}
{{/if}}
{{#unless link_pagamento}}
Responda esta mensagem para receber o boleto.
{{else}}
Pague aqui: {{link_pagamento}}
{{/unless}}
{{#if codigo_pix}}
PIX copia e cola: {{codigo_pix}}
{{/if}}
Plano {{plano}}, parcela {{parcela}}. _{{empresa}}_{{! assinatura }}"""


def test_realistic_template_renders_the_exact_pt_br_text() -> None:
    compiled = compile_template(OVERDUE_TEMPLATE)
    overdue = compiled.render(build_context(MARIA, today=date(2026, 11, 29), company="Loja Exemplo"), strict=True)
    assert overdue == (
        "Olá, *Maria Silva*! 👋\n"
        "A fatura NF-123 de R$ 1.234,56 venceu em 20/11/2026 e está em aberto há 9 dias.\n"
        "Pague aqui: https://pagar.exemplo.com.br/abc\n"
        "PIX copia e cola: 00020126580014BR.GOV.BCB.PIX\n"
        "Plano Pro, parcela 3. _Loja Exemplo_"
    )
    upcoming = ContactData(
        phone="+5511999998888",
        name="João",
        due_date=date(2026, 12, 5),
        amount=Decimal("89.9"),
        invoice_id="NF-7",
        variables={"plano": "Básico", "parcela": 1},
    )
    assert compiled.render(build_context(upcoming, today=date(2026, 11, 29), company="Loja Exemplo")) == (
        "Olá, *João*! 👋\n"
        "A fatura NF-7 de R$ 89,90 vence em 6 dias (05/12/2026).\n"
        "Responda esta mensagem para receber o boleto.\n"
        "Plano Básico, parcela 1. _Loja Exemplo_"
    )
    due_today = build_context(upcoming, today=date(2026, 12, 5), company="Loja Exemplo")
    assert "A fatura NF-7 de R$ 89,90 vence *hoje*.\n" in compiled.render(due_today)
