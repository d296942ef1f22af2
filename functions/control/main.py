"""control function: the ERP's changes to what will be sent.

POST /api/v1/billing/queue/{queue_id}/control (resend included), POST
/api/v1/billing/invoices/{invoice_id}/cancel and POST /api/v1/billing/conversations/{id}/close
(docs/api.md).

Every route is a write: one unit of work, the guard (a read-only key is refused), one use case, its
answer as JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from billing.http.entry import dispatch, json_response, route

if TYPE_CHECKING:
    from billing.db.engine import UnitOfWork
    from billing.http.auth import Principal
    from flask import Request, Response

Answer = Callable[["Principal", "UnitOfWork", datetime], str]


def _write(request: Request, answer: Answer) -> Response:
    from billing import bootstrap
    from billing.config import get_settings
    from billing.db.engine import unit_of_work
    from billing.http.guard import guard

    settings, now = get_settings(), bootstrap.clock().now()
    with unit_of_work() as uow:
        principal, headers = guard(request, session=uow.session, settings=settings, now=now)
        principal.require_write()
        body = answer(principal, uow, now)
    return json_response(body, 200, headers)


def _control(request: Request, match: re.Match[str]) -> Response:
    from billing import bootstrap
    from billing.http.body import read_bounded
    from billing.http.queues import MAX_CONTROL_BODY, parse_control_body, status_json
    from billing.services.queues.control import control_queue

    def answer(principal: Principal, uow: UnitOfWork, now: datetime) -> str:
        command = parse_control_body(request.content_type, read_bounded(request, MAX_CONTROL_BODY))
        view = control_queue(
            match["queue_id"], command, actor=principal.actor(), uow=uow, publisher=bootstrap.publisher(), now=now
        )
        return status_json(view)

    return _write(request, answer)


def _cancel_invoice(request: Request, match: re.Match[str]) -> Response:
    from billing.http.body import read_bounded
    from billing.http.queues import MAX_INVOICE_BODY, invoice_cancel_json, parse_invoice_cancel_body
    from billing.services.invoices.cancel import cancel_invoice

    def answer(principal: Principal, uow: UnitOfWork, now: datetime) -> str:
        reason = parse_invoice_cancel_body(request.content_type, read_bounded(request, MAX_INVOICE_BODY))
        return invoice_cancel_json(
            cancel_invoice(match["invoice_id"], reason, actor=principal.actor(), uow=uow, now=now)
        )

    return _write(request, answer)


def _close_conversation(request: Request, match: re.Match[str]) -> Response:
    from billing.http.queues import conversation_json
    from billing.services.inbox.conversations import close_conversation

    def answer(principal: Principal, uow: UnitOfWork, now: datetime) -> str:
        item = close_conversation(match["conversation_id"], actor=principal.actor(), session=uow.session, now=now)
        uow.commit()
        return conversation_json(item)

    return _write(request, answer)


ROUTES = (
    route("POST", r"/api/v1/billing/queue/(?P<queue_id>[^/]+)/control", _control),
    route("POST", r"/api/v1/billing/invoices/(?P<invoice_id>[^/]+)/cancel", _cancel_invoice),
    route("POST", r"/api/v1/billing/conversations/(?P<conversation_id>[^/]+)/close", _close_conversation),
)


def control(request: Request) -> Response:
    return dispatch(request, ROUTES)
