"""Long-running ``billing`` sub-commands: dev, connector, sim-gateway; and the broker topology."""

from __future__ import annotations

import argparse
from typing import Any

from billing.cli.common import UsageError, emit, positive


def cmd_dev(args: argparse.Namespace) -> int:
    import os

    from billing.config import get_settings
    from billing.dev.server import run_dev
    from billing.logs import configure_logging

    if "BILLING_LOG_FORMAT" not in os.environ:  # one readable line per event on a developer's terminal
        configure_logging(get_settings().log_level, "text", to="stderr", force=True)

    return run_dev(args.host, args.port)


def cmd_connector(args: argparse.Namespace) -> int:
    from billing.adapters.connector import run_connector

    if not args.sender_url and not args.sweeper_url:
        raise UsageError("give --sender-url and/or --sweeper-url (the functions to deliver tokens to)")
    if args.tick_interval is not None and not args.sweeper_url:
        raise UsageError("--tick-interval sends the sweeper's tick: give --sweeper-url too")
    run_connector(
        sender_target=args.sender_url,
        sweeper_target=args.sweeper_url,
        metrics_port=args.metrics_port,
        tick_interval_s=args.tick_interval,
    )
    return 0


def cmd_sim_gateway(args: argparse.Namespace) -> int:
    try:
        from billing.sim.server import serve
    except ImportError as exc:  # production images are built without the simulator's dependencies
        raise UsageError("the simulator needs the 'sim' extra: pip install 'billing-functions[sim]'") from exc

    instances = dict(pair.split("=", 1) for pair in args.instance or [])
    serve(args.host, args.port, global_api_key=args.global_api_key, webhook_url=args.webhook_url, instances=instances)
    return 0


def cmd_broker_declare(args: argparse.Namespace) -> int:
    """Declare the queues, dead-letter queues and exchange (platform sources expect them to exist)."""
    import pika

    from billing.adapters.topology import declare_topology
    from billing.config import get_settings
    from billing.errors import BrokerUnavailableError

    settings = get_settings()
    if not settings.rabbitmq_url:
        raise UsageError("RABBITMQ_URL is not set")
    try:
        connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    except pika.exceptions.AMQPError as exc:
        raise BrokerUnavailableError(f"cannot reach RabbitMQ: {type(exc).__name__}") from exc
    try:
        names = declare_topology(connection.channel(), settings.broker_queue_prefix)
    finally:
        connection.close()
    emit({"declared": [*names.work, *(names.dead_letter(q) for q in names.work)]})
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
    conn.add_argument(
        "--tick-interval", type=positive, help="send the sweeper a cron tick every N seconds (OpenFaaS: 60)"
    )
    conn.set_defaults(handler=cmd_connector)

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
