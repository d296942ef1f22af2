"""``billing sweep``: one sweeper tick from the command line (cron outside Kubernetes, operators);
``billing smoke``: check a deployment end to end through its public API."""

from __future__ import annotations

import argparse
from typing import Any

from billing.cli.common import emit


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run one tick and print what it did; exit 1 when work was left for the next tick."""
    from billing.services.sweep.sweeper import run_tick

    summary = run_tick()
    emit(summary.as_dict())
    return 1 if summary.publish_deferred or summary.out_of_time else 0


def cmd_smoke(args: argparse.Namespace) -> int:
    """Send one notification to a test phone through the API and follow it; exit 0 when it was sent."""
    from billing.adapters.api_client import run_smoke

    result = run_smoke(args.url, args.key, args.phone, timeout_s=args.timeout)
    emit(result.as_dict())
    return 0 if result.ok else 1


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "sweep", help="one sweeper tick: rescue stale leases, publish unpublished and due queues, check instances"
    )
    parser.set_defaults(handler=cmd_sweep)
    smoke = sub.add_parser(
        "smoke", help="send one notification to a test phone through the API and follow it to completed"
    )
    smoke.add_argument("--url", required=True, help="the API's base URL, e.g. https://billing.example.com")
    smoke.add_argument("--key", required=True, help="an API key of the tenant (allowed to send notifications)")
    smoke.add_argument("--phone", required=True, help="a phone that may receive the test message (yours)")
    smoke.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the queue to finish")
    smoke.set_defaults(handler=cmd_smoke)
