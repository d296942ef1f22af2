"""Sender throughput: one sender, pacing off, against the simulator with zero latency.

    .venv/bin/python bench/deliver.py [--contacts 3000] [--json]

Creates a fresh migrated database (dropped afterwards) on the PostgreSQL of ``TEST_DATABASE_ADMIN_URL``
(default: the local one), runs the simulator in its own process (so it does not share our interpreter
lock), queues ``--contacts`` notifications and lets one sender invocation (``dispatch``) send them all.
SQL statements are counted with a ``before_cursor_execute`` listener; per message they must be constant.
The same run measures the machine's bare one-row claim-and-commit rate against the same PostgreSQL
(``claim_limit_per_s``) and reports the sender's rate as a ratio to it (``ratio_to_claim_limit``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("BILLING_SECRET_KEY", "bench-secret-key-0123456789abcdef")
os.environ.setdefault("BILLING_LOG_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _support import claim_limit_rate, scratch_database, start_simulator


def run(contacts: int) -> dict[str, float]:
    with scratch_database() as url:
        os.environ["DATABASE_URL"] = url
        process, base_url = start_simulator()
        try:
            figures = measure(base_url, contacts)
        finally:
            process.terminate()
            process.join(5)
            from billing.db.engine import dispose_engine

            dispose_engine()
        limit = claim_limit_rate(url)
        figures["claim_limit_per_s"] = round(limit, 1)
        figures["ratio_to_claim_limit"] = round(figures["messages_per_s"] / limit, 3)
        return figures


def measure(base_url: str, contacts: int) -> dict[str, float]:
    from billing.config import get_settings, reset_settings_cache
    from billing.db.engine import get_engine, unit_of_work
    from billing.services.delivery.deps import SenderDeps
    from billing.services.delivery.dispatch import dispatch
    from billing.sim.control import SimulatorClient
    from billing.testing import InMemoryBroker
    from sqlalchemy import text
    from support.factories import make_queue, make_world
    from support.sql import recorded_statements

    reset_settings_cache()
    with unit_of_work() as uow:
        world = make_world(uow.session, gateway_url=base_url)
        queue_id = make_queue(uow.session, world, contacts)
    with SimulatorClient(base_url) as sim:
        world.register(sim)
        broker = InMemoryBroker()
        deps = SenderDeps(
            settings=get_settings().model_copy(update={"pacing_disabled": True, "function_budget_s": 3600}),
            publisher=lambda: broker,
            stop_requested=lambda: False,
        )
        with recorded_statements(get_engine()) as statements:
            started, cpu_started = time.perf_counter(), time.process_time()
            result = dispatch(deps=deps)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        received = sim.send_requests()
    with unit_of_work() as uow:
        status = uow.session.execute(
            text("SELECT status FROM billing_queues WHERE id = :id"), {"id": str(queue_id)}
        ).scalar_one()
    if status != "completed" or received != contacts or result.sent != contacts:
        raise RuntimeError(f"bench run incomplete: {result} ({received} received)")
    return {
        "messages_per_s": round(contacts / elapsed, 1),
        "statements_per_message": round(len(statements) / contacts, 3),
        "cpu_ms_per_message": round(cpu / contacts * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=3000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.contacts)
    if args.json:
        keys = ("messages_per_s", "statements_per_message", "claim_limit_per_s", "ratio_to_claim_limit")
        print(json.dumps({k: figures[k] for k in keys}))
        return
    print(f"one sender, pacing off, zero gateway latency, {args.contacts} messages")
    print(f"  messages/s:              {figures['messages_per_s']:.1f}")
    print(f"  bare claim+commit/s:     {figures['claim_limit_per_s']:.1f}  (this machine's one-row limit)")
    print(f"  ratio to claim limit:    {figures['ratio_to_claim_limit']:.3f}")
    print(f"  SQL statements/message:  {figures['statements_per_message']:.3f}  (constant)")
    cpu_ms = figures["cpu_ms_per_message"]
    print(f"  sender CPU ms/message:   {cpu_ms:.3f}  (CPU-bound ceiling {1000 / cpu_ms:.0f}/s)")


if __name__ == "__main__":
    main()
