"""control function: the ERP's changes to what will be sent.

POST /api/v1/billing/queue/{queue_id}/control (CONTRACT.md 1.3, resend in section 5) and
POST /api/v1/billing/invoices/{invoice_id}/cancel and POST /api/v1/billing/conversations/{id}/close
(section 5).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from billing.http.entry import dispatch, json_response, route

if TYPE_CHECKING:
    from flask import Request, Response


def _control(request: Request, match: re.Match[str]) -> Response:
    from billing import bootstrap
    from billing.config import get_settings
    from billing.db.engine import unit_of_work
    from billing.http.body import read_bounded
    from billing.http.guard import guard
    from billing.http.queues import MAX_CONTROL_BODY, parse_control_body, status_json
    from billing.services.queues.control import control_queue

    settings, now = get_settings(), bootstrap.clock().now()
    with unit_of_work() as uow:
        principal, headers = guard(request, session=uow.session, settings=settings, now=now)
        principal.require_write()
        command = parse_control_body(request.content_type, read_bounded(request, MAX_CONTROL_BODY))
        actor = principal.actor()
        view = control_queue(match["queue_id"], command, actor=actor, uow=uow, publisher=bootstrap.publisher(), now=now)
    return json_response(status_json(view), 200, headers)


def _cancel_invoice(request: Request, match: re.Match[str]) -> Response:
    from billing import bootstrap
    from billing.config import get_settings
    from billing.db.engine import unit_of_work
    from billing.http.body import read_bounded
    from billing.http.guard import guard
    from billing.http.queues import MAX_INVOICE_BODY, invoice_cancel_json, parse_invoice_cancel_body
    from billing.services.invoices.cancel import cancel_invoice

    settings, now = get_settings(), bootstrap.clock().now()
    with unit_of_work() as uow:
        principal, headers = guard(request, session=uow.session, settings=settings, now=now)
        principal.require_write()
        reason = parse_invoice_cancel_body(request.content_type, read_bounded(request, MAX_INVOICE_BODY))
        actor = principal.actor()
        result = cancel_invoice(match["invoice_id"], reason, actor=actor, uow=uow, now=now)
    return json_response(invoice_cancel_json(result), 200, headers)


def _close_conversation(request: Request, match: re.Match[str]) -> Response:
    from billing import bootstrap
    from billing.config import get_settings
    from billing.db.engine import unit_of_work
    from billing.http.guard import guard
    from billing.http.queues import conversation_json
    from billing.services.inbox.conversations import close_conversation

    settings, now = get_settings(), bootstrap.clock().now()
    with unit_of_work() as uow:
        principal, headers = guard(request, session=uow.session, settings=settings, now=now)
        principal.require_write()
        item = close_conversation(match["conversation_id"], actor=principal.actor(), session=uow.session, now=now)
        uow.commit()
    return json_response(conversation_json(item), 200, headers)


ROUTES = (
    route("POST", r"/api/v1/billing/queue/(?P<queue_id>[^/]+)/control", _control),
    route("POST", r"/api/v1/billing/invoices/(?P<invoice_id>[^/]+)/cancel", _cancel_invoice),
    route("POST", r"/api/v1/billing/conversations/(?P<conversation_id>[^/]+)/close", _close_conversation),
)


def control(request: Request) -> Response:
    return dispatch(request, ROUTES)
