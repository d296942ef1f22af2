"""``billing suppression add|remove|list``: the tenant's opt-out list, by hand.

Phones are normalised like the ERP's (tenant's default region), so ``--phone "(11) 99999-8888"`` and the
``+5511999998888`` an opt-out stored are the same entry.
"""

from __future__ import annotations

import argparse
from typing import Any

from billing.cli.common import UsageError, emit, in_session


def _phone(raw: str | None, region: str) -> str | None:
    from billing.domain.phones import normalize_phone
    from billing.errors import InvalidPhoneError

    if raw is None:
        return None
    try:
        return normalize_phone(raw, region)
    except InvalidPhoneError as exc:
        raise UsageError(f"--phone {raw!r}: {exc.reason}") from exc


def _row(row: Any) -> dict[str, Any]:
    return {"phone": row.phone, "reason": row.reason, "created_at": row.created_at}


def cmd_suppression(args: argparse.Namespace) -> int:
    from billing.services import admin
    from billing.services.inbound import suppression

    if args.sub in {"add", "remove"} and not args.phone:
        raise UsageError(f"suppression {args.sub} needs --phone")

    def work(session: Any) -> Any:
        tenant = admin.resolve_tenant(args.tenant, session=session)
        phone = _phone(args.phone, admin.get_config(tenant.id, session=session).default_region)
        if args.sub == "list":
            return [_row(r) for r in suppression.list_suppressions(tenant.id, session=session, phone=phone)]
        assert phone is not None
        if args.sub == "add":
            added = suppression.suppress(tenant.id, phone, session=session, reason=args.reason)
            return {"phone": phone, "suppressed": True, "changed": added}
        removed = suppression.unsuppress(tenant.id, phone, session=session)
        return {"phone": phone, "suppressed": False, "changed": removed}

    emit(in_session(work))
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("suppression", help="phones that opted out and are never messaged")
    actions = parser.add_subparsers(dest="sub", required=True)
    add = actions.add_parser("add", help="stop messaging a phone")
    add.add_argument("--reason", default="added by an operator")
    remove = actions.add_parser("remove", help="allow messaging a phone again")
    listing = actions.add_parser("list", help="the tenant's suppressed phones (or one of them)")
    for action in (add, remove, listing):
        action.add_argument("--tenant", required=True)
        action.add_argument("--phone")
        action.set_defaults(handler=cmd_suppression)
