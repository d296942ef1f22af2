"""Long-running ``billing`` sub-commands: dev, connector, sim-gateway; the broker topology; and ``wait``,
which holds a Job until PostgreSQL and RabbitMQ answer."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any

from billing.cli.common import UsageError, emit, positive

if TYPE_CHECKING:
    import pika

logger = logging.getLogger(__name__)


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

    if not (args.sender_url or args.sweeper_url or args.deliverer_url):
        raise UsageError("give --sender-url, --sweeper-url and/or --deliverer-url (the functions to deliver tokens to)")
    if args.tick_interval is not None and not args.sweeper_url:
        raise UsageError("--tick-interval sends the sweeper's tick: give --sweeper-url too")
    run_connector(
        sender_target=args.sender_url,
        sweeper_target=args.sweeper_url,
        deliverer_target=args.deliverer_url,
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


def _broker_connection(url: str) -> pika.BlockingConnection:
    import pika

    from billing.errors import BrokerUnavailableError

    try:
        return pika.BlockingConnection(pika.URLParameters(url))
    except (pika.exceptions.AMQPError, OSError) as exc:  # OSError: a host name that does not resolve (yet)
        raise BrokerUnavailableError(f"cannot reach RabbitMQ: {type(exc).__name__}") from exc


def cmd_broker_declare(args: argparse.Namespace) -> int:
    """Declare the queues, dead-letter queues and exchange (platform sources expect them to exist)."""
    from billing.adapters.topology import declare_topology
    from billing.config import get_settings

    settings = get_settings()
    if not settings.rabbitmq_url:
        raise UsageError("RABBITMQ_URL is not set")
    connection = _broker_connection(settings.rabbitmq_url)
    try:
        names = declare_topology(connection.channel(), settings.broker_queue_prefix)
    finally:
        connection.close()
    emit({"declared": [*names.work, *(names.dead_letter(q) for q in names.work)]})
    return 0


def _database_answers() -> None:
    import sqlalchemy as sa

    from billing.db.engine import core_connection

    with core_connection() as conn:
        conn.execute(sa.text("SELECT 1"))


def _broker_answers() -> None:
    from billing.config import get_settings

    _broker_connection(str(get_settings().rabbitmq_url)).close()


def cmd_wait(args: argparse.Namespace) -> int:
    """Wait until PostgreSQL answers a query and RabbitMQ accepts a connection (unless RABBITMQ_URL is empty).

    The first step of the Jobs: started together with (or before) the database and the broker, they wait
    instead of failing. Each is tried every ``--interval`` seconds; after ``--timeout`` the last error is
    the answer (exit 1, without the password)."""
    import time

    from billing.config import get_settings
    from billing.errors import BrokerUnavailableError, DatabaseUnavailableError

    started = time.monotonic()
    deadline = started + args.timeout
    checks = {"database": _database_answers}
    answer = {"database": "waiting", "broker": "not configured"}
    if get_settings().rabbitmq_url:
        checks["broker"] = _broker_answers
    for name, answers in checks.items():
        while True:
            try:
                answers()
                break
            except (DatabaseUnavailableError, BrokerUnavailableError) as exc:
                if time.monotonic() + args.interval > deadline:
                    raise
                logger.info("waiting for the %s: %s", name, exc, extra={"action": "wait.retry"})
                time.sleep(args.interval)
        answer[name] = "ready"
    emit({**answer, "waited_s": round(time.monotonic() - started, 1)})
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
    conn.add_argument("--deliverer-url", help="URL of the deliverer function (ERP webhooks)")
    conn.add_argument("--metrics-port", type=int, help="serve /metrics, /healthz and /livez on this port")
    conn.add_argument(
        "--tick-interval", type=positive, help="send the sweeper a cron tick every N seconds (OpenFaaS: 60)"
    )
    conn.set_defaults(handler=cmd_connector)

    wait = sub.add_parser("wait", help="wait until PostgreSQL and RabbitMQ (unless RABBITMQ_URL is empty) answer")
    wait.add_argument("--timeout", type=positive, default=300, help="seconds before giving up (exit 1)")
    wait.add_argument("--interval", type=float, default=2.0, help="seconds between tries")
    wait.set_defaults(handler=cmd_wait)

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
