"""``billing dev``: every function behind one base URL, tokens delivered in-process (or through
RabbitMQ and the connector when RABBITMQ_URL is set), the sweeper every minute, and the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from billing.config import env_is_set, get_settings, override_environment

if TYPE_CHECKING:
    from flask import Flask

    from billing.adapters.broker import Token

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[3]
FUNCTIONS_DIR = PROJECT_ROOT / "functions"
DATA_DIR = PROJECT_ROOT / ".dev-data"
SWEEP_EVERY_S = 60.0

HTTP_ROUTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^/api/v1/billing/send/"), "send"),
    (re.compile(r"^/api/v1/billing/openapi\.json$"), "send"),
    (re.compile(r"^/api/v1/billing/queue/[^/]+/(status|contacts)/?$"), "status"),
    (re.compile(r"^/api/v1/billing/queues/?$"), "status"),
    (re.compile(r"^/api/v1/billing/conversations/[^/]+/close/?$"), "control"),
    (re.compile(r"^/api/v1/billing/conversations(/[^/]+/messages)?/?$"), "status"),
    (re.compile(r"^/api/v1/billing/queue/[^/]+/control/?$"), "control"),
    (re.compile(r"^/api/v1/billing/invoices/[^/]+/cancel/?$"), "control"),
    (re.compile(r"^/api/v1/billing/webhook/"), "webhook"),
    (re.compile(r"^/api/v1/billing/events/?$"), "events"),
    (re.compile(r"^/console(/|$)"), "console"),
)


def load_function(name: str) -> Flask:
    from functions_framework import create_app

    return create_app(target=name, source=str(FUNCTIONS_DIR / name / "main.py"))  # type: ignore[no-any-return,no-untyped-call]


class Router:
    """A WSGI app sending each path to its function's app, as an ingress would."""

    def __init__(self, apps: dict[str, Flask]) -> None:
        self.apps = apps

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        for pattern, name in HTTP_ROUTES:
            if pattern.search(path) and name in self.apps:
                return self.apps[name](environ, start_response)
        # /healthz, /metrics and unknown paths: the send function answers (404 problem+json for unknowns).
        return self.apps["send"](environ, start_response)


def trigger_via(app: Flask) -> Callable[[Token], bool]:
    """Deliver a token through the function's own HTTP entry, exactly as a platform would."""
    client = app.test_client()

    def deliver(token: Token) -> bool:
        answer = client.post("/", data=token.to_bytes(), content_type="application/json")
        return 200 <= answer.status_code < 300

    return deliver


def _sweeper_loop(deliver: Callable[[Token], bool], stop: threading.Event) -> None:
    from billing.adapters.broker import Token

    while not stop.wait(SWEEP_EVERY_S):
        try:
            deliver(Token(kind="tick", reason="dev.cron"))
        except Exception:  # the loop must survive a failed tick; the next one retries
            logger.exception("sweeper tick failed", extra={"action": "dev.sweep_failed"})


def _banner(
    base_url: str, api_key: str, simulator_url: str | None, database_url: str, operator: tuple[str, str] = ("", "")
) -> str:
    example = {
        "external_id": "banner-001",
        "contacts": [
            {
                "phone": "+55 11 99999-8888",
                "name": "Maria Silva",
                "due_date": "2026-11-20",
                "amount": "150.90",
                "invoice_id": "NF-123",
                "payment_link": "https://pagar.exemplo.com.br/abc",
            },
        ],
    }
    return (
        f"\nbilling dev is up at {base_url}\n"
        f"API key (demo tenant): {api_key}\n\n"
        f"Try it:\n"
        f"  curl -s -X POST {base_url}/api/v1/billing/send/overdue \\\n"
        f"    -H 'Content-Type: application/json' -H 'X-Billing-API-Key: {api_key}' \\\n"
        f"    -d '{json.dumps(example, ensure_ascii=False)}'\n"
        f"then GET {base_url}/api/v1/billing/queue/<queue_id>/status with the same header.\n"
        + (
            f"Gateway simulator: {simulator_url} (sent messages: GET {simulator_url}/_sim/messages)\n"
            if simulator_url
            else ""
        )
        + (
            f"Operator console: {base_url}/console/ (sign in as {operator[0]}, password {operator[1]})\n"
            if operator[1]
            else ""
        )
        + f"The billing CLI in another terminal: export DATABASE_URL='{database_url}'\n"
        + "Press Ctrl-C to stop.\n\n"
    )


def _start_simulator(port: int, instances: dict[str, str]) -> Any:
    """The simulator on its fixed port, or on any free one (with a warning) when that is taken."""
    from billing.sim.server import start_simulator

    try:
        return start_simulator(port=port, instances=instances)
    except OSError as exc:
        logger.warning(
            "simulator port %s is taken (%s); using a free one: instances pointed at the old URL need updating",
            port,
            type(exc).__name__,
            extra={"action": "dev.simulator_port_taken", "port": port},
        )
        return start_simulator(port=0, instances=instances)


