"""The events server: a small WSGI app for GET /api/v1/billing/events (Server-Sent Events and WebSocket).

Not a function: its connections live for minutes, a pod with open sockets never scales to zero, and
Knative cuts WebSockets at its response-start timeout, so it runs as a small always-on Deployment
(like the connector), served by gunicorn with one thread per open stream:

    gunicorn --threads 100 --bind :8080 'billing.http.events_app:create_app()'

Its rules accept WebSocket upgrades (functions-framework's catch-all rules refuse them with 400).
``billing dev`` mounts the same app at the same path. Health probes and /metrics answer like every
function's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing.http.entry import dispatch, lazy, route

if TYPE_CHECKING:
    from flask import Flask, Response

ROUTES = (route("GET", r"/api/v1/billing/events", lazy("billing.http.events", "stream")),)


def create_app() -> Flask:
    from flask import Flask, request

    from billing import bootstrap

    app = Flask("billing-events")
    # Listen from the start, not from the first stream: events this server numbers wake the ERP
    # webhook deliverer at once (docs/events.md, "Latency").
    bootstrap.event_listener(wake_deliverer=True)

    def serve(path: str = "") -> Response:
        return dispatch(request, ROUTES)

    for websocket in (False, True):
        app.add_url_rule("/", "root_ws" if websocket else "root", serve, methods=["GET", "HEAD"], websocket=websocket)
        app.add_url_rule(
            "/<path:path>", "path_ws" if websocket else "path", serve, methods=["GET", "HEAD"], websocket=websocket
        )
    return app
