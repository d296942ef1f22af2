"""The wire side of the queue routes: the control body in, the status body out.

The use cases (``billing.services.queues``) take a ``ControlCommand`` and answer a ``QueueStatusView``;
the ERP's documented shapes are ``ControlRequest`` and ``StatusResponse`` (``billing.http.schemas``).
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from billing.contract.inbox import ConversationItem, ConversationPage, MessagePage
from billing.contract.invoices import InvoiceCancelled
from billing.contract.queues import RESENDABLE, ContactPage, ControlCommand, QueueStatusView, ResendCommand
from billing.errors import MalformedRequestError, ValidationFailedError
from billing.http.body import parse_json_object, require_json
from billing.http.schemas import (
    ControlRequest,
    Conversation,
    ConversationsResponse,
    InvoiceCancelRequest,
    InvoiceCancelResponse,
    MessagesResponse,
    QueuesResponse,
    StatusHead,
)

MAX_CONTROL_BODY = 16384  # a resend of 1,000 indexes fits


def parse_control_body(content_type: str | None, raw: bytes) -> ControlCommand | ResendCommand:
    """The control command from a body already read within ``MAX_CONTROL_BODY``: 415 not JSON,
    400 unparsable, 422 not one of the actions."""
    require_json(content_type)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser allows
        raise MalformedRequestError("the body is not valid JSON", [{"loc": ["body"], "msg": "not JSON"}]) from exc
    try:
        request = ControlRequest.model_validate(data)
    except ValidationError as exc:
        errors: list[dict[str, object]] = [
            {"loc": ["body", *err["loc"]], "msg": err["msg"]} for err in exc.errors(include_url=False)
        ]
        raise ValidationFailedError(_control_detail(exc), errors) from exc
    if request.action == "resend":
        return ResendCommand(
            statuses=tuple(request.statuses) if request.statuses else RESENDABLE,
            indexes=tuple(request.indexes) if request.indexes is not None else None,
        )
    if request.statuses is not None or request.indexes is not None:
        raise ValidationFailedError(
            f"statuses and indexes only go with the resend action, not {request.action}",
            [{"loc": ["body", "statuses" if request.statuses is not None else "indexes"], "msg": "resend only"}],
        )
    return ControlCommand(action=request.action)


def _control_detail(exc: ValidationError) -> str:
    """One sentence for the first thing wrong with a control body."""
    first = exc.errors(include_url=False)[0]
    where = first["loc"][0] if first["loc"] else "action"
    if where == "statuses":
        return "statuses must be a non-empty list of contact statuses (only unknown and failed can be resent)"
    if where == "indexes":
        return "indexes must be a list of 1 to 1000 contact indexes (whole numbers from 0)"
    if first["type"] == "extra_forbidden":
        return f"unknown field {where!r}: a control body has action, and for resend statuses and indexes"
    return 'action must be one of "pause", "resume", "cancel", "resend"'


def status_json(view: QueueStatusView) -> str:
    """The documented status body of ``view``: its fields checked against the published schema, and its
    page of failures as the database built it (a test holds the whole to ``StatusResponse``)."""
    head = StatusHead.model_validate(view, from_attributes=True).model_dump_json()
    return (
        f'{head[:-1]},"failures":{view.failures_json},"next_failures_cursor":{json.dumps(view.next_failures_cursor)}}}'
    )


def contacts_json(page: ContactPage) -> str:
    """The documented contacts page: the items arrive as JSON from the database (a test holds them to
    ``ContactsResponse``), so the hot path only wraps them."""
    return '{"items":' + page.items_json + ',"next_cursor":' + json.dumps(page.next_cursor) + "}"


MAX_INVOICE_BODY = 4096


def parse_invoice_cancel_body(content_type: str | None, raw: bytes) -> str:
    """The reason from an invoice-cancel body read within ``MAX_INVOICE_BODY``."""
    require_json(content_type)
    data = parse_json_object(raw)  # refuses NUL and lone surrogates, which PostgreSQL text cannot hold
    try:
        return InvoiceCancelRequest.model_validate(data).reason
    except ValidationError as exc:
        errors: list[dict[str, object]] = [
            {"loc": ["body", *err["loc"]], "msg": err["msg"]} for err in exc.errors(include_url=False)
        ]
        raise ValidationFailedError('the body must be {"reason": "..."} with 1 to 200 characters', errors) from exc


def invoice_cancel_json(result: InvoiceCancelled) -> str:
    return InvoiceCancelResponse.model_validate(result, from_attributes=True).model_dump_json()


def queues_json(views: list[QueueStatusView]) -> str:
    return QueuesResponse.model_validate({"items": views}, from_attributes=True).model_dump_json()


def conversations_json(page: ConversationPage) -> str:
    return ConversationsResponse.model_validate(page, from_attributes=True).model_dump_json()


def conversation_json(item: ConversationItem) -> str:
    return Conversation.model_validate(item, from_attributes=True).model_dump_json()


def messages_json(page: MessagePage) -> str:
    return MessagesResponse.model_validate(page, from_attributes=True).model_dump_json()
