"""``billing ... list|show``, template edit/enable/disable, hours remove, instance remove, queue list.

Lists print an aligned table by default and every field as JSON with ``--json``; ``show`` prints one
object as JSON. Nothing here prints a secret: keys appear by name and prefix only.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from billing.cli.common import emit, emit_rows, in_session


def _tenant(session: Any, ref: str) -> Any:
    from billing.services import admin

    return admin.resolve_tenant(ref, session=session)


def cmd_tenant_list(args: argparse.Namespace) -> int:
    from billing.services.admin import listing

    rows = in_session(lambda session: listing.list_tenants(session=session))
    emit_rows(
        rows, ["name", "display_name", "timezone", "instances", "active_keys", "active_queues"], as_json=args.json
    )
    return 0


def cmd_tenant_show(args: argparse.Namespace) -> int:
    from billing.services.admin import listing

    emit(in_session(lambda session: listing.show_tenant(_tenant(session, args.name), session=session)))
    return 0


def _of_tenant(
    fetch: Callable[..., list[dict[str, Any]]], columns: list[str]
) -> tuple[Callable[[argparse.Namespace], int], Callable[[argparse.Namespace], int]]:
    """The ``list`` and ``show`` commands of one kind of tenant object fetched by ``fetch``."""

    def list_command(args: argparse.Namespace) -> int:
        rows = in_session(lambda session: fetch(_tenant(session, args.tenant), session=session))
        emit_rows(rows, columns, as_json=args.json)
        return 0

    def show_command(args: argparse.Namespace) -> int:
        rows = in_session(lambda session: fetch(_tenant(session, args.tenant), session=session, name=args.name))
        emit(rows[0])
        return 0

    return list_command, show_command


def _instances(tenant: Any, **kwargs: Any) -> list[dict[str, Any]]:
    from billing.services.admin import listing

    return listing.list_instances(tenant, **kwargs)


def _api_keys(tenant: Any, **kwargs: Any) -> list[dict[str, Any]]:
    from billing.services.admin import listing

    return listing.list_api_keys(tenant, **kwargs)


cmd_instance_list, cmd_instance_show = _of_tenant(
    _instances,
    ["name", "gateway_url", "gateway_instance", "health_state", "is_default", "active_queues", "next_send_at"],
)
cmd_apikey_list, cmd_apikey_show = _of_tenant(
    _api_keys, ["name", "prefix", "active", "read_only", "allowed_types", "expires_at", "last_used_at"]
)


def cmd_instance_remove(args: argparse.Namespace) -> int:
    from billing.services import admin

    def work(session: Any) -> dict[str, Any]:
        tenant = _tenant(session, args.tenant)
        admin.remove_instance(tenant, admin.resolve_instance(tenant, args.name, session=session), session=session)
        return {"removed": args.name, "tenant": tenant.name}

    emit(in_session(work))
    return 0


def cmd_template_list(args: argparse.Namespace) -> int:
    from billing.services.admin import listing

    templates = in_session(lambda session: listing.list_templates(_tenant(session, args.tenant), session=session))
    rows = [
        {
            "name": t["name"],
            "type": t["type"],
            "default": t["default"],
            "variation": v["variation"],
            "enabled": v["enabled"],
            "weight": v["weight"],
            "body": v["body"],
        }
        for t in templates
        for v in t["variations"]
    ]
    if args.json:
        emit(templates)
    else:
        emit_rows(rows, ["name", "type", "default", "variation", "enabled", "weight", "body"], as_json=False)
    return 0


def cmd_template_show(args: argparse.Namespace) -> int:
    from billing.services.admin import listing

    templates = in_session(
        lambda session: listing.list_templates(_tenant(session, args.tenant), session=session, name=args.name)
    )
    emit(templates[0])
    return 0


def cmd_template_edit(args: argparse.Namespace) -> int:
    from billing.services import admin

    def work(session: Any) -> dict[str, Any]:
        tenant = _tenant(session, args.tenant)
        return admin.edit_variation(tenant, session=session, name=args.name, position=args.variation, body=args.body)

    emit(in_session(work))
    return 0


def cmd_template_enable(args: argparse.Namespace) -> int:
    from billing.services import admin

    def work(session: Any) -> dict[str, Any]:
        tenant = _tenant(session, args.tenant)
        return admin.set_variation_enabled(
            tenant, session=session, name=args.name, position=args.variation, enabled=args.enabled
        )

    emit(in_session(work))
    return 0


def cmd_hours_remove(args: argparse.Namespace) -> int:
    from billing.domain.hours import parse_days
    from billing.errors import BusinessHoursError
    from billing.services import admin
    from billing.services.admin import listing

    try:
        days = parse_days(args.days)
    except BusinessHoursError as exc:
        from billing.cli.common import UsageError

        raise UsageError(str(exc)) from exc

    def work(session: Any) -> dict[str, Any]:
        tenant = _tenant(session, args.tenant)
        removed = admin.remove_hours(tenant, session=session, weekdays=days)
        return {
            "removed_windows": removed,
            "business_hours": listing.show_tenant(tenant, session=session)["business_hours"],
        }

    emit(in_session(work))
    return 0


def cmd_queue_list(args: argparse.Namespace) -> int:
    from billing.services.admin import listing

    def work(session: Any) -> list[dict[str, Any]]:
        tenant = _tenant(session, args.tenant) if args.tenant else None
        return listing.list_queues(session=session, tenant=tenant, status=args.status)

    rows = in_session(work)
    columns = ["id", "tenant", "template_type", "status", "total", "sent", "failed", "unknown", "pending", "created_at"]
    emit_rows(rows, columns, as_json=args.json)
    return 0


def register(sub: Any) -> None:
    """Adds list/show and the editing commands to the groups ``admin`` and ``queues`` created."""
    groups = {name: action for name, action in sub.choices.items()}

    def group(name: str) -> Any:
        parser = groups[name]
        return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))

    tenant = group("tenant")
    p = tenant.add_parser("list", help="every tenant with its instances, keys and active queues")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_tenant_list)
    p = tenant.add_parser("show", help="a tenant with its configuration, hours and closed dates (JSON)")
    p.add_argument("name")
    p.set_defaults(handler=cmd_tenant_show)

    for name, list_handler, show_handler, what in (
        ("instance", cmd_instance_list, cmd_instance_show, "WhatsApp instances (health, queues, next slot)"),
        ("apikey", cmd_apikey_list, cmd_apikey_show, "API keys by name and prefix (never the key)"),
        ("template", cmd_template_list, cmd_template_show, "templates and their variations"),
    ):
        parent = group(name)
        p = parent.add_parser("list", help=f"a tenant's {what}")
        p.add_argument("--tenant", required=True)
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=list_handler)
        p = parent.add_parser("show", help="one of them, every field (JSON)")
        p.add_argument("--tenant", required=True)
        p.add_argument("--name", required=True)
        p.set_defaults(handler=show_handler)

    p = group("instance").add_parser("remove", help="forget an instance (refused while queues use it)")
    p.add_argument("--tenant", required=True)
    p.add_argument("--name", required=True)
    p.set_defaults(handler=cmd_instance_remove)

    template = group("template")
    p = template.add_parser("edit", help="new wording for one variation (checked, with a preview)")
    p.add_argument("--tenant", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--variation", required=True, type=int, help="1-5")
    p.add_argument("--body", required=True)
    p.set_defaults(handler=cmd_template_edit)
    for action, enabled, text in (
        ("disable", False, "new batches stop using one variation"),
        ("enable", True, "use a disabled variation again"),
    ):
        p = template.add_parser(action, help=text)
        p.add_argument("--tenant", required=True)
        p.add_argument("--name", required=True)
        p.add_argument("--variation", required=True, type=int, help="1-5")
        p.set_defaults(handler=cmd_template_enable, enabled=enabled)

    p = group("hours").add_parser("remove", help="no more sending on these days")
    p.add_argument("--tenant", required=True)
    p.add_argument("--days", required=True, help="sat,sun / mon-fri ...")
    p.set_defaults(handler=cmd_hours_remove)

    p = group("queue").add_parser("list", help="the most recent queues (200 at most)")
    p.add_argument("--tenant")
    p.add_argument("--status")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_queue_list)
