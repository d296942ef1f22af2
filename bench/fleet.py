"""A fleet of paced instances: does delivery cost follow messages, not instances?

    .venv/bin/python bench/fleet.py [--instances 200] [--contacts 6] [--senders 1] [--json]

N WhatsApp instances on the simulator (its own process; every send held 150 ms +- 50 ms, like a real
gateway), each paced at 20 messages a minute with no jitter, M notification contacts queued on each. S
sender replicas run as functions-framework processes of the sender function, each fed by its own
``billing connector`` (default settings), woken by one token per queue through RabbitMQ; each sender is
warmed by one token before the run (``bench/coldstart.py`` measures cold starts). Measured from
the first wake to the last send:

- ``msgs_per_s`` against ``ideal_msgs_per_s`` (instances x 20 / 60): ``ratio_to_ideal``;
- ``min_gap_ratio``: the smallest gap between two request arrivals on any instance, over 3 s;
- ``slot_lateness_p50_s`` / ``_p99_s``: how late each paced send arrived after its slot (the previous
  send's arrival + 3 s);
- ``first_send_p50_s`` / ``_p99_s``: from the wake to each instance's first send (no slot paces it: this
  is the burst of N instances due at once, each first checked for health, then sent to);
- ``cpu_s_per_1000_msgs``: CPU seconds the sender processes spent per 1,000 messages;
- ``ratio_to_claim_limit``: ``msgs_per_s`` over this machine's bare one-row claim-and-commit rate.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("BILLING_SECRET_KEY", "bench-secret-key-0123456789abcdef")
os.environ.setdefault("BILLING_LOG_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import httpx
from _support import claim_limit_rate, free_port, scratch_database, start_simulator

ROOT = Path(__file__).resolve().parent.parent
RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
GAP_S = 3.0  # 20 messages a minute


def setup(base_url: str, instances: int, contacts: int) -> list[uuid.UUID]:
    from billing.config import get_settings, reset_settings_cache
    from billing.db.engine import unit_of_work
    from billing.db.models import Tenant
    from billing.services import admin
    from billing.sim.control import SimulatorClient
    from support.factories import make_queue, make_world

    reset_settings_cache()
    secret = get_settings().billing_secret_key.get_secret_value()
    world = make_world(gateway_url=base_url, throttle_per_minute=20, jitter_s=0)
    names = [world.instance_name] + [f"fleet-{i:04d}" for i in range(1, instances)]
    queue_ids = []
    with SimulatorClient(base_url) as sim:
        sim.set_latency(150, jitter_ms=50)
        world.register(sim)
        with unit_of_work() as uow:
            tenant = uow.session.get(Tenant, world.tenant_id)
            assert tenant is not None
            ids = [world.instance_id]
            for name in names[1:]:
                row = admin.add_instance(
                    tenant, session=uow.session, name=name, url=base_url, api_key=f"tok-{name}", secret_key=secret
                )
                ids.append(row.id)
            uow.commit()
        for name in names[1:]:
            sim.add_instance(name, f"tok-{name}")
    with unit_of_work() as uow:
        for index, instance_id in enumerate(ids):
            queue_ids.append(
                make_queue(uow.session, world, contacts, instance_id=instance_id, first_phone=1 + index * contacts)
            )
    return queue_ids


def warm_up(sender: subprocess.Popen[bytes]) -> None:
    port = sender.args[-1]  # type: ignore[index]
    token = b'{"kind": "queue", "reason": "warm_up"}'
    httpx.post(f"http://127.0.0.1:{port}", content=token, headers={"content-type": "application/json"}, timeout=60)


def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"sender at {url} did not start")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(instances: int, contacts: int, senders: int) -> dict[str, Any]:
    with scratch_database() as url:
        os.environ["DATABASE_URL"] = url
        prefix = f"fleet{uuid.uuid4().hex[:8]}"
        process, base_url = start_simulator()
        connectors: list[subprocess.Popen[bytes]] = []
        senders_: list[subprocess.Popen[bytes]] = []
        try:
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "RABBITMQ_URL": RABBITMQ_URL,
                "BILLING_BROKER_QUEUE_PREFIX": prefix,
                "BILLING_LOG_LEVEL": "WARNING",
            }
            bindir = Path(sys.executable).parent
            for _ in range(senders):
                port = free_port()
                command = [str(bindir / "functions-framework"), "--source", "functions/sender/main.py"]
                command += ["--target", "sender", "--port", str(port)]
                senders_.append(subprocess.Popen(command, env={**env, "WORKERS": "1"}, cwd=ROOT))
                wait_healthy(f"http://127.0.0.1:{port}")
                connector = [str(bindir / "billing"), "connector", "--sender-url", f"http://127.0.0.1:{port}"]
                connectors.append(subprocess.Popen(connector, env=env, cwd=ROOT))
            time.sleep(3)  # the connectors declare the topology and start consuming
            for sender in senders_:  # warm: imports, engine, broker channel (bench/coldstart.py measures cold)
                warm_up(sender)
            queue_ids = setup(base_url, instances, contacts)
            figures = wake_and_measure(base_url, queue_ids, prefix, instances * contacts, senders_)
        finally:
            for child in connectors + senders_:
                child.send_signal(signal.SIGTERM)
            for child in connectors + senders_:
                try:
                    child.wait(20)
                except subprocess.TimeoutExpired:
                    child.kill()
            process.terminate()
            process.join(5)
            from billing.db.engine import dispose_engine

            dispose_engine()
            delete_queues(prefix)
        limit = claim_limit_rate(url)
    figures["claim_limit_per_s"] = round(limit, 1)
    figures["ratio_to_claim_limit"] = round(figures["msgs_per_s"] / limit, 4)
    return {"instances": instances, "senders": senders, **figures}


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and its children (functions-framework runs the function in a gunicorn worker)."""
    total = cpu_seconds(pid)
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for child_pid in child.read_text().split():
            total += tree_cpu_seconds(int(child_pid))
    return total


