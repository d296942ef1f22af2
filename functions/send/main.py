"""The send function: ``POST /api/v1/billing/send/{overdue|upcoming|notification}`` (CONTRACT.md 1.1).

Run with ``functions-framework --source functions/send/main.py --target send``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing.http.entry import dispatch, route
from billing.http.send_route import OPENAPI_PATH, SEND_PATH, handle_openapi, handle_send

if TYPE_CHECKING:
    from flask import Request, Response

ROUTES = (
    route("POST", SEND_PATH, handle_send),
    route("GET", OPENAPI_PATH, handle_openapi),
)
_logging_ready = False


def _configure_logging() -> None:
    global _logging_ready
    if not _logging_ready:
        from billing.config import get_settings
        from billing.logs import configure_logging

        settings = get_settings()
        configure_logging(settings.log_level, settings.log_format)
        _logging_ready = True


def send(request: Request) -> Response:
    _configure_logging()
    return dispatch(request, ROUTES)
