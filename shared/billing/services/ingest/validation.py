"""Per-contact validation of a send request: every error of every contact, with its index.

Pure functions (no I/O): the caller supplies "today" in the tenant's time zone, the default phone
region, the opted-out phones and the template's compiled JSON Schema validator.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import ValidationError

from billing.contract.send import ContactIn
from billing.domain.formatting import parse_amount
from billing.domain.phones import normalize_phone
from billing.domain.sanitize import has_invisible, multi_line, person_name, require_https_url
from billing.domain.states import TemplateType
from billing.domain.variables import ContactData
from billing.errors import InvalidPhoneError, InvalidValueError

MAX_PHONE_ECHO = 40
R = TypeVar("R")
SchemaCheck = Callable[[Mapping[str, Any]], list[str]]


@dataclass(slots=True)
class Candidate:
    """A contact that passed validation so far; ``index`` is its position in the request."""

    index: int
    contact: ContactData


@dataclass(slots=True)
class Rejection:
    index: int
    phone: str
    problems: list[tuple[str, str]] = field(default_factory=list)  # (field, message)

    def messages(self) -> list[str]:
        return [f"{name}: {msg}" if name else msg for name, msg in self.problems]

    def loc_errors(self) -> list[dict[str, object]]:
        return [{"loc": ["contacts", self.index, *([name] if name else [])], "msg": msg} for name, msg in self.problems]


def _echo_phone(raw: Any) -> str:
    value = raw.get("phone") if isinstance(raw, dict) else None
    if isinstance(value, str):
        return value[:MAX_PHONE_ECHO]
    return "" if value is None else str(value)[:MAX_PHONE_ECHO]


_UNION_MESSAGES = {
    "amount": 'must be a number or a plain decimal string such as "150.90"',
    "variables": "values must be text (up to 1000 characters), numbers or true/false",
}
_TYPE_ERRORS = frozenset({"string_type", "int_type", "float_type", "bool_type", "finite_number"})


def _pydantic_problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = [str(p) for p in err["loc"]]
        field_name = loc[0] if loc else "contact"
        name = f"variables.{loc[1]}" if field_name == "variables" and len(loc) > 1 else field_name
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif field_name in _UNION_MESSAGES and err["type"] in _TYPE_ERRORS:
            msg = _UNION_MESSAGES[field_name]
        else:
            msg = err["msg"]
        # Union members report the same field once per alternative: keep one message per field.
        if all(n != name for n, _ in problems):
            problems.append((name, msg))
    return problems


def _type_rules(
    template_type: TemplateType, model: ContactIn, amount: Decimal | None, today: date
) -> list[tuple[str, str]]:
    if template_type is TemplateType.NOTIFICATION:
        return []
    problems: list[tuple[str, str]] = []
    due = model.due_date
    if due is None:
        problems.append(("due_date", f"required for {template_type.value} reminders"))
    elif template_type is TemplateType.OVERDUE and due > today:
        problems.append(("due_date", f"{due.isoformat()} is not overdue (today is {today.isoformat()})"))
    elif template_type is TemplateType.UPCOMING and due < today:
        problems.append(("due_date", f"{due.isoformat()} has already passed (today is {today.isoformat()})"))
    if model.amount is None:
        problems.append(("amount", f"required for {template_type.value} reminders"))
    elif amount is not None and amount <= 0:
        problems.append(("amount", "must be greater than zero"))
    return problems


def _read(field_name: str, value: Any, read: Callable[[Any], R], problems: list[tuple[str, str]]) -> R | None:
    """``read(value)``, or None with the refusal recorded under ``field_name`` (None stays None)."""
    if value is None:
        return None
    try:
        return read(value)
    except InvalidValueError as exc:
        problems.append((field_name, str(exc)))
        return None


def validate_contact(
    index: int, raw: Any, *, template_type: TemplateType, today: date, region: str, schema_check: SchemaCheck | None
) -> Candidate | Rejection:
    """Validate one contact: shape, phone, amount, link, type rules and the template's JSON Schema."""
    if not isinstance(raw, dict):
        return Rejection(index, "", [("", "contact must be a JSON object")])
    try:
        model = ContactIn.model_validate(raw)
    except ValidationError as exc:
        return Rejection(index, _echo_phone(raw), _pydantic_problems(exc))
    problems: list[tuple[str, str]] = []
    phone = ""
    try:
        phone = normalize_phone(model.phone, region)
    except InvalidPhoneError as exc:
        problems.append(("phone", exc.reason))
    amount: Decimal | None = _read("amount", model.amount, parse_amount, problems)
    link = _read("payment_link", model.payment_link, require_https_url, problems)
    name = _read("name", model.name, person_name, problems)
    # Identifiers an ERP or a bank reads back exactly (an invoice id it matches on, a PIX code whose CRC
    # covers every character) are never altered: invisible characters in them refuse the contact.
    for field_name in ("invoice_id", "pix_code"):
        value = getattr(model, field_name)
        if value is not None and has_invisible(value):
            problems.append((field_name, "must not contain line breaks, control or invisible characters"))
    problems.extend(_type_rules(template_type, model, amount, today))
    variables = {
        key: multi_line(value) if isinstance(value, str) else value for key, value in (model.variables or {}).items()
    }
    if schema_check is not None:
        problems.extend(("variables", msg) for msg in schema_check(variables))
    if problems:
        return Rejection(index, model.phone[:MAX_PHONE_ECHO], problems)
    contact = ContactData(
        phone=phone,
        name=name,
        due_date=model.due_date,
        amount=amount,
        invoice_id=model.invoice_id,
        payment_link=link,
        pix_code=model.pix_code,
        variables=variables,
    )
    return Candidate(index, contact)


