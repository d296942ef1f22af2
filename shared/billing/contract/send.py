"""Inputs and outputs of the ingest use case: one batch of contacts to remind.

``SendEnvelope`` and ``ContactIn`` are pydantic models because validating an ERP's batch is the use
case's own work (one bad contact is reported by index, the batch goes on); they know nothing of HTTP.
The HTTP layer documents the same shapes (``billing.http.send_schemas``) and maps the result to JSON.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints, field_validator

from billing.domain.states import TemplateType

# Bounds on the ERP's free-form variables (documented in docs/send.md).
MAX_VARIABLES = 50
MAX_VARIABLE_NAME = 64
MAX_VARIABLE_TEXT = 1000
VARIABLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
MAX_IDEMPOTENCY_KEY = 255
MIN_YEAR, MAX_YEAR = 2000, 2100

VariableName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_VARIABLE_NAME, pattern=VARIABLE_NAME_PATTERN)
]
# Strict: JSON true is not the number 1, and a number is not a name.
FiniteNumber = Annotated[float, Field(strict=True, allow_inf_nan=False)]  # "1e400" parses as infinity
VariableValue = (
    Annotated[str, StringConstraints(strict=True, max_length=MAX_VARIABLE_TEXT)] | StrictBool | StrictInt | FiniteNumber
)
Amount = Annotated[str, StringConstraints(strict=True, max_length=32)] | StrictInt | FiniteNumber


class ContactIn(BaseModel):
    """One person to remind. Everything but ``phone`` is optional; the type decides what is required."""

    model_config = ConfigDict(extra="forbid", strict=False, title="Contact")

    phone: str = Field(
        min_length=1,
        max_length=40,
        description="as a person types it, e.g. `+55 (11) 99999-8888`; normalised to E.164 with the tenant's "
        "default region (BR: the 9th digit is added to old 8-digit mobiles); letters are refused",
    )
    name: str | None = Field(
        default=None,
        max_length=200,
        description="one line of visible text; refused when over 100 characters once cleaned, or when it holds "
        "a link or web address",
    )
    due_date: date | None = Field(
        default=None, description="ISO date; overdue: <= today, upcoming: >= today (the tenant's local date)"
    )
    amount: Amount | None = Field(
        default=None,
        description="a JSON number, or a string written `1234.56`, `1234,56`, `1.234,56` or `1,234.56` (an "
        "ambiguous `2.500` or `1,234` is refused); rounded half-even to cents, at most 999,999,999.99; "
        "> 0 for overdue/upcoming",
    )
    invoice_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="the ERP's invoice, kept exactly as sent; the same phone and invoice twice in a batch: the "
        "later one is rejected",
    )
    payment_link: str | None = Field(default=None, max_length=2000, description="https with a host, nothing else")
    pix_code: str | None = Field(default=None, max_length=1000, description="PIX copy-and-paste code, kept exactly")
    variables: dict[VariableName, VariableValue] | None = Field(
        default=None,
        max_length=MAX_VARIABLES,
        description=f"flat map (at most {MAX_VARIABLES} names, text values up to {MAX_VARIABLE_TEXT} characters) "
        'for the template, e.g. `{"plano": "Pro", "parcela": 3}`',
    )


class SendEnvelope(BaseModel):
    """The body as parsed at run time: contacts stay raw so each is validated on its own."""

    model_config = ConfigDict(extra="forbid")

    external_id: str | None = Field(default=None, min_length=1, max_length=255)
    template: str | None = Field(default=None, min_length=1, max_length=100)
    instance: str | None = Field(default=None, min_length=1, max_length=100)
    scheduled_for: datetime | None = None
    valid_until: datetime | None = None
    cancel_previous_for_invoice: bool = False
    contacts: list[Any] = Field(min_length=1)

    @field_validator("scheduled_for", "valid_until")
    @classmethod
    def _plausible_year(cls, value: datetime | None) -> datetime | None:
        if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
            raise ValueError(f"year must be between {MIN_YEAR} and {MAX_YEAR}")
        return value


# The answer's fields in the order the ERP reads them (a stored answer is replayed in this order).
SEND_RESULT_FIELDS = (
    "queue_id",
    "status",
    "template_type",
    "accepted",
    "rejected",
    "estimated_completion",
    "status_url",
)


@dataclass(frozen=True)
class SendCommand:
    tenant_id: uuid.UUID
    api_key_id: uuid.UUID | None
    template_type: TemplateType
    body: dict[str, Any]
    idempotency_key: str | None = None
    template_types: tuple[str, ...] | None = None  # the key's types: what cancel_previous_for_invoice may touch


@dataclass(frozen=True)
class SendResult:
    """The answer: ``created`` False means an idempotent replay of ``body`` (keys: SEND_RESULT_FIELDS)."""

    created: bool
    body: dict[str, Any]
