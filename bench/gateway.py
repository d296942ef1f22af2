"""Gateway throughput: the Evolution client against the simulator, and the simulator's own capacity.

    .venv/bin/python bench/gateway.py [--seconds 5] [--concurrency 32] [--json]

The simulator runs in its own process (as it does under ``billing sim-gateway``) so the load generator
does not share its interpreter lock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import time

import aiohttp
import httpx
from _support import free_port
from billing.adapters.evolution import EvolutionClient, GatewayConfig, OutcomeKind
from billing.sim.control import SimulatorClient
from billing.sim.server import serve

INSTANCE, TOKEN = "bench", "bench-token"


def wait_until_up(base_url: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(base_url + "/", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("simulator did not start")


def bench_client(base_url: str, seconds: float) -> tuple[float, float, float]:
    """Sequential send_text calls with zero latency: sends/s, p50 ms, p99 ms."""
    client = EvolutionClient(GatewayConfig(base_url, INSTANCE, TOKEN))
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    i = 0
    while time.perf_counter() < deadline:
        outcome = client.send_text(f"+55119{i % 10_000_000:08d}", "Olá, sua fatura vence amanhã.", retry=False)
        if outcome.kind is not OutcomeKind.SENT:
            raise RuntimeError(f"unexpected outcome {outcome}")
        latencies.append(outcome.latency_s)
        i += 1
    elapsed = time.perf_counter() - started
    client.close()
    quantiles = statistics.quantiles(latencies, n=100)
    return i / elapsed, quantiles[49] * 1000, quantiles[98] * 1000


async def _hammer(base_url: str, seconds: float, concurrency: int) -> float:
    url = f"{base_url}/message/sendText/{INSTANCE}"
    count = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers={"apikey": TOKEN}) as session:
        deadline = time.perf_counter() + seconds

        async def worker(n: int) -> None:
            nonlocal count
            i = 0
            while time.perf_counter() < deadline:
                body = {"number": f"5521{n:03d}{i:06d}", "text": "Olá, sua fatura vence amanhã."}
                async with session.post(url, json=body) as response:
                    await response.read()
                    if response.status != 201:
                        raise RuntimeError(f"simulator answered {response.status}")
                count += 1
                i += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        return count / (time.perf_counter() - started)


def bench_simulator(base_url: str, seconds: float, concurrency: int) -> float:
    return asyncio.run(_hammer(base_url, seconds, concurrency))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections hammering the simulator")
    parser.add_argument("--json", action="store_true", help="print only the JSON figures")
    args = parser.parse_args()

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = multiprocessing.get_context("spawn").Process(
        target=serve, args=("127.0.0.1", port), kwargs={"instances": {INSTANCE: TOKEN}}, daemon=True
    )
    process.start()
    try:
        wait_until_up(base_url)
        control = SimulatorClient(base_url)
        client_rate, p50, p99 = bench_client(base_url, args.seconds)
        recorded = len(control.messages(INSTANCE))
        control.clear()
        sim_rate = bench_simulator(base_url, args.seconds, args.concurrency)
        control.clear()
        control.close()
    finally:
        process.terminate()
        process.join(timeout=5)

    if args.json:
        print(json.dumps({"client_sends_per_s": round(client_rate, 1), "simulator_sends_per_s": round(sim_rate, 1)}))
        return
    rows = [
        ("client send_text/s (sequential, 0 ms latency)", f"{client_rate:,.0f}", ">= 500"),
        ("  client latency p50 / p99 (ms)", f"{p50:.2f} / {p99:.2f}", ""),
        ("  messages recorded by the simulator", f"{recorded:,}", ""),
        (f"simulator sends/s ({args.concurrency} keep-alive connections)", f"{sim_rate:,.0f}", ">= 2,000"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'result':>15}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>15}  {target}")


if __name__ == "__main__":
    main()
