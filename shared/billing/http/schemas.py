"""Response bodies shared by the ERP-facing routes (requests live beside their service)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from billing.clock import iso_utc

# The convention of the section-5 routes: every timestamp in UTC, written with ``Z``.
UtcDatetime = Annotated[
    datetime,
    PlainSerializer(iso_utc, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
ContactStatusName = Literal[
    "pending", "sending", "pending_retry", "sent", "failed", "cancelled", "expired", "skipped", "unknown"
]


PROBLEM_EXAMPLE: dict[str, Any] = {
    "type": "about:blank",
    "title": "Unprocessable Content",
    "status": 422,
    "detail": "no contact is valid; nothing was queued",
    "errors": [
        {"loc": ["contacts", 0, "phone"], "msg": "not a valid phone number"},
        {"loc": ["contacts", 1, "amount"], "msg": "must be greater than zero"},
    ],
}


class ProblemError(BaseModel):
    loc: list[str | int] = Field(
        description='the field at fault, as a path (`["contacts", 3, "phone"]`); outside the send body it '
        'starts with where the value was sent (`["query", "cursor"]`, `["header", "Idempotency-Key"]`, '
        '`["path", "invoice_id"]`, `["body", "action"]`)'
    )
    msg: str = Field(description="what is wrong with it")


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every error answer, as `application/problem+json`."""

    model_config = ConfigDict(json_schema_extra={"examples": [PROBLEM_EXAMPLE]})

    type: str = Field(default="about:blank", description="always `about:blank`: the status says what happened")
    title: str = Field(description="the status's standard phrase, e.g. `Unprocessable Content`")
    status: int = Field(description="the HTTP status, repeated")
    detail: str = Field(description="what went wrong, in a sentence for a person")
    errors: list[ProblemError] | None = Field(
        default=None, description="only where fields are at fault (400, 422): each field and its problem"
    )


class Failure(BaseModel):
    # An answer always carries every field, defaults included.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    index: int = Field(description="position of the contact in the original request (0-based)")
    phone: str = Field(description="E.164")
    invoice_id: str | None = None
    error: str | None = Field(default=None, description="why it failed (the gateway's refusal, or the last error)")


STATUS_EXAMPLE: dict[str, Any] = {
    "queue_id": "5f0c6c1e-8c1e-4c43-9a55-0b7d1c0f3e21",
    "external_id": "erp-run-2026-11-29-001",
    "template_type": "overdue",
    "status": "running",
    "total": 998,
    "sent": 420,
    "failed": 3,
    "pending": 575,
    "cancelled": 0,
    "unknown": 0,
    "expired": 0,
    "skipped": 0,
    "delivered": 388,
    "read": 251,
    "replied": 12,
    "opted_out": 1,
    "last_event_id": 48213,
    "progress": 0.424,
    "estimated_completion": "2026-11-29T18:20:00Z",
    "paused_reason": None,
    "resume_at": None,
    "created_at": "2026-11-29T12:00:02Z",
    "started_at": "2026-11-29T12:00:03Z",
    "completed_at": None,
    "failures": [
        {"index": 17, "phone": "+5511988887777", "invoice_id": "NF-140", "error": "number is not on WhatsApp"}
    ],
    "next_failures_cursor": None,
}


