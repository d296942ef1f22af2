"""status function: GET /api/v1/billing/queue/{queue_id}/status (CONTRACT.md 1.2)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from billing.http.entry import dispatch, json_response, route

if TYPE_CHECKING:
    from flask import Request, Response

_logging_ready = False


def _ensure_logging() -> None:
    global _logging_ready
    if not _logging_ready:
        from billing.config import get_settings
        from billing.logs import configure_logging

        settings = get_settings()
        configure_logging(settings.log_level, settings.log_format)
        _logging_ready = True


def _status(request: Request, match: re.Match[str]) -> Response:
    from billing.clock import SYSTEM_CLOCK
    from billing.config import get_settings
    from billing.db.engine import unit_of_work
    from billing.http.guard import guard
    from billing.services.status import CURSOR_PARAM, queue_status

    settings, now = get_settings(), SYSTEM_CLOCK.now()
    with unit_of_work() as uow:
        principal, headers = guard(request, session=uow.session, settings=settings, now=now)
        body = queue_status(
            match["queue_id"],
            tenant_id=principal.tenant_id,
            session=uow.session,
            now=now,
            failures_cursor=request.args.get(CURSOR_PARAM),
        )
    return json_response(body.model_dump(mode="json"), 200, headers)


ROUTES = (route("GET", r"/api/v1/billing/queue/(?P<queue_id>[^/]+)/status", _status),)


def status(request: Request) -> Response:
    _ensure_logging()
    return dispatch(request, ROUTES)
