"""The gateway simulator in a process of its own, for tests that judge pace by its arrival times.

An in-process simulator shares the test's interpreter lock with the sweeper thread and the polling
loop, so a message can be stamped tens of milliseconds after it arrived: noise that looks like two
sends closer than the pace. In its own process it stamps arrivals as the gateway would."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from billing.sim.control import SimulatorClient


@dataclass
class SimulatorProcess:
    base_url: str
    process: subprocess.Popen[bytes]
    client: SimulatorClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = SimulatorClient(self.base_url)


@contextmanager
def simulator_process() -> Iterator[SimulatorProcess]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    billing = Path(sys.executable).with_name("billing")
    process = subprocess.Popen(
        [str(billing), "sim-gateway", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    handle = SimulatorProcess(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "the simulator exited at start-up"
            try:
                httpx.get(handle.base_url + "/", timeout=0.5)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the simulator did not start"
                time.sleep(0.05)
        yield handle
    finally:
        handle.client.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
