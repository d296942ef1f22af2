"""Inbox: the customers who answered a reminder (most recent first), one conversation with its messages,
and closing it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from billing.http.console.app import Context, base_path, parse_uuid, redirect, route

if TYPE_CHECKING:
    from flask import Response


def inbox_list(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.inbox import STATES, inbox_page

    args = ctx.request.args
    page = inbox_page(state=args.get("state"), cursor=args.get("cursor"), actor=ctx.actor(), session=ctx.db)
    return ctx.render("inbox.html", section="inbox", page=page, states=STATES)


def conversation(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.inbox import conversation_page

    detail = conversation_page(
        parse_uuid(match["conversation_id"]), cursor=ctx.request.args.get("cursor"), actor=ctx.actor(), session=ctx.db
    )
    return ctx.render("inbox_conversation.html", section="inbox", detail=detail, conversation=detail.conversation)


def close_conversation(ctx: Context, match: re.Match[str]) -> Response:
    from billing.services.console.inbox import close

    close(parse_uuid(match["conversation_id"]), actor=ctx.actor(), uow=ctx.uow, now=ctx.now)
    return redirect(f"{base_path(ctx.request)}/inbox", "closed")


ROUTES = (
    route("GET", r"/inbox", inbox_list),
    route("GET", r"/inbox/(?P<conversation_id>[^/]+)", conversation),
    route("POST", r"/inbox/(?P<conversation_id>[^/]+)/close", close_conversation, "act"),
)
