"""Run the simulator: in a background thread for tests (``running_simulator``) or blocking (``serve``)."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from billing.sim import admin, app
from billing.sim.control import SimulatorClient
from billing.sim.state import SimState
from billing.sim.webhooks import WebhookDispatcher

logger = logging.getLogger(__name__)


def build_app(sim: SimState, *, server_url: str = "") -> web.Application:
    application = web.Application(client_max_size=16 * 1024 * 1024)
    dispatcher = WebhookDispatcher(sim, server_url=server_url)
    application[app.STATE_KEY] = sim
    application[app.WEBHOOKS_KEY] = dispatcher
    app.add_routes(application)
    admin.add_routes(application)
    # Anything else answers the way Express does for an unknown route; registered last.
    application.router.add_route("*", "/{tail:.*}", app.not_found)

    async def close_dispatcher(_: web.Application) -> None:
        await dispatcher.close()

    application.on_cleanup.append(close_dispatcher)
    return application


async def _start(sim: SimState, host: str, port: int) -> tuple[web.AppRunner, int]:
    application = build_app(sim)
    runner = web.AppRunner(application, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = runner.addresses[0][1]
    application[app.WEBHOOKS_KEY].server_url = f"http://{host}:{bound}"
    return runner, int(bound)


class SimulatorHandle:
    """A simulator running on its own event loop in a daemon thread."""

    def __init__(self, sim: SimState, host: str, port: int) -> None:
        self.state = sim
        self.host = host
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="evolution-sim", daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(_start(sim, host, port), self._loop)
        self._runner, self.port = future.result(timeout=10)
        self.base_url = f"http://{host}:{self.port}"
        self.client = SimulatorClient(self.base_url)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self.client.close()
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def start_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    global_api_key: str | None = None,
    webhook_url: str | None = None,
    instances: Mapping[str, str] | None = None,
) -> SimulatorHandle:
    """Start in the background; ``port=0`` picks a free port. Call ``stop()`` when done."""
    sim = SimState(global_api_key=global_api_key, webhook_url=webhook_url)
    for name, token in (instances or {}).items():
        sim.add_instance(name, token)
    return SimulatorHandle(sim, host, port)


@contextmanager
def running_simulator(host: str = "127.0.0.1", port: int = 0, **options: Any) -> Iterator[SimulatorHandle]:
    """``with running_simulator() as sim: ... sim.base_url ... sim.client.add_instance(...)``."""
    handle = start_simulator(host, port, **options)
    try:
        yield handle
    finally:
        handle.stop()


def serve(
    host: str = "127.0.0.1",
    port: int = 8089,
    *,
    global_api_key: str | None = None,
    webhook_url: str | None = None,
    instances: Mapping[str, str] | None = None,
) -> None:
    """Run in the foreground until SIGINT or SIGTERM (the ``billing sim-gateway`` command)."""
    sim = SimState(global_api_key=global_api_key, webhook_url=webhook_url)
    for name, token in (instances or {}).items():
        sim.add_instance(name, token)

    async def main() -> None:
        runner, bound = await _start(sim, host, port)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        logger.info(
            "Evolution simulator listening on http://%s:%s",
            host,
            bound,
            extra={"action": "sim.start", "instances": sorted(sim.instances)},
        )
        try:
            await stopping.wait()
        finally:
            await runner.cleanup()
            logger.info("Evolution simulator stopped", extra={"action": "sim.stop"})

    asyncio.run(main())
