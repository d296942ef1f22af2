"""sweeper function: a cron tick runs one sweep; a check_recovery token checks one instance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing.http.entry import trigger

if TYPE_CHECKING:
    from billing.adapters.broker import Token
    from flask import Request, Response


def _handle(token: Token) -> bool:
    from billing.services.sweep.sweeper import handle_token

    return handle_token(token)


def sweeper(request: Request) -> Response:
    return trigger(request, _handle)
