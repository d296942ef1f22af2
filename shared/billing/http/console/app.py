"""What every console page uses: the request ``Context``, routes, rendering, redirects, and the one
mapping of errors onto HTML answers. ``entry`` routes requests; ``pages`` and ``login`` hold handlers.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from billing import errors
from billing.contract.console import Ability

if TYPE_CHECKING:
    from flask import Request, Response
    from jinja2 import Environment
    from sqlmodel import Session
    from werkzeug.datastructures import MultiDict

    from billing.config import Settings
    from billing.contract.console import OperatorIdentity
    from billing.contract.queues import Actor
    from billing.db.engine import UnitOfWork
    from billing.http.console.session import ConsoleSession
    from billing.services.console.operators import TenantRef

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC = HERE / "static"
MAX_FORM_BYTES = 64 * 1024
# An ingress may keep a prefix in front of /console (OpenFaaS: /function/console): plain path segments
# only, so nothing a client writes before /console can turn a redirect into another site's address.
PREFIX = re.compile(r"^(?P<prefix>(?:/[A-Za-z0-9._-]+)*?)/console(?P<rest>/.*)?$")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
# Messages a redirect may ask the next page to show (a key, never text from the URL).
NOTICES = {
    "paused": "Fila pausada.",
    "resumed": "Fila retomada.",
    "cancelled": "Fila cancelada.",
    "resent": "Contatos devolvidos à fila para reenvio.",
    "closed": "Conversa encerrada.",
    "saved": "Alterações salvas.",
    "revoked": "Chave revogada.",
    "enabled": "Ativado.",
    "disabled": "Desativado.",
    "tenant": "Tenant trocado.",
}


@dataclass
class Context:
    """One signed-in request: who, on which tenant, with which database session."""

    request: Request
    settings: Settings
    now: datetime
    uow: UnitOfWork
    operator: OperatorIdentity
    console_session: ConsoleSession
    tenant: TenantRef
    tenants: list[TenantRef]
    client_ip: str
    csrf: str
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def db(self) -> Session:
        return self.uow.session

    @property
    def form(self) -> MultiDict[str, str]:
        return self.request.form

    def actor(self) -> Actor:
        return self.operator.actor(self.tenant.id, self.client_ip)

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        notice = NOTICES.get(self.request.args.get("msg", ""))
        html = (
            environment()
            .get_template(template)
            .render(
                ctx=self,
                operator=self.operator,
                tenant=self.tenant,
                tenants=self.tenants,
                csrf=self.csrf,
                notice=notice,
                path=self.request.path,
                base=base_path(self.request),
                **values,
            )
        )
        return html_response(html, status)


Handler = Callable[[Context, re.Match[str]], "Response"]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    ability: Ability


def route(method: str, pattern: str, handler: Handler, ability: Ability = "read") -> Route:
    return Route(method, re.compile("^" + pattern + "/?$"), handler, ability)


@cache
def environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    from billing.http.console import words

    env.filters.update(words.FILTERS)
    env.globals.update(words.GLOBALS)
    return env


def html_response(html: str, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    from flask import Response

    return Response(
        html, status=status, headers={**SECURITY_HEADERS, **(headers or {})}, content_type="text/html; charset=utf-8"
    )


def redirect(location: str, notice: str | None = None) -> Response:
    from flask import Response

    if notice:
        location += ("&" if "?" in location else "?") + urlencode({"msg": notice})
    return Response("", status=303, headers={**SECURITY_HEADERS, "Location": location})


def error_page(status: int, title: str, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    html = environment().get_template("error.html").render(status=status, title=title, detail=detail)
    return html_response(html, status, headers)


def error_answer(exc: BaseException) -> Response:
    if isinstance(exc, errors.RateLimitedError):
        return error_page(429, "Muitas tentativas", str(exc), {"Retry-After": str(exc.retry_after)})
    if isinstance(exc, errors.PermissionDeniedError):
        return error_page(403, "Ação não permitida", str(exc))
    if isinstance(exc, errors.NotFoundError):
        return error_page(404, "Não encontrado", "Não há nada aqui para você: confira o endereço ou o tenant.")
    if isinstance(exc, (errors.ConflictError, errors.InvalidTransitionError)):
        return error_page(409, "Não foi possível", str(exc))
    if isinstance(exc, errors.PayloadTooLargeError):
        return error_page(413, "Formulário grande demais", str(exc))
    if isinstance(exc, errors.ValidationFailedError):
        return error_page(422, "Dados inválidos", str(exc))
    if isinstance(exc, (errors.DependencyUnavailableError, errors.ConfigurationError)):
        return error_page(503, "Indisponível", f"{exc}; tente de novo em instantes", {"Retry-After": "5"})
    logger.error(
        "console: unhandled error",
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"action": "console.unhandled", "error_type": type(exc).__name__},
    )
    return error_page(500, "Erro inesperado", "O erro foi registrado; tente de novo.")


def base_path(request: Request) -> str:
    """``/console`` with the plain path prefix the ingress kept in front of it, if any."""
    match = PREFIX.match(request.path)
    return (match["prefix"] if match else "") + "/console"


def cookie_header(name: str, value: str, *, settings: Settings, max_age: int, path: str) -> str:
    from werkzeug.http import dump_cookie

    secure = settings.environment == "production"
    return dump_cookie(name, value, max_age=max_age, path=path, httponly=True, secure=secure, samesite="Lax")


def parse_uuid(raw: str) -> uuid.UUID:
    """A path's id; anything else is simply not found."""
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise errors.NotFoundError(raw[:40]) from exc
