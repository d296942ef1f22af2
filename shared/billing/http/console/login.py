"""Sign-in (before any session), sign-out and the tenant switch of operators of every tenant."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from billing import errors
from billing.http.console.app import Context, base_path, html_response, redirect, route

if TYPE_CHECKING:
    from flask import Request, Response

SAFE_NEXT = re.compile(r"^/[A-Za-z0-9/_\-?=&.%]*$")


def _next(request: Request, base: str) -> str:
    """Where to go after signing in: a path of the console only (never another site)."""
    wanted = request.values.get("next", "")
    if SAFE_NEXT.match(wanted) and wanted.startswith(base + "/") and "//" not in wanted:
        return wanted
    return base + "/"


def _form(request: Request, *, error: str | None, status: int, email: str = "") -> Response:
    from billing.config import get_settings
    from billing.http.console import session as cookies
    from billing.http.console.app import cookie_header, environment

    settings = get_settings()
    secret = settings.billing_secret_key.get_secret_value()
    nonce, cookie = cookies.new_login_cookie(secret_key=secret)
    base = base_path(request)
    html = (
        environment()
        .get_template("login.html")
        .render(
            csrf=cookies.csrf_token(nonce, secret_key=secret),
            error=error,
            email=email[:254],
            next=_next(request, base),
            base=base,
        )
    )
    header = cookie_header(cookies.LOGIN_COOKIE, cookie, settings=settings, max_age=cookies.LOGIN_MAX_AGE_S, path=base)
    return html_response(html, status, {"Set-Cookie": header})


def login(request: Request) -> Response:
    from billing.clock import SYSTEM_CLOCK
    from billing.config import get_settings
    from billing.db.engine import unit_of_work
    from billing.http.auth import client_ip
    from billing.http.console import session as cookies
    from billing.http.console.app import cookie_header
    from billing.services.console.operators import authenticate

    if request.method == "GET":
        return _form(request, error=None, status=200)
    if request.method != "POST":
        raise errors.NotFoundError("login")
    settings = get_settings()
    secret = settings.billing_secret_key.get_secret_value()
    email = request.form.get("email", "")
    nonce = cookies.login_nonce(request.cookies.get(cookies.LOGIN_COOKIE), secret_key=secret)
    if nonce is None or not cookies.csrf_ok(request.form.get("csrf_token"), nonce, secret_key=secret):
        return _form(request, error="O formulário expirou: tente de novo.", status=403, email=email)
    ip = client_ip(request.remote_addr, request.headers.get("X-Forwarded-For"), trusted=settings.trusted_networks)
    try:
        with unit_of_work() as uow:
            operator = authenticate(
                session=uow.session,
                email=email,
                password=request.form.get("password", ""),
                client_ip=ip,
                now=SYSTEM_CLOCK.now(),
            )
    except errors.AuthenticationError as exc:
        return _form(request, error=str(exc), status=401, email=email)
    except errors.RateLimitedError as exc:
        answer = _form(request, error=str(exc), status=429, email=email)
        answer.headers["Retry-After"] = str(exc.retry_after)
        return answer
    base = base_path(request)
    console_session = cookies.new_session(str(operator.id), operator.session_epoch, None)
    answer = redirect(_next(request, base))
    answer.headers.add(
        "Set-Cookie",
        cookie_header(
            cookies.COOKIE,
            cookies.dump(console_session, secret_key=secret),
            settings=settings,
            max_age=cookies.MAX_AGE_S,
            path=cookies.COOKIE_PATH,
        ),
    )
    answer.headers.add("Set-Cookie", cookie_header(cookies.LOGIN_COOKIE, "", settings=settings, max_age=0, path=base))
    return answer


def logout(ctx: Context, match: re.Match[str]) -> Response:
    from billing.http.console import session as cookies
    from billing.http.console.app import cookie_header
    from billing.services.console.operators import sign_out

    sign_out(session=ctx.db, operator=ctx.operator)
    base = base_path(ctx.request)
    answer = redirect(f"{base}/login")
    answer.headers.add(
        "Set-Cookie", cookie_header(cookies.COOKIE, "", settings=ctx.settings, max_age=0, path=cookies.COOKIE_PATH)
    )
    return answer


def switch_tenant(ctx: Context, match: re.Match[str]) -> Response:
    from billing.http.console import session as cookies
    from billing.http.console.app import cookie_header

    wanted = ctx.form.get("tenant", "")
    chosen = next((t for t in ctx.tenants if str(t.id) == wanted), None)
    if chosen is None:
        raise errors.NotFoundError(wanted[:40])
    secret = ctx.settings.billing_secret_key.get_secret_value()
    base = base_path(ctx.request)
    answer = redirect(f"{base}/", "tenant")
    value = cookies.dump(ctx.console_session.with_tenant(str(chosen.id)), secret_key=secret)
    answer.headers.add(
        "Set-Cookie",
        cookie_header(
            cookies.COOKIE, value, settings=ctx.settings, max_age=cookies.MAX_AGE_S, path=cookies.COOKIE_PATH
        ),
    )
    return answer


ROUTES = (
    route("POST", r"/logout", logout),
    route("POST", r"/tenant", switch_tenant),
)
