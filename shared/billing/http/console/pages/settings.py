"""Settings: business hours (several windows a weekday), closed dates, sending pace and opt-out words,
API keys (a new one is shown once) and the ERP's webhook endpoints with their latest deliveries.

Every change is a form for admins; a refused value re-renders the page (422) with the message next to
the field and the typed values kept, and changes nothing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from billing.errors import ValidationFailedError
from billing.http.console.app import Context, base_path, redirect, route

if TYPE_CHECKING:
    from flask import Response

    from billing.services.console.settings import NewKey


def _page(
    ctx: Context,
    *,
    status: int = 200,
    failed: str | None = None,
    refusal: ValidationFailedError | None = None,
    new_key: NewKey | None = None,
) -> Response:
    from billing.services.console.settings import settings_page

    page = settings_page(tenant_id=ctx.tenant.id, session=ctx.db, now=ctx.now)
    fields: dict[str, str] = {}
    typed: dict[str, Any] = {}
    if refusal is not None:
        for problem in refusal.errors:
            loc = problem.get("loc")
            if isinstance(loc, list) and loc:
                fields[str(loc[-1])] = str(problem.get("msg", ""))
        typed = {key: ctx.form.get(key, "") for key in ctx.form if key != "csrf_token"}
    return ctx.render(
        "settings.html",
        status=status,
        page=page,
        failed=failed,
        problem=str(refusal) if refusal is not None else None,
        fields=fields,
        typed=typed,
        new_key=new_key,
    )


def _refused(ctx: Context, form: str, exc: ValidationFailedError) -> Response:
    ctx.uow.rollback()
    return _page(ctx, status=422, failed=form, refusal=exc)


def _back(ctx: Context, notice: str, anchor: str) -> Response:
    return redirect(f"{base_path(ctx.request)}/settings?msg={notice}#{anchor}")


def settings(ctx: Context, match: re.Match[str]) -> Response:
    return _page(ctx)


def hours_set(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.settings import set_window

    form = ctx.form
    try:
        set_window(
            form.get("weekday"), form.get("start"), form.get("end"), form.get("mode"), actor=ctx.actor(), uow=ctx.uow
        )
    except ValidationFailedError as exc:
        return _refused(ctx, "hours", exc)
    return _back(ctx, "saved", "hours-h")


def hours_remove(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.settings import remove_day

    try:
        remove_day(ctx.form.get("weekday"), actor=ctx.actor(), uow=ctx.uow)
    except ValidationFailedError as exc:
        return _refused(ctx, "hours", exc)
    return _back(ctx, "saved", "hours-h")


def closed_dates(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.settings import close_day

    try:
        close_day(ctx.form.get("date"), ctx.form.get("reason"), actor=ctx.actor(), uow=ctx.uow, now=ctx.now)
    except ValidationFailedError as exc:
        return _refused(ctx, "closed", exc)
    return _back(ctx, "saved", "closed-h")


def closed_date_remove(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.settings import reopen_day

    try:
        reopen_day(ctx.form.get("date"), actor=ctx.actor(), uow=ctx.uow)
    except ValidationFailedError as exc:
        return _refused(ctx, "closed", exc)
    return _back(ctx, "saved", "closed-h")


def sending(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.settings import save_sending

    form = ctx.form
    try:
        save_sending(
            form.get("throttle_per_minute"),
            form.get("jitter_s"),
            form.get("daily_cap"),
            form.get("opt_out_keywords"),
            actor=ctx.actor(),
            uow=ctx.uow,
        )
    except ValidationFailedError as exc:
        return _refused(ctx, "sending", exc)
    return _back(ctx, "saved", "sending-h")


def key_create(ctx: Context, match: re.Match[str]) -> Response:
    """A new key is answered on this page, once (no redirect: nothing keeps it to show again)."""
    from billing.services.console.settings import new_api_key

    read_only = ctx.form.get("read_only", "") in ("1", "on", "true")
    try:
        created = new_api_key(ctx.form.get("name"), read_only, actor=ctx.actor(), uow=ctx.uow)
    except ValidationFailedError as exc:
        return _refused(ctx, "keys", exc)
    return _page(ctx, new_key=created)


def key_revoke(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.settings import revoke_key

    revoke_key(match["key_name"], actor=ctx.actor(), uow=ctx.uow)
    return _back(ctx, "revoked", "keys-h")


ROUTES = (
    route("GET", r"/settings", settings),
    route("POST", r"/settings/hours", hours_set, "manage"),
    route("POST", r"/settings/hours/remove", hours_remove, "manage"),
    route("POST", r"/settings/closed-dates", closed_dates, "manage"),
    route("POST", r"/settings/closed-dates/remove", closed_date_remove, "manage"),
    route("POST", r"/settings/sending", sending, "manage"),
    route("POST", r"/settings/keys", key_create, "manage"),
    route("POST", r"/settings/keys/(?P<key_name>[^/]+)/revoke", key_revoke, "manage"),
)
