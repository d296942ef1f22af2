"""Response bodies shared by the ERP-facing routes (requests live beside their service)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from billing.clock import iso_utc

# The convention of the section-5 routes: every timestamp in UTC, written with ``Z``.
UtcDatetime = Annotated[datetime, PlainSerializer(iso_utc, return_type=str, when_used="json")]
ContactStatusName = Literal[
    "pending", "sending", "pending_retry", "sent", "failed", "cancelled", "expired", "skipped", "unknown"
]


class ProblemError(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = None


class Failure(BaseModel):
    index: int = Field(description="position of the contact in the original request (0-based)")
    phone: str
    invoice_id: str | None = None
    error: str | None = None


class StatusResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue_id: str
    external_id: str | None
    template_type: Literal["overdue", "upcoming", "notification"]
    status: Literal[
        "pending",
        "scheduled",
        "running",
        "paused",
        "paused_business_hours",
        "instance_down",
        "completed",
        "cancelled",
        "failed",
    ]
    total: int
    sent: int
    failed: int
    pending: int = Field(description="contacts not yet in a final state")
    cancelled: int
    unknown: int
    expired: int
    skipped: int
    delivered: int = 0
    read: int = 0
    replied: int = Field(default=0, description="contacts who wrote back after their reminder")
    opted_out: int = Field(default=0, description="contacts who opted out in answer to their reminder")
    progress: float = Field(ge=0, le=1)
    estimated_completion: UtcDatetime | None
    paused_reason: str | None
    resume_at: UtcDatetime | None
    created_at: UtcDatetime | None
    started_at: UtcDatetime | None
    completed_at: UtcDatetime | None
    failures: list[Failure]
    next_failures_cursor: str | None = None


class QueuesResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[StatusResponse] = Field(description="the queues created with this external_id (none: empty)")


class ControlRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"action": "pause"}, {"action": "resend", "statuses": ["unknown"], "indexes": [3]}]
        },
    )

    action: Literal["pause", "resume", "cancel", "resend"]
    statuses: list[ContactStatusName] | None = Field(
        default=None,
        min_length=1,
        description="resend only: which contacts; only `unknown` and `failed` can be resent (default both)",
    )
    indexes: list[Annotated[int, Field(ge=0)]] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="resend only: just these contacts (their `index`); each must be in `statuses`",
    )


class ContactItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(description="position of the contact in the original request (0-based)")
    invoice_id: str | None
    phone: str = Field(description="E.164")
    name: str | None
    status: ContactStatusName
    attempts: int = Field(description="gateway calls made for this contact")
    error: str | None = Field(description="the last error, when there was one")
    provider_message_id: str | None = Field(description="the gateway's message id, once sent")
    sent_at: UtcDatetime | None
    delivered_at: UtcDatetime | None
    read_at: UtcDatetime | None
    replied_at: UtcDatetime | None = Field(description="when the customer last wrote back after this reminder")


class ContactsResponse(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "index": 3,
                            "invoice_id": "NF-1",
                            "phone": "+5511999998888",
                            "name": "Maria",
                            "status": "unknown",
                            "attempts": 1,
                            "error": "the gateway timed out after the request went out",
                            "provider_message_id": None,
                            "sent_at": None,
                            "delivered_at": None,
                            "read_at": None,
                            "replied_at": None,
                        }
                    ],
                    "next_cursor": None,
                }
            ]
        },
    )

    items: list[ContactItem]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class InvoiceCancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "paid"}]})

    reason: str = Field(min_length=1, max_length=200, description="why, e.g. `paid`; kept on each contact")


class InvoiceQueue(BaseModel):
    queue_id: str
    cancelled: int


class InvoiceCancelResponse(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "invoice_id": "NF-1",
                    "cancelled": 2,
                    "queues": [{"queue_id": "5f0c6c1e-...", "cancelled": 2}],
                    "in_flight": 0,
                }
            ]
        },
    )

    invoice_id: str
    cancelled: int = Field(description="reminders of the invoice cancelled by this request (0 on a repeat)")
    queues: list[InvoiceQueue]
    in_flight: int = Field(
        description="reminders of the invoice whose gateway call had already started: not recalled, they may arrive"
    )


class Conversation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    phone: str = Field(description="E.164")
    name: str | None = Field(description="the name the latest reminder to this phone carried")
    instance: str = Field(description="the WhatsApp number (instance name) the customer wrote to")
    state: Literal["open", "closed"]
    unread: int = Field(description="customer messages since the conversation was last closed")
    last_inbound_text: str | None
    last_inbound_at: UtcDatetime | None
    last_message_at: UtcDatetime | None
    invoices: list[str] = Field(description="invoices whose reminders reached this phone from this number")
    queues: list[str] = Field(description="queues whose reminders reached this phone from this number")


class ConversationsResponse(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "0b5d3f2e-6a41-4f7e-9d0c-2f1c9a7e5b10",
                            "phone": "+5511988887777",
                            "name": "Maria Silva",
                            "instance": "loja-centro",
                            "state": "open",
                            "unread": 1,
                            "last_inbound_text": "Já paguei, segue o comprovante",
                            "last_inbound_at": "2026-11-30T14:02:11Z",
                            "last_message_at": "2026-11-30T14:02:11Z",
                            "invoices": ["NF-123"],
                            "queues": ["5f0c6c1e-8c1e-4c43-9a55-0b7d1c0f3e21"],
                        }
                    ],
                    "next_cursor": None,
                }
            ]
        },
    )

    items: list[Conversation]
    next_cursor: str | None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    direction: Literal["in", "out"] = Field(description="in: the customer wrote; out: a reminder we sent")
    text: str
    status: str | None
    created_at: UtcDatetime | None
    invoice_id: str | None = Field(description="the reminder's invoice (out), or the one answered (in)")


class MessagesResponse(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                            "direction": "out",
                            "text": "Olá, Maria! Sua fatura NF-123 de R$ 150,90 venceu em 20/11/2026.",
                            "status": "sent",
                            "created_at": "2026-11-30T13:00:05Z",
                            "invoice_id": "NF-123",
                        },
                        {
                            "id": "9b2f3c4d-1e5a-4b6c-8d7e-0f1a2b3c4d5e",
                            "direction": "in",
                            "text": "Já paguei, segue o comprovante",
                            "status": "received",
                            "created_at": "2026-11-30T14:02:11Z",
                            "invoice_id": "NF-123",
                        },
                    ],
                    "next_cursor": None,
                }
            ]
        },
    )

    items: list[ChatMessage]
    next_cursor: str | None
