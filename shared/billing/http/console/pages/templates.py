"""Templates: every type with its templates and variations, one variation's edit form with the live
preview (rendered by the real engine on sample data), saving a variation and turning it on or off."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from billing.errors import ValidationFailedError
from billing.http.console.app import Context, base_path, redirect, route

if TYPE_CHECKING:
    from flask import Response


def _edit_path(ctx: Context, name: str, position: int) -> str:
    return f"{base_path(ctx.request)}/templates/{quote(name, safe='')}/{position}"


def template_list(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.templates import templates_page

    page = templates_page(tenant_id=ctx.tenant.id, session=ctx.db)
    return ctx.render("templates.html", page=page)


def template_edit(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.templates import parse_position, variation_for_edit

    position = parse_position(match["position"])
    edit = variation_for_edit(match["template_name"], position, tenant_id=ctx.tenant.id, session=ctx.db)
    return ctx.render("template_edit.html", edit=edit, error=None)


def template_preview(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.templates import preview_body

    preview = preview_body(ctx.form.get("name", ""), ctx.form.get("body", ""), tenant_id=ctx.tenant.id, session=ctx.db)
    return ctx.render("_preview.html", preview=preview)


def template_save(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.templates import parse_position, save_variation, variation_for_edit

    name = match["template_name"]
    position = parse_position(match["position"])
    body = ctx.form.get("body", "")
    try:
        save_variation(name, position, body, actor=ctx.actor(), uow=ctx.uow)
    except ValidationFailedError as exc:
        ctx.uow.rollback()
        edit = variation_for_edit(name, position, tenant_id=ctx.tenant.id, session=ctx.db, body=body)
        return ctx.render("template_edit.html", status=422, edit=edit, error=str(exc))
    return redirect(_edit_path(ctx, name, position), "saved")


def template_enabled(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.templates import enable_variation, parse_enabled, parse_position

    name = match["template_name"]
    position = parse_position(match["position"])
    enabled = parse_enabled(ctx.form.get("enabled"))
    enable_variation(name, position, enabled, actor=ctx.actor(), uow=ctx.uow)
    notice = "enabled" if enabled else "disabled"
    if ctx.form.get("back") == "edit":
        return redirect(_edit_path(ctx, name, position), notice)
    return redirect(f"{base_path(ctx.request)}/templates", notice)


ROUTES = (
    route("GET", r"/templates", template_list),
    route("POST", r"/templates/preview", template_preview),
    route("GET", r"/templates/(?P<template_name>[^/]+)/(?P<position>[^/]+)", template_edit),
    route("POST", r"/templates/(?P<template_name>[^/]+)/(?P<position>[^/]+)", template_save, "manage"),
    route("POST", r"/templates/(?P<template_name>[^/]+)/(?P<position>[^/]+)/enabled", template_enabled, "manage"),
)
