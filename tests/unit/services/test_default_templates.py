"""The pt-BR templates a new tenant starts with, rendered as a customer would read them."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from billing.domain.states import TemplateType
from billing.domain.templates import compile_template
from billing.domain.variables import ContactData, build_context, days_text
from billing.services.admin.default_templates import DEFAULT_OPT_OUT_CONFIRMATION, DEFAULT_TEMPLATES, OPT_OUT_LINE

TODAY = date(2026, 11, 30)
ALL = [(ttype, i, body) for ttype, (_, bodies) in DEFAULT_TEMPLATES.items() for i, body in enumerate(bodies)]


def render(body: str, *, due: date | None, **fields: object) -> str:
    contact = ContactData(
        phone="+5511999998888",
        name="Maria Silva",
        due_date=due,
        amount=Decimal("150.90"),
        invoice_id="NF-1",
        **fields,  # type: ignore[arg-type]
    )
    return compile_template(body).render(build_context(contact, today=TODAY, company="Loja Exemplo"))


def test_day_counts_are_singular_for_one_and_plural_otherwise() -> None:
    assert [days_text(n) for n in (0, 1, 2, 30)] == ["0 dias", "1 dia", "2 dias", "30 dias"]


@pytest.mark.parametrize(("ttype", "index", "body"), ALL, ids=[f"{t.value}-{i}" for t, i, _ in ALL])
@pytest.mark.parametrize("days", [0, 1, 3])
def test_every_default_template_reads_as_correct_portuguese(
    ttype: TemplateType, index: int, body: str, days: int
) -> None:
    due = TODAY - timedelta(days=days) if ttype is TemplateType.OVERDUE else TODAY + timedelta(days=days)
    text = render(body, due=due)
    assert "dia(s)" not in text and "{{" not in text and "  " not in text
    assert text.startswith(("Olá, Maria Silva", "Oi, Maria Silva", "Maria Silva,")) and text.endswith("Loja Exemplo")
    assert OPT_OUT_LINE.strip() in text  # every message says how to stop receiving them
    if days == 1:
        assert "1 dias" not in text
    if ttype is TemplateType.OVERDUE and index < 2:
        assert ("há 1 dia." in text or "(1 dia de atraso)" in text) if days == 1 else True
        assert ("3 dias" in text) if days == 3 else True
        assert "há 0" not in text and "0 dias de atraso" not in text  # due today: no count at all
    if ttype is TemplateType.UPCOMING:
        assert ("hoje" in text) == (days == 0)
        assert ("daqui a 1 dia)" in text) if (days == 1 and index == 0) else True
    if ttype is TemplateType.OVERDUE or ttype is TemplateType.UPCOMING:
        assert "R$ 150,90" in text


def test_notifications_send_the_erps_message_or_a_neutral_sentence() -> None:
    for _, _, body in (t for t in ALL if t[0] is TemplateType.NOTIFICATION):
        custom = render(body, due=None, variables={"mensagem": "Sua fatura mudou de endereço."})
        assert "Sua fatura mudou de endereço." in custom
        assert "conta" in render(body, due=None) or "atualização" in render(body, due=None)


def test_the_default_opt_out_confirmation_names_the_company() -> None:
    text = DEFAULT_OPT_OUT_CONFIRMATION.format(company="Loja Exemplo")
    assert text.startswith("Pronto, você não receberá mais lembretes") and "Loja Exemplo" in text