def validate_contacts(
    raw_contacts: Sequence[Any],
    *,
    template_type: TemplateType,
    today: date,
    region: str,
    schema_check: SchemaCheck | None = None,
) -> tuple[list[Candidate], list[Rejection]]:
    """Split the request's contacts into candidates and rejections (duplicates included)."""
    candidates: list[Candidate] = []
    rejections: list[Rejection] = []
    first_seen: dict[tuple[str, str | None], int] = {}
    for index, raw in enumerate(raw_contacts):
        outcome = validate_contact(
            index, raw, template_type=template_type, today=today, region=region, schema_check=schema_check
        )
        if isinstance(outcome, Rejection):
            rejections.append(outcome)
            continue
        key = (outcome.contact.phone, outcome.contact.invoice_id)
        if key in first_seen:
            what = "phone and invoice" if key[1] is not None else "phone, both without invoice_id"
            rejections.append(
                Rejection(
                    index,
                    raw["phone"][:MAX_PHONE_ECHO],
                    [("", f"duplicate of contact {first_seen[key]} (same {what})")],
                )
            )
            continue
        first_seen[key] = index
        candidates.append(outcome)
    return candidates, rejections


def drop_suppressed(candidates: list[Candidate], suppressed: Iterable[str]) -> tuple[list[Candidate], list[Rejection]]:
    """Remove opted-out phones (the tenant's suppression list)."""
    blocked = set(suppressed)
    if not blocked:
        return candidates, []
    kept = [c for c in candidates if c.contact.phone not in blocked]
    rejected = [
        Rejection(c.index, c.contact.phone, [("phone", "opted out: this number asked not to receive messages")])
        for c in candidates
        if c.contact.phone in blocked
    ]
    return kept, rejected


@lru_cache(maxsize=256)
def _compiled_schema(schema_json: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_json))


def schema_checker(schema: Mapping[str, Any] | None) -> SchemaCheck | None:
    """A function listing JSON Schema violations of a contact's variables; compiled once per schema."""
    if not schema:
        return None
    validator = _compiled_schema(json.dumps(schema, sort_keys=True))

    def check(variables: Mapping[str, Any]) -> list[str]:
        out = []
        for err in validator.iter_errors(dict(variables)):
            where = "/".join(str(p) for p in err.absolute_path)
            out.append(f"{where}: {err.message}" if where else err.message)
        return sorted(out)

    return check
