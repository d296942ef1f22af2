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
    run_connector(sender_target=args.sender_url, sweeper_target=args.sweeper_url)
    return 0


def cmd_sim_gateway(args: argparse.Namespace) -> int:
    from billing.sim.server import serve

    instances = dict(pair.split("=", 1) for pair in args.instance or [])
    serve(args.host, args.port, global_api_key=args.global_api_key, webhook_url=args.webhook_url, instances=instances)
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
    conn.set_defaults(handler=cmd_connector)

    sim = sub.add_parser("sim-gateway", help="Evolution API simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8089)
    sim.add_argument("--global-api-key")
    sim.add_argument("--webhook-url", help="where to post messages.update receipts")
    sim.add_argument("--instance", action="append", type=_instance_pair, help="NAME=TOKEN to create at start")
    sim.set_defaults(handler=cmd_sim_gateway)


cli.EXTENSIONS.append(register)
