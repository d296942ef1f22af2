"""control function: POST /api/v1/billing/queue/{queue_id}/control (CONTRACT.md 1.3)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from billing.http.entry import dispatch, json_response, route

if TYPE_CHECKING:
    from flask import Request, Response


def _control(request: Request, match: re.Match[str]) -> Response:
    from billing.adapters.broker import get_publisher
    from billing.clock import SYSTEM_CLOCK
    from billing.config import get_settings
    from billing.db.engine import unit_of_work
    from billing.http.guard import guard
    from billing.services.control import MAX_CONTROL_BODY, control_queue, parse_control_body

    settings, now = get_settings(), SYSTEM_CLOCK.now()
    with unit_of_work() as uow:
        principal, headers = guard(request, session=uow.session, settings=settings, now=now)
        # Read one byte past the limit so an oversized body is refused without buffering all of it.
        raw = request.stream.read(MAX_CONTROL_BODY + 1)
        command = parse_control_body(request.content_type, raw)
        body = control_queue(
            match["queue_id"], command, principal=principal, session=uow.session, publisher=get_publisher(), now=now
        )
    return json_response(body.model_dump_json(), 200, headers)


ROUTES = (route("POST", r"/api/v1/billing/queue/(?P<queue_id>[^/]+)/control", _control),)


def control(request: Request) -> Response:
    return dispatch(request, ROUTES)