def run_dev(host: str, port: int, *, ready: threading.Event | None = None, stop: threading.Event | None = None) -> int:
    """Run until Ctrl-C (or ``stop`` is set). Returns the exit code."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C and SIGTERM (a terminal closed, `kill`, a supervisor) ask for the shutdown below; a
        # KeyboardInterrupt raised at an arbitrary line (between the banner and the wait) once left the
        # embedded PostgreSQL running. A second one during a slow start-up interrupts it, still cleaned up.
        def on_signal(signum: int, frame: object) -> None:
            if stop.is_set():
                raise KeyboardInterrupt
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)
    with contextlib.ExitStack() as cleanup:  # whatever started is stopped, in reverse, however we leave
        return _serve(host, port, stop, ready, cleanup)
    return 0  # pragma: no cover - ExitStack does not swallow exceptions


def _serve(
    host: str, port: int, stop: threading.Event, ready: threading.Event | None, cleanup: contextlib.ExitStack
) -> int:
    from werkzeug.serving import make_server

    from billing.adapters.broker import queue_names, set_publisher
    from billing.db.migrate import upgrade
    from billing.dev.bootstrap import DEMO_GATEWAY_KEY, DEMO_INSTANCE, ensure_demo

    data_dir = Path(get_settings().dev_data_dir or DATA_DIR)
    data_dir.mkdir(parents=True, exist_ok=True)
    if not env_is_set("DATABASE_URL"):
        from billing.dev.embedded import start_embedded_postgres

        url, pg_server = start_embedded_postgres(data_dir / "pg")
        cleanup.callback(pg_server.cleanup)
        override_environment(DATABASE_URL=url)
    use_broker = env_is_set("RABBITMQ_URL")
    if not use_broker:
        override_environment(RABBITMQ_URL="")
    upgrade()
    logger.info("database ready", extra={"action": "dev.migrated"})

    sim = None
    if env_is_set("BILLING_DEV_GATEWAY_URL"):
        gateway_url = get_settings().dev_gateway_url or ""
        gateway_key = get_settings().dev_gateway_api_key.get_secret_value()
    else:
        sim = _start_simulator(get_settings().dev_simulator_port, {DEMO_INSTANCE: DEMO_GATEWAY_KEY})
        cleanup.callback(sim.stop)
        gateway_url, gateway_key = sim.base_url, DEMO_GATEWAY_KEY
    demo = ensure_demo(gateway_url=gateway_url, gateway_key=gateway_key, data_dir=data_dir)

    apps = {
        name: load_function(name)
        for name in ("send", "status", "control", "sender", "sweeper", "webhook", "deliverer", "console")
        if (FUNCTIONS_DIR / name / "main.py").exists()
    }
    from billing.bootstrap import reset_event_listeners
    from billing.http.events_app import create_app as events_app

    apps["events"] = events_app()  # the events server (not a function): streams at the same path
    cleanup.callback(reset_event_listeners)  # its LISTEN session closes before the database stops
    server = make_server(host, port, Router(apps), threaded=True)
    base_url = f"http://{host}:{server.server_port}"
    if sim is not None and "webhook" in apps:
        from billing.dev.bootstrap import DEMO_WEBHOOK_SECRET

        sim.client.configure(
            DEMO_INSTANCE,
            webhook_url=f"{base_url}/api/v1/billing/webhook/evolution/{demo.instance_id}",
            webhook_headers={"X-Billing-Webhook-Secret": DEMO_WEBHOOK_SECRET},
        )

    deliver_sender, deliver_sweeper = trigger_via(apps["sender"]), trigger_via(apps["sweeper"])
    deliver_events = trigger_via(apps["deliverer"])  # ERP webhooks
    names = queue_names()
    if use_broker:
        from billing.adapters.connector import Connector

        connector = Connector(
            sender_target=deliver_sender, sweeper_target=deliver_sweeper, deliverer_target=deliver_events
        )
        threading.Thread(target=asyncio.run, args=(connector.run(),), name="connector", daemon=True).start()
        cleanup.callback(connector.request_stop)
    else:
        from billing.adapters.memory_broker import DirectDispatcher

        dispatcher = DirectDispatcher()
        for queue in (names.overdue, names.upcoming, names.notification, names.resume):
            dispatcher.register(queue, deliver_sender)
        dispatcher.register(names.check_recovery, deliver_sweeper)
        dispatcher.register(names.events, deliver_events)
        set_publisher(dispatcher)
        cleanup.callback(dispatcher.close, wait=True)
        cleanup.callback(set_publisher, None)
    threading.Thread(target=_sweeper_loop, args=(deliver_sweeper, stop), name="sweeper", daemon=True).start()
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    cleanup.callback(server.shutdown)
    cleanup.callback(stop.set)

    simulator_url = gateway_url if sim is not None else None
    sys.stdout.write(
        _banner(
            base_url,
            demo.api_key,
            simulator_url,
            get_settings().database_url,
            (demo.operator_email, demo.operator_password),
        )
    )
    sys.stdout.flush()
    logger.info("billing dev ready", extra={"action": "dev.ready", "base_url": base_url})
    if ready is not None:
        ready.set()
    while not stop.wait(0.5):
        pass
    logger.info("stopping", extra={"action": "dev.stopping"})
    return 0
