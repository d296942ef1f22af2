"""The documented bodies of ``POST /api/v1/billing/send/{type}`` (OpenAPI).

The shapes the ingest use case validates live in ``billing.contract.send``; here they are documented
with typed contacts, and the answer's wire model is defined.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from billing.contract.send import MAX_IDEMPOTENCY_KEY, ContactIn, SendEnvelope

__all__ = ["MAX_IDEMPOTENCY_KEY", "ContactIn", "RejectedContact", "SendEnvelope", "SendRequest", "SendResponse"]

class SendRequest(SendEnvelope):
    """The documented body (OpenAPI): the envelope with typed contacts."""

    model_config = ConfigDict(extra="forbid", title="SendRequest")

    external_id: str | None = Field(
        default=None, min_length=1, max_length=255, description="the ERP's id for this batch, unique per tenant"
    )
    template: str | None = Field(default=None, description="template name of this type; default: tenant default")
    instance: str | None = Field(default=None, description="WhatsApp instance name; default: tenant default")
    scheduled_for: datetime | None = Field(default=None, description="future: the queue starts `scheduled`")
    valid_until: datetime | None = Field(default=None, description="unsent contacts expire after it")
    cancel_previous_for_invoice: bool = Field(
        default=False,
        description="true: this batch replaces the tenant's earlier reminders of the same invoices; their "
        "not-yet-sent contacts become `cancelled` in the same transaction (a call already in flight is not recalled)",
    )
    contacts: list[ContactIn] = Field(  # type: ignore[assignment]
        min_length=1, description="1..max_contacts_per_request (tenant setting, default 10,000)"
    )


class RejectedContact(BaseModel):
    index: int = Field(description="position of the contact in the request (0-based)")
    phone: str = Field(description="the phone as sent")
    errors: list[str]


class SendResponse(BaseModel):
    model_config = ConfigDict(title="SendResponse")

    queue_id: str
    status: Literal["pending", "scheduled"]
    template_type: Literal["overdue", "upcoming", "notification"]
    accepted: int
    rejected: list[RejectedContact]
    estimated_completion: datetime | None = Field(description="UTC (`Z`); null when it cannot be estimated")
    status_url: str
