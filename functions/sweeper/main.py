"""sweeper function: a cron tick runs one sweep; check_recovery / check_stale tokens run one step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing.http.entry import trigger

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


def sweeper(request: Request) -> Response:
    from billing.services.sweep import handle_token

    _ensure_logging()
    return trigger(request, handle_token)
