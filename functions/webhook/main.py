"""The webhook function: ``POST /api/v1/billing/webhook/evolution/{instance_id}`` (gateway events).

Run with ``functions-framework --source functions/webhook/main.py --target webhook``. The gateway's
``byEvents`` mode appends ``/<event-name>`` to the URL; that suffix is accepted and ignored (the body
names the event).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from billing.http.entry import dispatch, json_response, route

if TYPE_CHECKING:
    from flask import Request, Response

# The per-instance secret the gateway sends (set on the instance with ``billing instance add/update``).
SECRET_HEADER = "X-Billing-Webhook-Secret"  # noqa: S105 - a header name, not a secret
WEBHOOK_PATH = r"/api/v1/billing/webhook/evolution/(?P<instance_id>[^/]+)(?:/[a-z][a-z0-9-]{0,63})?"


def handle_event(request: Request, match: re.Match[str]) -> Response:
    from billing.config import get_settings
    from billing.http.body import read_bounded
    from billing.services.inbound.webhook import handle_webhook

    result = handle_webhook(
        instance_ref=match["instance_id"],
        secret=request.headers.get(SECRET_HEADER),
        body=lambda: read_bounded(request, get_settings().max_body_bytes),  # read once the secret is good
    )
    return json_response(result.as_dict())


ROUTES = (route("POST", WEBHOOK_PATH, handle_event),)


def webhook(request: Request) -> Response:
    return dispatch(request, ROUTES)
