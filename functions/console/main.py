"""console function: the operator console's pages under /console/ (docs/console.md).

Server-rendered HTML for the finance team: sign-in with an operator account, queues with live progress,
the replies inbox, instances, templates and settings. Everything it serves (styles, script) comes from
the package; nothing from a CDN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Request, Response


def console(request: Request) -> Response:
    from billing.http.console.entry import handle

    return handle(request)
