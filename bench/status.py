"""Status (or contacts) route throughput with 1,000,000 contact rows in the database.

    .venv/bin/python bench/status.py [--route status|contacts] [--seconds 10] [--clients 16]
                                     [--contacts 1000000] [--json]

``--route contacts`` asks for pages of 100 contacts (``GET /queue/{id}/contacts?limit=100``) starting at a
random depth of a random queue (a cursor built for a random position), one in four filtered by
``status=failed,unknown``. Target: p50 <= 20 ms with 16 clients.

Creates a fresh migrated database, fills it with one INSERT ... SELECT generate_series (20 queues, 0.5%
of contacts failed so every answer carries a full failure page), starts the status function under
``functions-framework`` as one replica per CPU (one gunicorn worker with ``--threads`` threads each, as
pods would run it), and drives it with closed-loop keep-alive HTTP clients asking for random queues,
spread evenly over the replicas as a service spreads requests over pods. (One gunicorn with several
workers leaves the split of connections between workers to an accept race, and an uneven split made
the median a matter of luck: 18.6 ms at 1,201 requests/s in one run, where the mean was 13.3 ms.)
Every request is authenticated and rate-limited like production.
Targets (status): p50 <= 15 ms and >= 400 requests/s with 16 clients. ``--json`` prints only
``{"route": ..., "p50_ms": ..., "p99_ms": ..., "requests_per_s": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
from _support import HttpConnection, free_port, scratch_database, started

ROOT = Path(__file__).resolve().parents[1]
QUEUES = 20
SECRET = "bench-secret-key-0123456789abcdef"

_SEED = """
WITH t AS (SELECT id FROM tenants LIMIT 1),
tpl AS (SELECT id FROM templates WHERE template_type = 'overdue' AND is_default LIMIT 1),
inst AS (SELECT id FROM whatsapp_instances LIMIT 1),
camp AS (
    INSERT INTO billing_campaigns (id, tenant_id, external_id, request_hash, template_id, instance_id,
                                   template_type, priority)
    SELECT gen_random_uuid(), t.id, 'bench-' || g, md5(g::text), tpl.id, inst.id, 'overdue', 10
    FROM t, tpl, inst, generate_series(1, %(queues)s) g
    RETURNING id, tenant_id, instance_id
)
INSERT INTO billing_queues (id, tenant_id, campaign_id, instance_id, template_type, priority, status, total,
                            sent, failed, cancelled, unknown, expired, skipped, delivered, read, started_at)
SELECT gen_random_uuid(), tenant_id, id, instance_id, 'overdue', 10, 'running', %(per_queue)s,
       0, 0, 0, 0, 0, 0, 0, 0, now()
FROM camp
"""
_CONTACTS = """
INSERT INTO billing_contacts (id, tenant_id, queue_id, position, phone, name, invoice_id, message, rendered_on,
                              status, attempts, last_error)
SELECT gen_random_uuid(), q.tenant_id, q.id, g, '+55119' || lpad(g::text, 8, '0'), 'Cliente ' || g, 'NF-' || g,
       'Olá Cliente, sua fatura NF-' || g || ' venceu.', current_date,
       CASE WHEN g %% 200 = 7 THEN 'failed' WHEN g < %(per_queue)s / 2 THEN 'sent' ELSE 'pending' END,
       CASE WHEN g < %(per_queue)s / 2 THEN 1 ELSE 0 END,
       CASE WHEN g %% 200 = 7 THEN 'number is not on WhatsApp' END
FROM billing_queues q CROSS JOIN generate_series(0, %(per_queue)s - 1) g
"""
_COUNTERS = """
UPDATE billing_queues q SET sent = c.sent, failed = c.failed
FROM (SELECT queue_id, count(*) FILTER (WHERE status = 'sent') AS sent,
             count(*) FILTER (WHERE status = 'failed') AS failed
      FROM billing_contacts GROUP BY queue_id) c
