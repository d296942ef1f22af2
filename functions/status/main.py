"""status function: the ERP's reads of a queue.

GET /api/v1/billing/queue/{queue_id}/status (CONTRACT.md 1.2) and
GET /api/v1/billing/queue/{queue_id}/contacts and GET /api/v1/billing/queues?external_id= (section 5).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from billing.http.entry import dispatch, json_response, route

if TYPE_CHECKING:
    from flask import Request, Response


def _status(request: Request, match: re.Match[str]) -> Response:
    from billing.clock import SYSTEM_CLOCK
    from billing.config import get_settings
    from billing.db.engine import autocommit_session
    from billing.http.guard import guard
    from billing.http.queues import status_json
    from billing.services.queues.status import CURSOR_PARAM, queue_status

    settings, now = get_settings(), SYSTEM_CLOCK.now()
    with autocommit_session() as session:
        principal, headers = guard(request, session=session, settings=settings, now=now, scope="read")
        view = queue_status(
            match["queue_id"],
            tenant_id=principal.tenant_id,
            session=session,
            now=now,
            failures_cursor=request.args.get(CURSOR_PARAM),
            allowed_types=principal.allowed_types,
        )
    return json_response(status_json(view), 200, headers)


def _contacts(request: Request, match: re.Match[str]) -> Response:
    from billing.clock import SYSTEM_CLOCK
    from billing.config import get_settings
    from billing.db.engine import autocommit_session
    from billing.http.guard import guard
    from billing.http.queues import contacts_json
    from billing.services.queues.contacts import list_contacts, parse_query

    args = request.args
    settings, now = get_settings(), SYSTEM_CLOCK.now()
    with autocommit_session() as session:
        principal, headers = guard(request, session=session, settings=settings, now=now, scope="read")
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
    return json_response(contacts_json(page), 200, headers)


def _queues(request: Request, match: re.Match[str]) -> Response:
    from billing.clock import SYSTEM_CLOCK
    from billing.config import get_settings
    from billing.db.engine import autocommit_session
    from billing.http.guard import guard
    from billing.http.queues import queues_json
    from billing.services.queues.status import find_by_external_id

    settings, now = get_settings(), SYSTEM_CLOCK.now()
    with autocommit_session() as session:
        principal, headers = guard(request, session=session, settings=settings, now=now, scope="read")
        views = find_by_external_id(
            request.args.get("external_id"),
            tenant_id=principal.tenant_id,
            session=session,
            now=now,
            allowed_types=principal.allowed_types,
        )
    return json_response(queues_json(views), 200, headers)


ROUTES = (
    route("GET", r"/api/v1/billing/queue/(?P<queue_id>[^/]+)/status", _status),
    route("GET", r"/api/v1/billing/queue/(?P<queue_id>[^/]+)/contacts", _contacts),
    route("GET", r"/api/v1/billing/queues", _queues),
)


def status(request: Request) -> Response:
    return dispatch(request, ROUTES)
