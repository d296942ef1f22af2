"""``billing queue watch|pause|resume|cancel``: an operator follows or acts on any queue.

Control goes through the same use case as the ERP's control route and is recorded in the audit log as
done by the operator (``--as``, default: the login name).
"""

from __future__ import annotations

import argparse
import getpass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from billing.cli.common import emit

if TYPE_CHECKING:
    from billing.contract.queues import QueueStatusView

TERMINAL = frozenset({"completed", "cancelled", "failed"})


def _snapshot(queue_id: str) -> QueueStatusView:
    from billing import bootstrap
    from billing.db.engine import unit_of_work
    from billing.services.queues.operator import operator_status

    with unit_of_work() as uow:
        return operator_status(queue_id, session=uow.session, now=bootstrap.clock().now())


def _as_dict(view: QueueStatusView) -> dict[str, Any]:
    """The status as the ERP's status route writes it (times in ISO 8601, UTC as ``Z``; the page of
    failures as a list, where the view holds it as the database's JSON text)."""
    from dataclasses import asdict

    out: dict[str, Any] = {}
    for name, value in asdict(view).items():
        if name == "failures_json":
            out["failures"] = view.failures
        else:
            out[name] = _iso(value) if isinstance(value, datetime) else value
    return out


def _iso(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def cmd_queue_watch(args: argparse.Namespace) -> int:
    """A live progress bar until the queue finishes (or Ctrl-C); ``--once`` prints one JSON snapshot.

    Event-driven: the bar is redrawn when the event log says something happened (LISTEN/NOTIFY through
    ``bootstrap.event_listener``), and at the latest every ``--interval`` seconds."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    view = _snapshot(args.queue_id)
    if args.once:
        emit(_as_dict(view))
        return 0
    from billing import bootstrap

    console = Console()
    listener = bootstrap.event_listener()
    seen = listener.generation
    columns = (
        TextColumn("[bold]{task.fields[state]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("sent {task.fields[sent]} failed {task.fields[failed]} {task.fields[extra]}"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("queue", total=view.total, state="", sent=0, failed=0, extra="")
            while True:
                extra = f"resume {view.resume_at.isoformat()}" if view.resume_at else ""
                if view.paused_reason:
                    extra = f"({view.paused_reason}) {extra}"
                progress.update(
                    task,
                    completed=view.total - view.pending,
                    state=view.status,
                    sent=view.sent,
                    failed=view.failed,
                    extra=extra,
                )
                if view.status in TERMINAL:
                    break
                listener.wait(seen, args.interval)
                seen = listener.generation  # before the read: a change during it redraws again
                view = _snapshot(args.queue_id)
    except KeyboardInterrupt:
        return 130
    console.print(f"queue {view.queue_id} {view.status}: {view.sent} sent, {view.failed} failed")
    return 0


def cmd_queue_control(args: argparse.Namespace) -> int:
    """Pause, resume or cancel a queue as an operator; prints the queue's status afterwards."""
    from billing import bootstrap
    from billing.contract.queues import ControlCommand
    from billing.db.engine import unit_of_work
    from billing.services.queues.operator import operator_control

    with unit_of_work() as uow:
        view = operator_control(
            args.queue_id,
            ControlCommand(action=args.action),
            operator=args.operator,
            tenant_ref=args.tenant,
            uow=uow,
            publisher=bootstrap.publisher_or_deferred(),
            now=bootstrap.clock().now(),
        )
    emit(_as_dict(view))
    return 0


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        return "operator"


def register(sub: Any) -> None:
    queue = sub.add_parser("queue", help="follow or act on any queue").add_subparsers(dest="sub", required=True)
    watch = queue.add_parser("watch", help="live progress of a queue")
    watch.add_argument("queue_id")
    watch.add_argument(
        "--interval", type=float, default=10.0, help="the longest between refreshes (events redraw at once)"
    )
    watch.add_argument("--once", action="store_true", help="print one JSON snapshot and exit")
    watch.set_defaults(handler=cmd_queue_watch)
    show = queue.add_parser("show", help="one queue's status as JSON (the same as watch --once)")
    show.add_argument("queue_id")
    show.set_defaults(handler=cmd_queue_watch, once=True, interval=1.0)

    helps = {
        "pause": "stop sending until resumed (the message in flight is still recorded)",
        "resume": "send again from where the queue stopped",
        "cancel": "cancel every contact not yet sent; the queue ends",
    }
    for action, text in helps.items():
        parser = queue.add_parser(action, help=text)
        parser.add_argument("queue_id")
        parser.add_argument("--tenant", help="the queue's tenant (name or id); another tenant's queue is not found")
        parser.add_argument("--as", dest="operator", default=_login_name(), help="who acts, for the audit log")
        parser.set_defaults(handler=cmd_queue_control, action=action)
