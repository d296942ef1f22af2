"""The console's single entry: routing, the session and CSRF checks, static files.

Every page is ``/console/...`` (any prefix an ingress keeps in front is ignored). A route names the
ability it needs (``read``, ``act``, ``manage``); every POST needs the form's CSRF token. A request opens
one database session: the operator's row, the tenants they may look at, then the page's own reads, so a
page costs a constant number of statements whatever the tenant's size.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from billing import errors
from billing.http.console.app import (
    MAX_FORM_BYTES,
    PREFIX,
    STATIC,
    Context,
    Route,
    base_path,
    error_answer,
    error_page,
    redirect,
)

if TYPE_CHECKING:
    from flask import Request, Response

logger = logging.getLogger(__name__)


def _routes() -> tuple[Route, ...]:
    from billing.http.console.pages import ROUTES

    return ROUTES


def _static(rest: str) -> Response:
    from flask import Response

    name = rest.removeprefix("/static/")
    path = (STATIC / name).resolve()
    if not re.fullmatch(r"[a-z0-9_-]+\.(css|js|svg)", name) or not path.is_file() or path.parent != STATIC.resolve():
        return error_page(404, "Página não encontrada", "Este endereço não existe no console.")
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Response(
        path.read_bytes(),
        content_type=kind + ("; charset=utf-8" if kind.startswith("text/") or kind.endswith("javascript") else ""),
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


def _check_form_size(request: Request) -> None:
    length = request.content_length
    if length is not None and length > MAX_FORM_BYTES:
        raise errors.PayloadTooLargeError(f"o formulário passa de {MAX_FORM_BYTES // 1024} KiB")
    request.max_content_length = MAX_FORM_BYTES
    request.max_form_memory_size = MAX_FORM_BYTES


def handle(request: Request) -> Response:
    """The console function: every ``/console/...`` request."""
    from billing.http.entry import ensure_logging, probe

    ensure_logging()
    answer = probe(request)  # /healthz, /metrics: as every function answers them, with no session
    if answer is not None:
        return answer
    match = PREFIX.match(request.path)
    if match is None:  # not a console path, or a prefix that is not plain path segments
        return error_page(404, "Página não encontrada", "Este endereço não existe no console.")
    rest = match["rest"] or "/"
    try:
        if rest.startswith("/static/"):
            return _static(rest)
        if request.method == "POST":
            _check_form_size(request)
        from billing.http.console import login

        if rest in ("/login", "/login/"):
            return login.login(request)
        return _signed_in(request, rest)
    except errors.BillingError as exc:
        return error_answer(exc)
    except Exception as exc:  # one place turns anything else into a logged 500
        from werkzeug.exceptions import RequestEntityTooLarge

        if isinstance(exc, RequestEntityTooLarge):
            return error_answer(errors.PayloadTooLargeError(f"o formulário passa de {MAX_FORM_BYTES // 1024} KiB"))
        return error_answer(exc)


def _signed_in(request: Request, rest: str) -> Response:
    from billing.clock import SYSTEM_CLOCK
    from billing.config import get_settings
    from billing.db.engine import unit_of_work
    from billing.http.auth import client_ip
    from billing.http.console import session as cookies
    from billing.services.console.operators import load_operator, tenants_for

    settings = get_settings()
    secret = settings.billing_secret_key.get_secret_value()
    console_session = cookies.load(request.cookies.get(cookies.COOKIE), secret_key=secret)
    base = base_path(request)
    if console_session is None:
        return redirect(f"{base}/login?next={quote(request.full_path.rstrip('?'), safe='/')}")
    found = [(r, r.pattern.match(rest)) for r in _routes()]
    matching = [(r, m) for r, m in found if m is not None]
    if not matching:
        raise errors.NotFoundError(rest)
    chosen = [(r, m) for r, m in matching if r.method == request.method]
    if not chosen:
        return error_page(405, "Método não permitido", f"{request.method} não é aceito aqui.")
    handler_route, handler_match = chosen[0]
    with unit_of_work() as uow:
        try:
            operator = load_operator(
                session=uow.session, operator_id=console_session.operator_id, session_epoch=console_session.epoch
            )
        except errors.AuthenticationError:
            return redirect(f"{base}/login", None)
        tenants = tenants_for(session=uow.session, operator=operator)
        if not tenants:
            return error_page(404, "Nenhum tenant", "Não há tenant para este operador.")
        wanted = console_session.tenant_id
        tenant = next((t for t in tenants if str(t.id) == wanted), tenants[0])
        csrf = cookies.csrf_token(console_session.nonce, secret_key=secret)
        if request.method == "POST" and not cookies.csrf_ok(
            request.form.get("csrf_token"), console_session.nonce, secret_key=secret
        ):
            logger.warning("console: form without a valid CSRF token", extra={"action": "console.csrf_refused"})
            return error_page(
                403,
                "Formulário expirado",
                "O formulário não trouxe um token válido: recarregue a página e tente de novo.",
            )
        operator.require(handler_route.ability)
        ctx = Context(
            request=request,
            settings=settings,
            now=SYSTEM_CLOCK.now(),
            uow=uow,
            operator=operator,
            console_session=console_session,
            tenant=tenant,
            tenants=tenants,
            client_ip=client_ip(
                request.remote_addr, request.headers.get("X-Forwarded-For"), trusted=settings.trusted_networks
            ),
            csrf=csrf,
        )
        return handler_route.handler(ctx, handler_match)
