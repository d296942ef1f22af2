"""The sender function: a work token in, one leased queue worked on, 2xx out (503 to be redelivered)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import functions_framework
from billing.http.entry import trigger
from billing.services.delivery.shutdown import install_sigterm_hook

if TYPE_CHECKING:
    from billing.adapters.broker import Token
    from flask import Request, Response

install_sigterm_hook()


def _handle(token: Token) -> bool:
    from billing.services.delivery.sender import handle

    return handle(token)


@functions_framework.http
def sender(request: Request) -> Response:
    return trigger(request, _handle)
