"""The send function: ``POST /api/v1/billing/send/{overdue|upcoming|notification}`` and
``GET /api/v1/billing/openapi.json`` (docs/api.md).

Run with ``functions-framework --source functions/send/main.py --target send``. Handlers are imported on
first use, so a cold start that only answers probes stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing.http.entry import dispatch, lazy, route

if TYPE_CHECKING:
    from flask import Request, Response

ROUTES = (
    route(
        "POST",
        r"/api/v1/billing/send/(?P<type>overdue|upcoming|notification)",
        lazy("billing.http.send_route", "handle_send"),
    ),
    route("GET", r"/api/v1/billing/openapi\.json", lazy("billing.http.send_route", "handle_openapi")),
)


def send(request: Request) -> Response:
    return dispatch(request, ROUTES)
