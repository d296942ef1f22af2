"""The variables every message template can use, built from one contact of a batch.

Built-in names win over a contact's own ``variables`` with the same name: an ERP field called
``valor`` must not replace the formatted amount the template author tested with. Every custom
variable stays reachable as ``variaveis.<name>`` (also ``variables.<name>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from billing.domain.formatting import format_date, format_money, format_number
from billing.domain.sanitize import require_https_url, sanitize_value

# name -> example value (README and strict template checks use this table).
VARIABLE_EXAMPLES: dict[str, str] = {
    "nome": "Maria Silva",
    "name": "Maria Silva",
    "telefone": "+5511999998888",
    "phone": "+5511999998888",
    "valor": "R$ 1.234,56",
    "valor_numero": "1.234,56",
    "vencimento": "20/11/2026",
    "data_vencimento": "20/11/2026",
    "dias_atraso": "9",
    "dias_atraso_texto": "9 dias",
    "dias_para_vencer": "0",
    "dias_para_vencer_texto": "0 dias",
    "vence_hoje": "false",
    "fatura": "NF-123",
    "invoice_id": "NF-123",
    "link_pagamento": "https://pagar.exemplo.com.br/abc",
    "payment_link": "https://pagar.exemplo.com.br/abc",
    "codigo_pix": "00020126580014BR.GOV.BCB.PIX...",
    "pix_code": "00020126580014BR.GOV.BCB.PIX...",
    "empresa": "Loja Exemplo",
    "variaveis": "{plano: Pro}",
    "variables": "{plano: Pro}",
}
BUILTIN_VARIABLES: frozenset[str] = frozenset(VARIABLE_EXAMPLES)

VariableValue = str | int | float | bool


@dataclass(frozen=True, slots=True)
class ContactData:
    """One contact of a batch, as validated at ingest (``phone`` already E.164)."""

    phone: str
    name: str | None = None
    due_date: date | None = None
    amount: Decimal | None = None
    invoice_id: str | None = None
    payment_link: str | None = None
    pix_code: str | None = None
    variables: Mapping[str, VariableValue] = field(default_factory=dict)


def _text(value: str | None) -> str | None:
    return None if value is None else sanitize_value(value)


def _custom(variables: Mapping[str, VariableValue]) -> dict[str, VariableValue]:
    return {key: sanitize_value(value) if isinstance(value, str) else value for key, value in variables.items()}


def days_text(days: int | None) -> str | None:
    """A count of days as a person writes it in Portuguese: "1 dia", "0 dias", "3 dias"."""
    if days is None:
        return None
    return f"{days} dia" if days == 1 else f"{days} dias"


def build_context(
    contact: ContactData,
    *,
    today: date,
    company: str,
    locale: str = "pt_BR",
    currency: str = "BRL",
) -> dict[str, Any]:
    """Every template variable for ``contact``; ``today`` is the tenant-local date of sending.

    Missing optional fields are ``None`` (render empty, falsy in ``{{#if}}``). Day counts are never
    negative: ``dias_atraso`` is 0 before the due date, ``dias_para_vencer`` is 0 after it.
    Raises InvalidValueError when ``payment_link`` is not an https URL.
    """
    custom = _custom(contact.variables)
    context: dict[str, Any] = {k: v for k, v in custom.items() if k not in BUILTIN_VARIABLES}

    name = _text(contact.name)
    amount = contact.amount
    due = contact.due_date
    link = None if contact.payment_link is None else sanitize_value(require_https_url(contact.payment_link))
    invoice = _text(contact.invoice_id)
    pix = _text(contact.pix_code)
    due_text = None if due is None else format_date(due, locale)
    delta = None if due is None else (today - due).days

    context.update(
        nome=name,
        name=name,
        telefone=contact.phone,
        phone=contact.phone,
        valor=None if amount is None else format_money(amount, locale, currency),
        valor_numero=None if amount is None else format_number(amount, locale),
        vencimento=due_text,
        data_vencimento=due_text,
        dias_atraso=None if delta is None else max(delta, 0),
        dias_atraso_texto=days_text(None if delta is None else max(delta, 0)),
        dias_para_vencer=None if delta is None else max(-delta, 0),
        dias_para_vencer_texto=days_text(None if delta is None else max(-delta, 0)),
        vence_hoje=delta == 0,
        fatura=invoice,
        invoice_id=invoice,
        link_pagamento=link,
        payment_link=link,
        codigo_pix=pix,
        pix_code=pix,
        empresa=sanitize_value(company),
        variaveis=custom,
        variables=custom,
    )
    return context


_NAMESPACES = frozenset({"variaveis", "variables"})


def undeclared_variables(referenced: frozenset[str], declared: frozenset[str] | None) -> list[tuple[str, str | None]]:
    """The variables a template uses that no contact can fill: neither built in nor declared in the
    template's JSON Schema (``declared``: its property names; None when it has no schema). Each comes
    with the closest known name, if one is close (a typo such as ``valro`` renders as empty text in every
    message otherwise). ``variaveis.x`` is checked against the schema when there is one."""
    import difflib

    known = sorted(BUILTIN_VARIABLES | (declared or frozenset()))
    problems: list[tuple[str, str | None]] = []
    for path in sorted(referenced):
        head, _, rest = path.partition(".")
        if head in _NAMESPACES:
            sub = rest.partition(".")[0]
            if declared is not None and sub and sub not in declared:
                close = difflib.get_close_matches(sub, sorted(declared), n=1, cutoff=0.6)
                problems.append((path, f"{head}.{close[0]}" if close else None))
            continue
        if head in BUILTIN_VARIABLES or (declared is not None and head in declared):
            continue
        close = difflib.get_close_matches(head, known, n=1, cutoff=0.6)
        problems.append((path, close[0] if close else None))
    return problems
