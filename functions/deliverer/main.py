"""deliverer function: a wake token (or a tick) posts every due ERP endpoint its events (webhooks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing.http.entry import trigger

if TYPE_CHECKING:
    from billing.adapters.broker import Token
    from flask import Request, Response


def _handle(token: Token) -> bool:
    from billing.services.webhooks_out.deliverer import handle_token

    return handle_token(token)


def deliverer(request: Request) -> Response:
    return trigger(request, _handle)
