"""A tiny HTTP server for processes that serve no functions (``billing connector``): probes and metrics.

``GET /healthz`` is 200 while ``healthy()`` says so (readiness), ``GET /livez`` is 200 while ``live()``
says so (liveness; by default while the process answers), ``GET /metrics`` is the Prometheus exposition
of the connector's counters.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

logger = logging.getLogger(__name__)


def _authorized(authorization: str | None) -> bool:
    """Metrics are open unless BILLING_METRICS_TOKEN is set; then they need it as a bearer token."""
    from billing.config import get_settings
    from billing.crypto import bearer_token, tokens_match

    expected = get_settings().metrics_token
    return expected is None or tokens_match(bearer_token(authorization), expected.get_secret_value())


def start_probe_server(
    port: int,
    *,
    healthy: Callable[[], bool],
    live: Callable[[], bool] | None = None,
    host: str = "0.0.0.0",  # noqa: S104 - probes come from the kubelet
) -> ThreadingHTTPServer:
    """Serve in a daemon thread; returns the server (``shutdown()`` stops it)."""
    from billing.metrics import CONTENT_TYPE, render_connector

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                if not _authorized(self.headers.get("Authorization")):
                    self._answer(401, b"metrics need the metrics token\n", "text/plain")
                    return
                self._answer(200, render_connector(), CONTENT_TYPE)
            elif self.path == "/healthz":
                ok = healthy()
                self._answer(200 if ok else 503, b"ok\n" if ok else b"not consuming\n", "text/plain")
            elif self.path == "/livez":
                alive = live is None or live()
                self._answer(200 if alive else 503, b"ok\n" if alive else b"not consuming for too long\n", "text/plain")
            else:
                self._answer(404, b"not found\n", "text/plain")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("probe %s", format % args, extra={"action": "probe.request"})

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="probe-server", daemon=True).start()
    logger.info("probe server listening", extra={"action": "probe.start", "port": server.server_port})
    return server
