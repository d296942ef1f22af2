"""``billing endpoint ...``: a tenant's ERP webhook endpoints (docs/events.md).

``add`` prints the endpoint with its secret, once; ``list`` a table (``--json`` for every field);
``show`` one endpoint with its latest deliveries; ``disable``, ``enable``, ``remove`` and ``replay`` the
endpoint after the change. Without RabbitMQ, the deliverer is woken by the sweeper's next tick.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from billing.cli.common import emit, emit_rows, positive

LIST_COLUMNS = ["id", "url", "events", "enabled", "last_event_id", "failing_since", "next_attempt_at"]


def _in_unit_of_work(work: Callable[[Any], Any]) -> Any:
    from billing.db.engine import unit_of_work

    with unit_of_work() as uow:
        return work(uow)


def cmd_endpoint_add(args: argparse.Namespace) -> int:
    from billing.config import get_settings
    from billing.services.webhooks_out import endpoints

    emit(
        _in_unit_of_work(
            lambda uow: endpoints.add_endpoint(
                args.tenant, uow=uow, url=args.url, events=args.events, secret=args.secret, settings=get_settings()
            )
        )
    )
    return 0


def cmd_endpoint_list(args: argparse.Namespace) -> int:
    from billing.services.webhooks_out import endpoints

    rows = _in_unit_of_work(lambda uow: endpoints.list_endpoints(args.tenant, session=uow.session))
    emit_rows(rows, LIST_COLUMNS, as_json=args.json)
    return 0


def cmd_endpoint_show(args: argparse.Namespace) -> int:
    from billing.services.webhooks_out import endpoints

    emit(_in_unit_of_work(lambda uow: endpoints.show_endpoint(args.tenant, args.id, session=uow.session)))
    return 0


def cmd_endpoint_enable(args: argparse.Namespace) -> int:
    from billing import bootstrap
    from billing.services.webhooks_out import endpoints

    publisher, now = bootstrap.publisher_or_deferred(), bootstrap.clock().now()
    emit(
        _in_unit_of_work(
            lambda uow: endpoints.set_enabled(
                args.tenant, args.id, enabled=args.enabled, uow=uow, publisher=publisher, now=now
            )
        )
    )
    return 0


def cmd_endpoint_remove(args: argparse.Namespace) -> int:
    from billing.services.webhooks_out import endpoints

    emit(_in_unit_of_work(lambda uow: endpoints.remove_endpoint(args.tenant, args.id, uow=uow)))
    return 0


def cmd_endpoint_replay(args: argparse.Namespace) -> int:
    from billing import bootstrap
    from billing.services.webhooks_out import endpoints

    publisher = bootstrap.publisher_or_deferred()
    emit(
        _in_unit_of_work(
            lambda uow: endpoints.replay(args.tenant, args.id, since=args.since, uow=uow, publisher=publisher)
        )
    )
    return 0


def register(sub: Any) -> None:
    endpoint = sub.add_parser("endpoint", help="ERP webhook endpoints (Standard Webhooks)").add_subparsers(
        dest="sub", required=True
    )
    p = endpoint.add_parser("add", help="post the tenant's events to a URL (prints the endpoint and its secret once)")
    p.add_argument("--tenant", required=True)
    p.add_argument("--url", required=True, help="https:// (plain http only to localhost, and never in production)")
    p.add_argument("--events", help="comma-separated types or groups, e.g. queue.*,contact.failed (default: all)")
    p.add_argument("--secret", help="whsec_<base64 of 24-64 bytes> (default: generated)")
    p.set_defaults(handler=cmd_endpoint_add)

    p = endpoint.add_parser("list", help="a tenant's endpoints, their cursors and failures")
    p.add_argument("--tenant", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_endpoint_list)

    for name, handler, text, options in (
        ("show", cmd_endpoint_show, "one endpoint with its latest deliveries (JSON)", {}),
        ("disable", cmd_endpoint_enable, "stop posting to an endpoint", {"enabled": False}),
        ("enable", cmd_endpoint_enable, "post again, from its cursor, failures forgotten", {"enabled": True}),
        ("remove", cmd_endpoint_remove, "forget an endpoint and its deliveries", {}),
        ("replay", cmd_endpoint_replay, "send again every event from --since on (the cursor moves back)", {}),
    ):
        p = endpoint.add_parser(name, help=text)
        p.add_argument("--tenant", required=True)
        p.add_argument("--id", required=True, help="the endpoint's id")
        if name == "replay":
            p.add_argument("--since", required=True, type=positive, help="the first event id to send again")
        p.set_defaults(handler=handler, **options)