class StatusHead(BaseModel):
    """A status body without its page of failures: the status route checks and writes these fields and
    carries the page as the database built it (``StatusResponse`` is the documented whole)."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)

    queue_id: str
    external_id: str | None = Field(description="the batch's `external_id`, when it was sent with one")
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
    ] = Field(description="final: `completed`, `cancelled`, `failed`; each status is explained with the queue routes")
    total: int = Field(description="contacts accepted into the queue")
    sent: int = Field(description="contacts the gateway accepted")
    failed: int = Field(description="contacts refused for good or given up after the retries")
    pending: int = Field(
        description="contacts not yet in a final state: `total` - (`sent` + `failed` + `cancelled` + `unknown` + "
        "`expired` + `skipped`)"
    )
    cancelled: int = Field(description="contacts cancelled before they were sent")
    unknown: int = Field(description="contacts the gateway may or may not have sent; never resent automatically")
    expired: int = Field(description="contacts no longer true when their turn came (`valid_until`, past due date)")
    skipped: int = Field(description="contacts who had opted out by the time of sending")
    delivered: int = Field(default=0, description="sent contacts whose delivery receipt arrived")
    read: int = Field(default=0, description="sent contacts whose read receipt arrived")
    replied: int = Field(default=0, description="contacts who wrote back after their reminder")
    opted_out: int = Field(default=0, description="contacts who opted out in answer to their reminder")
    last_event_id: int | None = Field(
        default=None,
        description="the id of the latest event about this queue (null before the first): follow the queue "
        "from here with `GET /api/v1/billing/events?queue_id=...&after=<last_event_id>` and miss nothing",
    )
    progress: float = Field(
        ge=0, le=1, description="(`total` - `pending`) / `total`, rounded to 3 places (1.0 for an empty queue)"
    )
    estimated_completion: UtcDatetime | None = Field(
        description="when the last contact should go out, at the tenant's pace, daily cap and business hours "
        "(notifications: around the clock); `completed_at` once completed; null for a paused, cancelled or "
        "failed queue, or a tenant without business hours"
    )
    paused_reason: str | None = Field(
        description="why the queue waits: `business_hours`, `daily_cap: ...` (until `resume_at`, the next local "
        "day), `instance_down: ...`, `paused through the control API` or `paused by an operator`"
    )
    resume_at: UtcDatetime | None = Field(
        description="when a waiting queue resumes by itself: the next business-hours opening, the next local "
        "day after a daily cap, or the `scheduled_for` of a queue resumed before it"
    )
    created_at: UtcDatetime | None
    started_at: UtcDatetime | None = Field(description="when its first contact was handed to the gateway")
    completed_at: UtcDatetime | None = Field(description="when it became `completed` or `cancelled`")


class StatusResponse(StatusHead):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_serialization_defaults_required=True,
        json_schema_extra={"examples": [STATUS_EXAMPLE]},
    )

    failures: list[Failure] = Field(description="failed contacts by `index`, at most 100 per page")
    next_failures_cursor: str | None = Field(
        default=None, description="more failures: pass as `failures_cursor` for the next page; null on the last page"
    )


class QueuesResponse(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"items": [STATUS_EXAMPLE]}]})

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
    status: ContactStatusName = Field(
        description="final: `sent`, `failed`, `cancelled`, `expired`, `skipped`, `unknown`; each status is "
        "explained with the queue routes"
    )
    attempts: int = Field(description="gateway calls made for this contact")
    error: str | None = Field(description="the last error, when there was one")
    provider_message_id: str | None = Field(description="the gateway's message id, once sent")
    sent_at: UtcDatetime | None = Field(description="when the gateway accepted it")
    delivered_at: UtcDatetime | None = Field(description="when its delivery receipt arrived")
    read_at: UtcDatetime | None = Field(description="when its read receipt arrived")
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


class Event(BaseModel):
    """One event of the log, as the stream sends it (an SSE ``data:`` line, a WebSocket text message)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": 48213,
                    "type": "contact.sent",
                    "timestamp": "2026-11-30T13:05:09Z",
                    "data": {
                        "queue_id": "5f0c6c1e-8c1e-4c43-9a55-0b7d1c0f3e21",
                        "external_id": "erp-run-2026-11-29-001",
                        "index": 3,
                        "invoice_id": "NF-123",
                        "phone": "+5511999998888",
                        "status": "sent",
                        "attempts": 1,
                        "error": None,
                        "provider_message_id": "3EB0C431C26A1916E59E",
                    },
                }
            ]
        },
    )

    id: int = Field(description="the event's id: increases per tenant; resume after it with `Last-Event-ID` or `after`")
    type: str = Field(description="`queue.*`, `contact.*`, `instance.*` or `endpoint.*` (docs/events.md lists all)")
    timestamp: UtcDatetime = Field(description="when the change committed")
    data: dict[str, Any] = Field(description="what changed: queue and external id, contact index, invoice, phone...")


class Conversation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="the conversation's id, for its messages and to close it")
    phone: str = Field(description="E.164")
    name: str | None = Field(description="the name the latest reminder to this phone carried")
    instance: str = Field(description="the WhatsApp number (instance name) the customer wrote to")
    state: Literal["open", "closed"]
    unread: int = Field(description="customer messages since the conversation was last closed")
    last_inbound_text: str | None = Field(description="the customer's latest message")
    last_inbound_at: UtcDatetime | None = Field(description="when the customer last wrote")
    last_message_at: UtcDatetime | None = Field(description="the latest message either way (the list's order)")
    invoices: list[str] = Field(
        description="invoices whose reminders reached this phone from this number (of the 20 latest reminders)"
    )
    queues: list[str] = Field(
        description="queues whose reminders reached this phone from this number (of the 20 latest reminders)"
    )


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
    text: str = Field(description="the message as the customer wrote it, or the reminder as it was sent")
    status: str | None = Field(
        description="out: `sent`, then `server_ack`, `delivered` or `read` as receipts arrive; in: `received`"
    )
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
