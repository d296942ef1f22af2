"""``billing sweep``: one sweeper tick from the command line (cron outside Kubernetes, operators)."""

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


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "sweep", help="one sweeper tick: rescue stale leases, publish unpublished and due queues, check instances"
    )
    parser.set_defaults(handler=cmd_sweep)
