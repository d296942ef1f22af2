"""Instances: the tenant's WhatsApp numbers (health in words, pace, today's count against the daily cap,
active queues, what to do when the gateway refused a key) and the form that sets a new gateway key."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from billing import errors
from billing.http.console.app import Context, base_path, parse_uuid, redirect, route

if TYPE_CHECKING:
    from flask import Response


def instance_list(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.instances import instances_page

    page = instances_page(ctx.tenant.id, session=ctx.db, now=ctx.now)
    return ctx.render("instances.html", section="instances", page=page, key_errors={})


def instance_key(ctx: Context, match: re.Match[str]) -> Response:
    from billing import bootstrap
    from billing.services.console.instances import instances_page, update_key

    instance_id = parse_uuid(match["instance_id"])
    try:
        update_key(
            instance_id,
            ctx.form.get("api_key", ""),
            actor=ctx.actor(),
            uow=ctx.uow,
            # The key is committed before any token goes out: without a broker the sweeper publishes them.
            publisher=bootstrap.publisher_or_deferred(),
            secret_key=ctx.settings.billing_secret_key.get_secret_value(),
            now=ctx.now,
        )
    except errors.ValidationFailedError as exc:
        ctx.uow.rollback()
        page = instances_page(ctx.tenant.id, session=ctx.db, now=ctx.now)
        return ctx.render(
            "instances.html", status=422, section="instances", page=page, key_errors={str(instance_id): str(exc)}
        )
    return redirect(f"{base_path(ctx.request)}/instances", "saved")


ROUTES = (
    route("GET", r"/instances", instance_list),
    route("POST", r"/instances/(?P<instance_id>[^/]+)/key", instance_key, "manage"),
)
