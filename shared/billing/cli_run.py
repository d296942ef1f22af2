"""Long-running ``billing`` sub-commands: dev, connector, sim-gateway."""

from __future__ import annotations

import argparse
from typing import Any

from billing import cli


def cmd_dev(args: argparse.Namespace) -> int:
    from billing.dev.server import run_dev

    return run_dev(args.host, args.port)


def cmd_connector(args: argparse.Namespace) -> int:
    from billing.connector import run_connector

    if not args.sender_url and not args.sweeper_url:
        raise cli.UsageError("give --sender-url and/or --sweeper-url (the functions to deliver tokens to)")
    run_connector(sender_target=args.sender_url, sweeper_target=args.sweeper_url, metrics_port=args.metrics_port)
    return 0


def cmd_sim_gateway(args: argparse.Namespace) -> int:
    from billing.sim.server import serve

    instances = dict(pair.split("=", 1) for pair in args.instance or [])
    serve(args.host, args.port, global_api_key=args.global_api_key, webhook_url=args.webhook_url, instances=instances)
    return 0


TERMINAL = frozenset({"completed", "cancelled", "failed"})


def _snapshot(queue_id: str) -> dict[str, Any]:
    from datetime import UTC, datetime

    from billing.db.engine import unit_of_work
    from billing.services.watch import operator_status

    with unit_of_work() as uow:
        return operator_status(queue_id, session=uow.session, now=datetime.now(UTC)).model_dump(mode="json")


def cmd_queue_watch(args: argparse.Namespace) -> int:
    """A live progress bar until the queue finishes (or Ctrl-C); ``--once`` prints one JSON snapshot."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    status = _snapshot(args.queue_id)
    if args.once:
        cli._emit(status)
        return 0
    console = Console()
    columns = (
        TextColumn("[bold]{task.fields[state]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("sent {task.fields[sent]} failed {task.fields[failed]} {task.fields[extra]}"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("queue", total=status["total"], state="", sent=0, failed=0, extra="")
            while True:
                extra = f"resume {status['resume_at']}" if status.get("resume_at") else ""
                if status.get("paused_reason"):
                    extra = f"({status['paused_reason']}) {extra}"
                progress.update(
                    task,
                    completed=status["total"] - status["pending"],
                    state=status["status"],
                    sent=status["sent"],
                    failed=status["failed"],
                    extra=extra,
                )
                if status["status"] in TERMINAL:
                    break
                time.sleep(args.interval)
                status = _snapshot(args.queue_id)
    except KeyboardInterrupt:
        return 130
    console.print(f"queue {status['queue_id']} {status['status']}: {status['sent']} sent, {status['failed']} failed")
    return 0


def cmd_broker_declare(args: argparse.Namespace) -> int:
    """Declare the queues, dead-letter queues and exchange (platform sources expect them to exist)."""
    import pika

    from billing.adapters.topology import declare_topology
    from billing.config import get_settings
    from billing.errors import BrokerUnavailableError

    settings = get_settings()
    if not settings.rabbitmq_url:
        raise cli.UsageError("RABBITMQ_URL is not set")
    try:
        connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    except pika.exceptions.AMQPError as exc:
        raise BrokerUnavailableError(f"cannot reach RabbitMQ: {type(exc).__name__}") from exc
    try:
        names = declare_topology(connection.channel(), settings.broker_queue_prefix)
    finally:
        connection.close()
    cli._emit({"declared": [*names.work, *(names.dead_letter(q) for q in names.work)]})
    return 0


def _instance_pair(value: str) -> str:
    if "=" not in value or value.startswith("="):
        raise argparse.ArgumentTypeError(f"expected NAME=TOKEN, got {value!r}")
    return value


def register(sub: Any) -> None:
    dev = sub.add_parser("dev", help="the whole function set locally behind one base URL")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8080)
    dev.set_defaults(handler=cmd_dev)

    conn = sub.add_parser("connector", help="RabbitMQ -> trigger functions bridge")
    conn.add_argument("--sender-url", help="URL of the sender function")
    conn.add_argument("--sweeper-url", help="URL of the sweeper function")
    conn.add_argument("--metrics-port", type=int, help="serve /metrics, /healthz and /livez on this port")
    conn.set_defaults(handler=cmd_connector)

    queue = sub.add_parser("queue", help="operator views of a queue").add_subparsers(dest="sub", required=True)
    watch = queue.add_parser("watch", help="live progress of a queue")
    watch.add_argument("queue_id")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    watch.add_argument("--once", action="store_true", help="print one JSON snapshot and exit")
    watch.set_defaults(handler=cmd_queue_watch)

    broker = sub.add_parser("broker", help="RabbitMQ topology").add_subparsers(dest="sub", required=True)
    declare = broker.add_parser("declare", help="declare every queue, dead-letter queue and exchange")
    declare.set_defaults(handler=cmd_broker_declare)

    sim = sub.add_parser("sim-gateway", help="Evolution API simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8089)
    sim.add_argument("--global-api-key")
    sim.add_argument("--webhook-url", help="where to post messages.update receipts")
    sim.add_argument("--instance", action="append", type=_instance_pair, help="NAME=TOKEN to create at start")
    sim.set_defaults(handler=cmd_sim_gateway)


cli.EXTENSIONS.append(register)
