"""End-to-end latency of the send function: HTTP -> validate -> render -> one transaction -> publish.

Starts what it needs: a fresh migrated database (from TEST_DATABASE_ADMIN_URL or the local postgres),
a functions-framework send server in a subprocess, and uses the local RabbitMQ (queues with a unique
prefix, deleted afterwards).

.venv/bin/python bench/ingest.py          # table with targets
.venv/bin/python bench/ingest.py --json   # {"p50_ms_1000": ..., "p50_ms_10000": ..., "contacts_per_s_10000": ...}
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from _support import free_port, scratch_database

ROOT = Path(__file__).resolve().parents[1]
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
SECRET = "bench-secret-key-0123456789abcdef"
SIZES = {1: 30, 100: 20, 1000: 10, 10_000: 5}  # contacts -> measured requests
AREAS = (11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42, 43, 44, 45, 46,
         47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85,
         86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99)  # fmt: skip
TARGET_P50_MS = {1000: 300.0, 10_000: 2000.0}


def seed(url: str) -> str:
    os.environ.update(DATABASE_URL=url, BILLING_SECRET_KEY=SECRET)
    from billing.config import reset_settings_cache
    from billing.db.engine import dispose_engine, unit_of_work
    from billing.services import admin

    reset_settings_cache()
    with unit_of_work() as uow:
        tenant = admin.create_tenant("bench", session=uow.session, display_name="Loja Bench")
        admin.add_instance(
            tenant, session=uow.session, name="loja", url="http://127.0.0.1:1", api_key="k", secret_key=SECRET
        )
        _, key = admin.create_api_key(tenant, session=uow.session, name="bench", rate_limit=100_000)
        uow.commit()
    dispose_engine()
    return key


@contextmanager
def send_server(url: str, prefix: str) -> Iterator[str]:
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=url,
        RABBITMQ_URL=RABBITMQ_URL,
        BILLING_SECRET_KEY=SECRET,
        BILLING_BROKER_QUEUE_PREFIX=prefix,
        BILLING_IP_RATE_LIMIT_PER_MINUTE="1000000",
        BILLING_LOG_LEVEL="WARNING",
    )
    cmd = [str(Path(sys.executable).with_name("functions-framework")), "--source", "functions/send/main.py",
           "--target", "send", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("send server did not start: " + (proc.stderr.read().decode() if proc.stderr else ""))
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def delete_queues(prefix: str) -> None:
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        ch = conn.channel()
        for kind in ("overdue", "upcoming", "notification", "resume", "check_recovery"):
            ch.queue_delete(f"{prefix}.{kind}")
            ch.queue_delete(f"{prefix}.{kind}.dlq")
        ch.exchange_delete(f"{prefix}.dlx")
    finally:
        conn.close()


def body(n: int) -> bytes:
    due = (datetime.now(ZoneInfo("America/Sao_Paulo")).date() - timedelta(days=7)).isoformat()
    contacts = [
        {
            "phone": f"({AREAS[i % len(AREAS)]}) 9{8000_0000 + i:08d}",
            "name": f"Cliente {i}",
            "due_date": due,
            "amount": f"{100 + i % 900}.{i % 100:02d}",
            "invoice_id": f"NF-{i}",
            "payment_link": f"https://pagar.exemplo.com.br/{i}",
            "variables": {"plano": "Pro", "parcela": i % 12 + 1},
        }
        for i in range(n)
    ]
    return json.dumps({"contacts": contacts}).encode()


def measure(base: str, key: str) -> dict[int, dict[str, float]]:
    results: dict[int, dict[str, float]] = {}
    headers = {"X-Billing-API-Key": key, "Content-Type": "application/json"}
    with httpx.Client(base_url=base, timeout=60) as client:
        for n, reps in SIZES.items():
            payload = body(n)
            timings = []
            for i in range(reps + 1):
                start = time.perf_counter()
                answer = client.post("/api/v1/billing/send/overdue", content=payload, headers=headers)
                elapsed = time.perf_counter() - start
                if answer.status_code != 202 or answer.json()["accepted"] != n:
                    raise RuntimeError(f"{n} contacts: {answer.status_code} {answer.text[:300]}")
                if i:  # the first request of each size warms caches and connections
                    timings.append(elapsed * 1000)
            timings.sort()
            p50 = statistics.median(timings)
            p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
            results[n] = {"p50_ms": p50, "p95_ms": p95, "contacts_per_s": n / (p50 / 1000)}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the three headline figures as JSON")
    args = parser.parse_args()
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    with scratch_database() as url:
        key = seed(url)
        try:
            with send_server(url, prefix) as base:
                results = measure(base, key)
        finally:
            delete_queues(prefix)
    if args.json:
        print(json.dumps({
            "p50_ms_1000": round(results[1000]["p50_ms"], 1),
            "p50_ms_10000": round(results[10_000]["p50_ms"], 1),
            "contacts_per_s_10000": round(results[10_000]["contacts_per_s"]),
        }))  # fmt: skip
        return 0
    print(f"{'contacts':>9} {'p50 ms':>9} {'p95 ms':>9} {'contacts/s':>11} {'target p50':>11}")
    ok = True
    for n, r in results.items():
        target = TARGET_P50_MS.get(n)
        verdict = "" if target is None else (f"<= {target:.0f} ok" if r["p50_ms"] <= target else f"> {target:.0f} MISS")
        ok = ok and (target is None or r["p50_ms"] <= target)
        print(f"{n:>9} {r['p50_ms']:>9.1f} {r['p95_ms']:>9.1f} {r['contacts_per_s']:>11.0f} {verdict:>11}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
