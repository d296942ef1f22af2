"""Per-contact validation of a send batch, without I/O."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from billing.domain.states import TemplateType
from billing.services.ingest.batch import request_hash
from billing.services.ingest.validation import Candidate, Rejection, drop_suppressed, schema_checker, validate_contacts

TODAY = date(2026, 11, 29)


def run(
    contacts: list[Any], kind: TemplateType = TemplateType.OVERDUE, **kw: Any
) -> tuple[list[Candidate], list[Rejection]]:
    return validate_contacts(contacts, template_type=kind, today=TODAY, region="BR", **kw)


def good(**overrides: Any) -> dict[str, Any]:
    return {"phone": "(11) 99999-8888", "due_date": "2026-11-20", "amount": "150.90", "invoice_id": "NF-1", **overrides}


def test_a_valid_contact_is_normalised() -> None:
    [candidate], rejected = run([good(payment_link=" https://pagar.exemplo.com.br/x ")])
    assert rejected == []
    assert candidate.contact.phone == "+5511999998888"
    assert candidate.contact.amount == Decimal("150.90")
    assert candidate.contact.due_date == date(2026, 11, 20)
    assert candidate.contact.payment_link == "https://pagar.exemplo.com.br/x"


@pytest.mark.parametrize(
    ("kind", "due", "ok"),
    [
        (TemplateType.OVERDUE, "2026-11-29", True),
        (TemplateType.OVERDUE, "2026-11-30", False),
        (TemplateType.UPCOMING, "2026-11-29", True),
        (TemplateType.UPCOMING, "2026-11-28", False),
        (TemplateType.NOTIFICATION, "2020-01-01", True),
    ],
)
def test_due_dates_follow_the_type_with_today_inclusive(kind: TemplateType, due: str, ok: bool) -> None:
    candidates, _ = run([good(due_date=due)], kind)
    assert bool(candidates) is ok


@pytest.mark.parametrize("amount", ["0", 0, "-1", "abc", True, "2.500", "1,234"])
def test_amounts_must_be_positive_plain_numbers(amount: Any) -> None:
    _, [rejection] = run([good(amount=amount)])
    assert rejection.problems[0][0] == "amount"


def test_notifications_need_neither_date_nor_amount() -> None:
    candidates, _ = run([{"phone": "+55 11 99999-8888"}], TemplateType.NOTIFICATION)
    assert len(candidates) == 1


def test_every_error_of_a_contact_is_reported_with_its_field() -> None:
    _, [rejection] = run([good(phone="12", amount="0", payment_link="http://x.example", extra=1)])
    assert rejection.index == 0
    assert [name for name, _ in rejection.problems] == ["extra"]  # shape errors come first, on their own
    _, [rejection] = run([good(phone="12", amount="0", payment_link="http://x.example")])
    assert [name for name, _ in rejection.problems] == ["phone", "payment_link", "amount"]
    assert rejection.loc_errors()[0] == {"loc": ["contacts", 0, "phone"], "msg": "too short"}


@pytest.mark.parametrize(
    "variables",
    [{"a": {"b": 1}}, {"a": [1]}, {"bad name": 1}, {f"v{i}": i for i in range(51)}, {"a": "x" * 1001}, {"a": None}],
)
def test_variables_are_a_bounded_flat_map_of_scalars(variables: dict[str, Any]) -> None:
    _, [rejection] = run([good(variables=variables)])
    assert rejection.problems[0][0].startswith("variables")


def test_the_same_phone_and_invoice_twice_rejects_the_second() -> None:
    candidates, [rejection] = run([good(), good(phone="+5511999998888"), good(invoice_id="NF-2")])
    assert [c.index for c in candidates] == [0, 2]
    assert rejection.index == 1 and "duplicate of contact 0" in rejection.messages()[0]


def test_suppressed_phones_are_rejected_as_opted_out() -> None:
    candidates, _ = run([good(), good(phone="11 98888-7777")])
    kept, [rejected] = drop_suppressed(candidates, {"+5511988887777"})
    assert [c.index for c in kept] == [0]
    assert rejected.index == 1 and "opted out" in rejected.messages()[0]


def test_the_templates_json_schema_is_applied_to_variables() -> None:
    check = schema_checker({"type": "object", "required": ["plano"], "properties": {"plano": {"enum": ["Pro"]}}})
    candidates, rejected = run(
        [good(variables={"plano": "Pro"}), good(invoice_id="2", variables={"plano": "X"})], schema_check=check
    )
    assert [c.index for c in candidates] == [0]
    assert rejected[0].messages() == ["variables: plano: 'X' is not one of ['Pro']"]
    assert schema_checker(None) is None


def test_non_objects_are_rejected_by_index() -> None:
    _, rejected = run([1, "x", None])
    assert [(r.index, r.messages()) for r in rejected] == [(i, ["contact must be a JSON object"]) for i in range(3)]


def test_the_request_hash_ignores_key_order_but_not_the_type() -> None:
    a = {"contacts": [{"phone": "1", "name": "x"}], "external_id": "e"}
    b = {"external_id": "e", "contacts": [{"name": "x", "phone": "1"}]}
    assert request_hash(a, TemplateType.OVERDUE) == request_hash(b, TemplateType.OVERDUE)
    assert request_hash(a, TemplateType.OVERDUE) != request_hash(a, TemplateType.UPCOMING)


def test_a_masked_phone_is_refused_and_never_becomes_a_strangers_number() -> None:
    _, [rejection] = run([good(phone="+55 21 99876-XXXX")])
    assert rejection.problems == [("phone", "phone number contains letters or symbols")]


def test_brazilian_amounts_are_read_as_written_and_ambiguous_ones_refused() -> None:
    [thousands], _ = run([good(amount="1.234,56")])
    assert thousands.contact.amount == Decimal("1234.56")
    _, [ambiguous] = run([good(amount="2.500")])
    [(field, message)] = ambiguous.problems
    assert field == "amount" and "ambiguous" in message


def test_names_reach_the_message_as_one_visible_line() -> None:
    [candidate], _ = run([good(name="Maria\u202e\n Silva\u200b", invoice_id="NF  1", pix_code="00020126  5204")])
    assert candidate.contact.name == "Maria Silva"
    assert (candidate.contact.invoice_id, candidate.contact.pix_code) == ("NF  1", "00020126  5204")  # exact


@pytest.mark.parametrize("field", ["invoice_id", "pix_code"])
def test_identifiers_read_back_exactly_refuse_invisible_characters_instead_of_being_altered(field: str) -> None:
    _, [rejection] = run([good(**{field: "NF-1\r\n\u202e"})])
    assert rejection.problems == [(field, "must not contain line breaks, control or invisible characters")]


@pytest.mark.parametrize(
    ("name", "why"), [("Maria https://golpe.example/pix", "link"), ("x" * 101, "at most 100")]
)
def test_a_name_carrying_a_link_or_too_long_is_refused_naming_the_field(name: str, why: str) -> None:
    _, [rejection] = run([good(name=name)])
    [(field, message)] = rejection.problems
    assert field == "name" and why in message


def test_variable_text_keeps_its_lines_but_loses_invisible_characters() -> None:
    [candidate], _ = run([good(variables={"mensagem": "Linha 1\r\nLinha 2\u202e", "n": 3})])
    assert candidate.contact.variables == {"mensagem": "Linha 1\nLinha 2", "n": 3}
