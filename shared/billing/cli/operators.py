"""``billing operator ...``: the people who sign in to the web console (docs/console.md).

``create`` prints the operator and, once, the password (generated unless ``--password-from-env`` names
a variable holding one); ``list`` a table (``--json``); ``set`` changes a role or resets a forgotten
password (``--new-password`` prints a generated one once); ``set``, ``disable`` and ``enable`` also end
every session the operator holds.
"""

from __future__ import annotations

import argparse
from typing import Any

from billing.cli.common import emit, emit_rows, in_session, secret_from_env

LIST_COLUMNS = ["email", "role", "tenant", "active", "last_login_at", "created_at"]


def cmd_operator_create(args: argparse.Namespace) -> int:
    from billing.services import admin
    from billing.services.console.operators import create_operator

    password = secret_from_env(args.password_from_env) if args.password_from_env else None

    def work(session: Any) -> dict[str, Any]:
        tenant_id = None if args.all else admin.resolve_tenant(args.tenant, session=session).id
        created = create_operator(
            session=session,
            email=args.email,
            role=args.role,
            tenant_id=tenant_id,
            password=password,
            if_missing=args.if_missing,
        )
        if created is None:
            return {"email": args.email.strip(), "created": False}
        answer = {**created.operator, "created": True}
        if password is None:  # generated: shown once, never stored in clear
            answer["password"] = created.password
        return answer

    emit(in_session(work))
    return 0


def cmd_operator_list(args: argparse.Namespace) -> int:
    from billing.services import admin
    from billing.services.console.operators import list_operators

    def work(session: Any) -> list[dict[str, Any]]:
        tenant_id = admin.resolve_tenant(args.tenant, session=session).id if args.tenant else None
        return list_operators(session=session, tenant_id=tenant_id)

    emit_rows(in_session(work), LIST_COLUMNS, as_json=args.json)
    return 0


def cmd_operator_active(args: argparse.Namespace) -> int:
    from billing.services.console.operators import set_operator_active

    emit(in_session(lambda session: set_operator_active(session=session, email=args.email, active=args.active)))
    return 0


def cmd_operator_set(args: argparse.Namespace) -> int:
    from billing.services.console.operators import update_operator

    password = secret_from_env(args.password_from_env) if args.password_from_env else None
    emit(
        in_session(
            lambda session: update_operator(
                session=session, email=args.email, role=args.role, password=password, new_password=args.new_password
            )
        )
    )
    return 0


def register(sub: Any) -> None:
    operator = sub.add_parser("operator", help="console operators (sign in at /console/)").add_subparsers(
        dest="operator_command", required=True
    )
    p = operator.add_parser("create", help="create an operator; prints the password once")
    p.add_argument("--email", required=True)
    scope = p.add_mutually_exclusive_group(required=True)
    scope.add_argument("--tenant", help="the tenant (name or id) the operator works for")
    scope.add_argument("--all", action="store_true", help="an operator of every tenant")
    p.add_argument(
        "--role",
        choices=("viewer", "operator", "admin"),
        default="operator",
        help="viewer reads; operator also acts on queues and conversations; admin also manages the setup",
    )
    p.add_argument("--password-from-env", metavar="VAR", help="read the password from $VAR (not printed)")
    p.add_argument("--if-missing", action="store_true", help="do nothing when the email already exists")
    p.set_defaults(handler=cmd_operator_create)
    p = operator.add_parser("list", help="operators, of one tenant with --tenant")
    p.add_argument("--tenant")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_operator_list)
    p = operator.add_parser("set", help="change an operator's role or password (ends their sessions)")
    p.add_argument("--email", required=True)
    p.add_argument("--role", choices=("viewer", "operator", "admin"))
    secret = p.add_mutually_exclusive_group()
    secret.add_argument("--password-from-env", metavar="VAR", help="the new password, read from $VAR (not printed)")
    secret.add_argument("--new-password", action="store_true", help="generate a new password, printed once")
    p.set_defaults(handler=cmd_operator_set)
    for name, active in (("disable", False), ("enable", True)):
        p = operator.add_parser(name, help=f"{name} an operator (ends their sessions)")
        p.add_argument("--email", required=True)
        p.set_defaults(handler=cmd_operator_active, active=active)
