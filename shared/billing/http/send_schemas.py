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
    """One batch of contacts to remind, all of the route's type."""

    model_config = ConfigDict(extra="forbid", title="SendRequest")

    external_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="the ERP's id for this batch, unique per tenant: the idempotency key when there is no "
        "`Idempotency-Key` header; `GET /api/v1/billing/queues?external_id=` finds the batch by it",
    )
    template: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="a template name of this type; default: the tenant's default template of this type",
    )
    instance: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="the WhatsApp instance (number) to send from, by name; default: the tenant's default instance",
    )
    scheduled_for: datetime | None = Field(
        default=None,
        description="when to start, at most 366 days ahead; in the future: the queue starts `scheduled`. "
        "Without an offset: the tenant's time zone",
    )
    valid_until: datetime | None = Field(
        default=None,
        description="after it, unsent contacts are not sent (`expired`); must be in the future and after "
        "`scheduled_for`. Without an offset: the tenant's time zone",
    )
    cancel_previous_for_invoice: bool = Field(
        default=False,
        description="true: this batch replaces the tenant's earlier reminders of the same invoices; their "
        "not-yet-sent contacts become `cancelled` in the same transaction (a call already in flight is not recalled)",
    )
    contacts: list[ContactIn] = Field(  # type: ignore[assignment]
        min_length=1,
        description="1..max_contacts_per_request (tenant setting, default 10,000; more is 413); each contact is "
        "validated on its own",
    )


class RejectedContact(BaseModel):
    index: int = Field(description="position of the contact in the request (0-based)")
    phone: str = Field(
        description="the phone as sent (masked in an idempotent replay: a number not messaged is not kept)"
    )
    errors: list[str] = Field(description="every problem of the contact, each `field: reason`")


class SendResponse(BaseModel):
    model_config = ConfigDict(title="SendResponse")

    queue_id: str = Field(description="the new queue's id (uuid)")
    status: Literal["pending", "scheduled"] = Field(description="`scheduled` when `scheduled_for` is in the future")
    template_type: Literal["overdue", "upcoming", "notification"]
    accepted: int = Field(description="contacts queued")
    rejected: list[RejectedContact] = Field(description="contacts refused, by `index`; the others are queued")
    estimated_completion: datetime | None = Field(
        description="UTC (`Z`): when the last contact should go out, after the work already queued on the "
        "instance at the same or a higher priority; null when it cannot be estimated (no business hours)"
    )
    status_url: str = Field(description="the queue's status route (also in the `Location` header)")