WHERE q.id = c.queue_id
"""


def prepare_database(url: str, contacts: int, log: bool) -> tuple[str, list[str]]:
    """Fill the (migrated) database; returns an API key and the queue ids."""
    os.environ.update(DATABASE_URL=url, BILLING_SECRET_KEY=SECRET)
    from billing.config import reset_settings_cache
    from billing.db.engine import dispose_engine, unit_of_work
    from billing.services import admin

    reset_settings_cache()
    with unit_of_work() as uow:
        tenant = admin.create_tenant("bench", session=uow.session)
        admin.add_instance(tenant, session=uow.session, name="loja", url="http://127.0.0.1:1", api_key="k",
                           secret_key=SECRET)  # fmt: skip
        _, key = admin.create_api_key(tenant, session=uow.session, name="bench", rate_limit=10**9)
        # Reads count on their own budget (status, contacts): the highest a tenant may have.
        admin.set_config(tenant, session=uow.session, api_read_rate_limit_per_minute=100_000)
        uow.commit()
    dispose_engine()
    per_queue = contacts // QUEUES
    started = time.perf_counter()
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(_SEED, {"queues": QUEUES, "per_queue": per_queue})
            cur.execute(_CONTACTS, {"per_queue": per_queue})
            cur.execute(_COUNTERS)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
            # Settle the seed's writes so the checkpointer does not flush them during the run.
            with contextlib.suppress(psycopg2.errors.InsufficientPrivilege):
                cur.execute("CHECKPOINT")
            cur.execute("SELECT id FROM billing_queues")
            queues = [str(r[0]) for r in cur.fetchall()]
            cur.execute("SELECT count(*) FROM billing_contacts")
            total = cur.fetchone()[0]  # type: ignore[index]
    finally:
        conn.close()
    if log:
        sys.stderr.write(f"seeded {total:,} contacts in {time.perf_counter() - started:.1f} s\n")
    return key, queues


def start_server(url: str, port: int, threads: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "BILLING_SECRET_KEY": SECRET,
        "BILLING_LOG_LEVEL": "WARNING",
        "BILLING_IP_RATE_LIMIT_PER_MINUTE": str(10**9),
        "BILLING_DB_POOL_SIZE": str(threads),
        "WORKERS": "1",
        "THREADS": str(threads),
    }
    command = [
        str(Path(sys.executable).parent / "functions-framework"),
        "--source", str(ROOT / "functions/status/main.py"), "--target", "status", "--port", str(port),
    ]  # fmt: skip
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    return started(server, port, what="the status function")  # type: ignore[no-any-return]


def _path(route: str, rng: random.Random, queues: list[str], per_queue: int) -> str:
    queue = rng.choice(queues)
    if route == "status":
        return f"/api/v1/billing/queue/{queue}/status"
    from billing.services.queues.contacts import encode_cursor

    query = f"limit=100&cursor={encode_cursor(rng.randrange(per_queue))}"
    if rng.random() < 0.25:
        query += "&status=failed,unknown"
    return f"/api/v1/billing/queue/{queue}/contacts?{query}"


async def _load(
    ports: list[int], key: str, queues: list[str], clients: int, seconds: float, route: str, per_queue: int
) -> tuple[list[float], dict[int, int], str]:
    """``clients`` closed-loop clients, spread evenly over the replicas like a service's balancer."""
    latencies: list[float] = []
    errors: dict[int, int] = {}
    sample = ""
    deadline = time.perf_counter() + seconds

    async def client(seed: int) -> None:
        nonlocal sample
        rng = random.Random(seed)
        port = ports[seed % len(ports)]
        headers = f"Host: 127.0.0.1:{port}\r\nX-Billing-API-Key: {key}\r\n"
        connection = HttpConnection("127.0.0.1", port, headers)
        try:
            while time.perf_counter() < deadline:
                path = _path(route, rng, queues, per_queue)
                started = time.perf_counter()
                status, body = await connection.get(path)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors[status] = errors.get(status, 0) + 1
                    sample = sample or body.decode(errors="replace")[:300]
        finally:
            connection.close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return latencies, errors, sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--route", choices=["status", "contacts"], default="status")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument(
        "--replicas",
        type=int,
        default=os.cpu_count() or 1,
        help="function processes, as pods of one gunicorn worker each (default: one per CPU)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="gunicorn threads per replica (more adds interpreter-lock contention on few cores)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", action="store_true", help="print only the JSON figures")
    args = parser.parse_args()

    servers: list[subprocess.Popen[bytes]] = []
    with scratch_database(keep=args.keep) as url:
        try:
            key, queues = prepare_database(url, args.contacts, log=not args.json)
            ports = [free_port() for _ in range(args.replicas)]
            servers.extend(start_server(url, port, args.threads) for port in ports)
            per_queue = args.contacts // QUEUES
            warm = (ports, key, queues, args.clients, 2.0, args.route, per_queue)
            asyncio.run(_load(*warm))  # warm every replica's pool and caches
            started = time.perf_counter()
            latencies, errors, sample = asyncio.run(
                _load(ports, key, queues, args.clients, args.seconds, args.route, per_queue)
            )
            elapsed = time.perf_counter() - started
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=10)

    quantiles = statistics.quantiles(latencies, n=100)
    figures: dict[str, object] = {
        "route": args.route,
        "p50_ms": round(quantiles[49] * 1000, 2),
        "p99_ms": round(quantiles[98] * 1000, 2),
        "requests_per_s": round(len(latencies) / elapsed, 1),
    }
    if args.json:
        print(json.dumps(figures))
        return
    target = "<= 15" if args.route == "status" else "<= 20"
    print(f"{args.route} route, {args.contacts:,} contacts, {args.clients} clients, {args.seconds:.0f} s, "
          f"{args.replicas} replica(s) x {args.threads} threads")  # fmt: skip
    print(f"  requests/s   {figures['requests_per_s']:>10,.1f}   {'target >= 400' if args.route == 'status' else ''}")
    print(f"  p50 (ms)     {figures['p50_ms']:>10.2f}   target {target}")
    print(f"  p99 (ms)     {figures['p99_ms']:>10.2f}")
    print(f"  non-200      {sum(errors.values()):>10}   {errors or ''}")
    if sample:
        print(f"  first non-200 body: {sample}")


if __name__ == "__main__":
    main()
