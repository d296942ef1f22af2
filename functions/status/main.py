"""status function: the ERP's reads.

GET /api/v1/billing/queue/{queue_id}/status and
GET /api/v1/billing/queue/{queue_id}/contacts, GET /api/v1/billing/queues?external_id=, and the replies
inbox: GET /api/v1/billing/conversations and GET /api/v1/billing/conversations/{id}/messages (docs/api.md).

Every route is a read: one pooled autocommit connection, the guard counting on the read budget, one
use case, its answer as JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from billing.http.entry import dispatch, json_response, route

if TYPE_CHECKING:
    from billing.http.auth import Principal
    from flask import Request, Response
    from sqlmodel import Session

Answer = Callable[["Principal", "Session", datetime], str]


def _read(request: Request, answer: Answer) -> Response:
    from billing.clock import SYSTEM_CLOCK
    from billing.config import get_settings
    from billing.db.engine import autocommit_session
    from billing.http.guard import guard

    settings, now = get_settings(), SYSTEM_CLOCK.now()
    with autocommit_session() as session:
        principal, headers = guard(request, session=session, settings=settings, now=now, scope="read")
        body = answer(principal, session, now)
    return json_response(body, 200, headers)


def _status(request: Request, match: re.Match[str]) -> Response:
    from billing.http.queues import status_json
    from billing.services.queues.status import CURSOR_PARAM, queue_status

    def answer(principal: Principal, session: Session, now: datetime) -> str:
        view = queue_status(
            match["queue_id"],
            tenant_id=principal.tenant_id,
            session=session,
            now=now,
            failures_cursor=request.args.get(CURSOR_PARAM),
            allowed_types=principal.allowed_types,
        )
        return status_json(view)

    return _read(request, answer)


def _contacts(request: Request, match: re.Match[str]) -> Response:
    from billing.http.queues import contacts_json
    from billing.services.queues.contacts import list_contacts, parse_query

    def answer(principal: Principal, session: Session, now: datetime) -> str:
        args = request.args
        query = parse_query(
            status=args.get("status"),
            invoice_id=args.get("invoice_id"),
            cursor=args.get("cursor"),
            limit=args.get("limit"),
        )
        page = list_contacts(
            match["queue_id"],
            query,
            tenant_id=principal.tenant_id,
            session=session,
            allowed_types=principal.allowed_types,
        )
        return contacts_json(page)

    return _read(request, answer)


def _queues(request: Request, match: re.Match[str]) -> Response:
    from billing.http.queues import queues_json
    from billing.services.queues.status import find_by_external_id

    def answer(principal: Principal, session: Session, now: datetime) -> str:
        views = find_by_external_id(
            request.args.get("external_id"),
            tenant_id=principal.tenant_id,
            session=session,
            now=now,
            allowed_types=principal.allowed_types,
        )
        return queues_json(views)

    return _read(request, answer)


def _conversations(request: Request, match: re.Match[str]) -> Response:
    from billing.http.queues import conversations_json
    from billing.services.inbox.conversations import list_conversations, parse_conversation_query

    def answer(principal: Principal, session: Session, now: datetime) -> str:
        args = request.args
        query = parse_conversation_query(
            state=args.get("state"), since=args.get("since"), cursor=args.get("cursor"), limit=args.get("limit")
        )
        return conversations_json(list_conversations(query, actor=principal.actor(), session=session))

    return _read(request, answer)


def _messages(request: Request, match: re.Match[str]) -> Response:
    from billing.http.queues import messages_json
    from billing.services.inbox.conversations import conversation_messages

    def answer(principal: Principal, session: Session, now: datetime) -> str:
        page = conversation_messages(
            match["conversation_id"],
            cursor=request.args.get("cursor"),
            limit=request.args.get("limit"),
            actor=principal.actor(),
            session=session,
        )
        return messages_json(page)

    return _read(request, answer)


ROUTES = (
    route("GET", r"/api/v1/billing/queue/(?P<queue_id>[^/]+)/status", _status),
    route("GET", r"/api/v1/billing/queue/(?P<queue_id>[^/]+)/contacts", _contacts),
    route("GET", r"/api/v1/billing/queues", _queues),
    route("GET", r"/api/v1/billing/conversations", _conversations),
    route("GET", r"/api/v1/billing/conversations/(?P<conversation_id>[^/]+)/messages", _messages),
)


def status(request: Request) -> Response:
    return dispatch(request, ROUTES)
