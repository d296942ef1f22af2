"""Queues: the list (filters, live progress, reasons in words) and one queue with its contacts and
actions (pause, resume, cancel, resend)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from billing.http.console.app import Context, base_path, parse_uuid, redirect, route

if TYPE_CHECKING:
    from flask import Response

    from billing.contract.queues import QueueStatusView


def queue_list(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.queues import parse_filter, queue_list

    args = ctx.request.args
    query = parse_filter(status=args.get("status"), template_type=args.get("type"), cursor=args.get("cursor"))
    page = queue_list(query, tenant_id=ctx.tenant.id, session=ctx.db, now=ctx.now)
    return ctx.render("queues.html", page=page, query=query)


def progress_of(view: QueueStatusView, tz: str) -> dict[str, object]:
    """What the live progress bar shows of a queue (the page's script asks for it on each event)."""
    from billing.http.console import words

    return {
        "id": view.queue_id,
        "status": view.status,
        "status_words": words.QUEUE_STATUS.get(view.status, view.status),
        "reason": words.queue_reason(view.status, view.paused_reason, view.resume_at, None, tz),
        "percent": int(view.progress * 100),
        "total": view.total,
        "sent": view.sent,
        "failed": view.failed,
        "unknown": view.unknown,
        "pending": view.pending,
        "eta": words.local(view.estimated_completion, tz) if view.estimated_completion else "—",
    }


def queue_progress(ctx: Context, match: re.Match[str]) -> Response:
    from billing.http.console.app import html_response
    from billing.services.queues.status import queue_status

    view = queue_status(parse_uuid(match["queue_id"]), tenant_id=ctx.tenant.id, session=ctx.db, now=ctx.now)
    answer = html_response(json.dumps(progress_of(view, ctx.tenant.timezone)))
    answer.content_type = "application/json"
    return answer


def queue_page(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.queues import queue_detail

    args = ctx.request.args
    detail = queue_detail(
        parse_uuid(match["queue_id"]),
        status=args.get("status"),
        invoice_id=args.get("invoice_id"),
        cursor=args.get("cursor"),
        tenant_id=ctx.tenant.id,
        session=ctx.db,
        now=ctx.now,
    )
    return ctx.render("queue.html", detail=detail, view=detail.view)


def queue_control(ctx: Context, match: re.Match[str]) -> Response:
    from billing import bootstrap
    from billing.services.console.queues import command_of
    from billing.services.queues.control import control_queue

    queue_id = parse_uuid(match["queue_id"])
    action = ctx.form.get("action", "")
    command = command_of(action, statuses=ctx.form.getlist("statuses"))
    publisher = bootstrap.publisher_or_deferred()  # without a broker the sweeper publishes the resumed queue
    control_queue(queue_id, command, actor=ctx.actor(), uow=ctx.uow, publisher=publisher, now=ctx.now)
    notice = {"pause": "paused", "resume": "resumed", "cancel": "cancelled", "resend": "resent"}[action]
    return redirect(f"{base_path(ctx.request)}/queues/{queue_id}", notice)


ROUTES = (
    route("GET", r"/", queue_list),
    route("GET", r"/queues", queue_list),
    route("GET", r"/queues/(?P<queue_id>[^/]+)", queue_page),
    route("GET", r"/queues/(?P<queue_id>[^/]+)/progress", queue_progress),
    route("POST", r"/queues/(?P<queue_id>[^/]+)/control", queue_control, "act"),
)
