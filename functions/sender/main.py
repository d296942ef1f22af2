"""The sender function: a work token in, one leased queue worked on, 2xx out (503 to be redelivered)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import functions_framework
from billing.config import get_settings
from billing.http.entry import trigger
from billing.logs import configure_logging
from billing.services.deliver import handle
from billing.services.shutdown import install_sigterm_hook

if TYPE_CHECKING:
    from flask import Request, Response

_settings = get_settings()
configure_logging(_settings.log_level, _settings.log_format)
install_sigterm_hook()


@functions_framework.http
def sender(request: Request) -> Response:
    return trigger(request, handle)