def wake_and_measure(
    base_url: str, queue_ids: list[uuid.UUID], prefix: str, expected: int, senders: list[subprocess.Popen[bytes]]
) -> dict[str, Any]:
    from billing.adapters.broker import PikaPublisher, Token, queue_names
    from billing.sim.control import SimulatorClient

    cpu_before = sum(tree_cpu_seconds(c.pid) for c in senders)
    publisher = PikaPublisher(RABBITMQ_URL, prefix=prefix)
    # Connect before the clock starts (nothing consumes check_recovery here: the connectors have no sweeper).
    publisher.publish(queue_names(prefix).check_recovery, Token(kind="check_recovery", reason="bench_connect"))
    woke = time.time()
    try:
        target = queue_names(prefix).notification
        for queue_id in queue_ids:
            publisher.publish(target, Token(kind="queue", queue_id=str(queue_id)), priority=1)
    finally:
        publisher.close()
    with SimulatorClient(base_url) as sim:
        deadline = time.monotonic() + 60 + expected / max(len(queue_ids) / GAP_S, 1) * 3
        while time.monotonic() < deadline:
            if sim.send_requests() >= expected:
                break
            time.sleep(0.5)
        time.sleep(1.0)  # anything beyond the expected count (a duplicate) would show up now
        messages = sim.messages()
    cpu = sum(tree_cpu_seconds(c.pid) for c in senders) - cpu_before
    if len(messages) != expected or len({(m["instance"], m["number"]) for m in messages}) != expected:
        raise RuntimeError(f"fleet run incomplete or duplicated: {len(messages)} sends for {expected} contacts")
    by_instance: dict[str, list[float]] = {}
    for message in messages:
        by_instance.setdefault(message["instance"], []).append(message["arrived_wall"])
    gaps, lateness, first = [], [], []
    for arrivals in by_instance.values():
        arrivals.sort()
        first.append(max(arrivals[0] - woke, 0.0))
        for previous, current in itertools.pairwise(arrivals):
            gaps.append(current - previous)
            lateness.append(max(current - previous - GAP_S, 0.0))
    lateness.sort()
    if gaps and min(gaps) < 0.95 * GAP_S:
        worst = min(by_instance, key=lambda name: min(b - a for a, b in itertools.pairwise(by_instance[name])))
        offsets = [round(t - woke, 3) for t in by_instance[worst]]
        sys.stderr.write(f"shortest gap on {worst}: arrivals after the wake {offsets}\n")
    last = max(m["arrived_wall"] for m in messages)
    elapsed = last - woke
    instances = len(by_instance)
    ideal = instances * 20 / 60
    rate = len(messages) / elapsed
    return {
        "messages": len(messages),
        "elapsed_s": round(elapsed, 2),
        "ideal_msgs_per_s": round(ideal, 2),
        "msgs_per_s": round(rate, 2),
        "ratio_to_ideal": round(rate / ideal, 3),
        "min_gap_ratio": round(min(gaps) / GAP_S, 3) if gaps else None,
        "slot_lateness_p50_s": round(lateness[len(lateness) // 2], 3),
        "slot_lateness_p99_s": round(lateness[min(len(lateness) - 1, int(len(lateness) * 0.99))], 3),
        "cpu_s_per_1000_msgs": round(cpu / len(messages) * 1000, 2),
        "first_send_p50_s": round(sorted(first)[len(first) // 2], 3),
        "first_send_p99_s": round(sorted(first)[min(len(first) - 1, int(len(first) * 0.99))], 3),
    }


def delete_queues(prefix: str) -> None:
    import pika
    from billing.adapters.broker import queue_names

    names = queue_names(prefix)
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        channel = connection.channel()
        for name in names.work:
            channel.queue_delete(name)
            channel.queue_delete(f"{name}.dlq")
        channel.exchange_delete(names.dead_letter_exchange)
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--contacts", type=int, default=6)
    parser.add_argument("--senders", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.instances, args.contacts, args.senders)
    if args.json:
        keys = (
            "instances", "senders", "messages", "ideal_msgs_per_s", "msgs_per_s", "ratio_to_ideal", "min_gap_ratio",
            "slot_lateness_p50_s", "slot_lateness_p99_s", "first_send_p50_s", "first_send_p99_s",
            "cpu_s_per_1000_msgs", "claim_limit_per_s",
            "ratio_to_claim_limit",
        )  # fmt: skip
        print(json.dumps({k: figures[k] for k in keys}))
        return
    print(f"{args.instances} instances at 20/min, {args.contacts} contacts each, {args.senders} sender(s)")
    for key, value in figures.items():
        print(f"  {key:24} {value}")


if __name__ == "__main__":
    main()
