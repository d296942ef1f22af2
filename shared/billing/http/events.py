"""GET /api/v1/billing/events: the tenant's events live, as Server-Sent Events or over a WebSocket.

The same path serves both: a request with ``Upgrade: websocket`` becomes a WebSocket (one JSON event
per text message), any other a ``text/event-stream`` (``id:`` the event id, ``event:`` its type,
``data:`` the event). Both authenticate and count like every read, filter by ``queue_id`` and
``types`` (``queue.*,contact.failed``), and resume after ``Last-Event-ID`` (or ``?after=``), so a client
that reconnects with the last id it saw misses nothing. The event log is the source of truth; the
process's one LISTEN connection (``EventListener``) only wakes the streams early. Heartbeats every
``BILLING_EVENTS_HEARTBEAT_S``; at most ``BILLING_EVENTS_STREAMS_PER_KEY`` open streams per key in one
process; a stream ends after ``BILLING_EVENTS_MAX_STREAM_S`` (clients reconnect with their last id),
which lets long-lived connections move between replicas.

Each open stream holds one server thread while it lasts: the events server (``events_app``) runs always
on under gunicorn with more threads than ``BILLING_EVENTS_MAX_STREAMS`` (deploy/README.md), so probes,
scrapes and refusals always find a free thread; a full process answers 503 with Retry-After and the
client's reconnect lands on another replica.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from billing.errors import MalformedRequestError

if TYPE_CHECKING:
    import re

    from flask import Request, Response

    from billing.adapters.event_listener import EventListener
    from billing.config import Settings
    from billing.services.events.log import EventQuery

logger = logging.getLogger(__name__)

SSE_RETRY_MS = 2000
MAX_CLIENT_MESSAGE = 1024  # bytes: clients have nothing to say on this stream

_open: dict[str, int] = {}
_open_lock = threading.Lock()


def _take_slot(key: str, limit: int, process_limit: int) -> Callable[[], None]:
    """One of the key's open streams in this process, or 429 (the key's limit) or 503 (the process is
    full); returns the release."""
    from billing.errors import DependencyUnavailableError, RateLimitedError

    with _open_lock:
        if sum(_open.values()) >= process_limit:
            raise DependencyUnavailableError(f"this events server has its maximum of {process_limit} open streams")
        if _open.get(key, 0) >= limit:
            raise RateLimitedError(
                f"this API key already has {limit} open event streams: close one, or share one stream "
                "between screens (filter by queue_id and types)",
                retry_after=30,
            )
        _open[key] = _open.get(key, 0) + 1
    released = threading.Event()

    def release() -> None:
        if not released.is_set():
            released.set()
            with _open_lock:
                _open[key] -= 1
                if _open[key] <= 0:
                    del _open[key]

    return release


def _read(query: EventQuery) -> list[dict[str, Any]]:
    from billing.db.engine import get_engine
    from billing.services.events.log import event_json, read

    with get_engine(autocommit=True).connect() as conn:
        return [event_json(event) for event in read(query, conn=conn)]


def batches(
    query: EventQuery, hub: EventListener, settings: Settings, *, alive: Callable[[], bool]
) -> Iterator[list[dict[str, Any]]]:
    """The events of ``query`` as they are numbered, a list at a time; an empty list is a heartbeat.
    Ends when ``alive()`` turns false, the database fails, or the stream has lasted its maximum."""
    from sqlalchemy.exc import SQLAlchemyError

    deadline = time.monotonic() + settings.events_max_stream_s
    after = query.after
    while alive():
        seen = hub.generation  # before reading: a wake-up during the read is not lost
        try:
            events = _read(dataclasses.replace(query, after=after))
        except SQLAlchemyError as exc:
            logger.warning(
                "event stream ended: database error", extra={"action": "events.db_error", "error": type(exc).__name__}
            )
            return
        if events:
            after = int(events[-1]["id"])
            yield events
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            return
        if hub.wait(seen, min(settings.events_heartbeat_s, left)) == seen:
            yield []


def _compact(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def _sse(query: EventQuery, hub: EventListener, settings: Settings, release: Callable[[], None]) -> Iterator[bytes]:
    try:
        yield f"retry: {SSE_RETRY_MS}\n\n".encode()
        for events in batches(query, hub, settings, alive=lambda: True):
            if not events:
                yield b": keep-alive\n\n"
                continue
            yield "".join(f"id: {e['id']}\nevent: {e['type']}\ndata: {_compact(e)}\n\n" for e in events).encode()
    finally:
        release()


def _refuse_input(ws: Any, every_s: float) -> None:
    """The stream only sends: the first message a client sends closes it (1008), so nothing a client
    writes piles up in the server's memory (each message is also capped at ``MAX_CLIENT_MESSAGE``)."""
    from simple_websocket import ConnectionClosed

    while ws.connected:
        try:
            if ws.receive(timeout=every_s) is not None:
                ws.close(reason=1008, message="this stream only sends events")
                return
        except ConnectionClosed:
            return


def _check_handshake(request: Request) -> None:
    """Refuse a malformed upgrade before anything is taken (400, never a 500 or a held slot)."""
    if request.headers.get("Sec-WebSocket-Version") != "13" or not request.headers.get("Sec-WebSocket-Key"):
        raise MalformedRequestError(
            "a WebSocket upgrade needs Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key (RFC 6455)"
        )


def _websocket(
    request: Request, query: EventQuery, hub: EventListener, settings: Settings, release: Callable[[], None]
) -> Response:
    from flask import Response
    from simple_websocket import ConnectionClosed, Server

    try:
        ws = Server.accept(
            request.environ, ping_interval=settings.events_heartbeat_s, max_message_size=MAX_CLIENT_MESSAGE
        )
    except Exception as exc:  # a handshake the library refuses: nothing was taken over yet
        release()
        raise MalformedRequestError(f"not a valid WebSocket handshake ({type(exc).__name__})") from exc
    threading.Thread(target=_refuse_input, args=(ws, settings.events_heartbeat_s), daemon=True).start()
    try:
        for events in batches(query, hub, settings, alive=lambda: bool(ws.connected)):
            for event in events:
                ws.send(_compact(event))
        ws.close(message="stream ended: reconnect with after=<the last id you saw>")
    except ConnectionClosed:
        pass
    finally:
        release()

    mode = ws.mode

    class WebSocketDone(Response):
        """The socket was taken over: tell the server there is nothing left to write (as flask-sock does)."""

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            if mode == "gunicorn":
                raise StopIteration
            if mode == "werkzeug":
                return super().__call__(*args, **kwargs)
            return []

    return WebSocketDone()


def stream(request: Request, match: re.Match[str]) -> Response:
    """Authenticate, parse, authorize (another tenant's queue: 404), then stream."""
    from flask import Response

    from billing import bootstrap
    from billing.clock import SYSTEM_CLOCK
    from billing.config import get_settings
    from billing.db.engine import autocommit_session
    from billing.http.console.stream import console_principal, has_console_session
    from billing.http.guard import API_KEY_HEADER, guard
    from billing.services.events.log import authorize, parse_query

    settings, now = get_settings(), SYSTEM_CLOCK.now()
    with autocommit_session() as session:
        if request.headers.get(API_KEY_HEADER) is None and has_console_session(request):
            principal, headers = console_principal(request, session=session, settings=settings), dict[str, str]()
        else:
            principal, headers = guard(request, session=session, settings=settings, now=now, scope="read")
        query = parse_query(
            tenant_id=principal.tenant_id,
            queue_id=request.args.get("queue_id"),
            types=request.args.get("types"),
            after=request.args.get("after"),
            last_event_id=request.headers.get("Last-Event-ID"),
        )
        authorize(query, conn=session.connection(), allowed_types=principal.allowed_types)
    upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    if upgrade:
        _check_handshake(request)
    hub = bootstrap.event_listener(settings)
    release = _take_slot(str(principal.api_key_id), settings.events_streams_per_key, settings.events_max_streams)
    logger.info(
        "event stream opened",
        extra={"action": "events.stream_open", "tenant_id": str(principal.tenant_id), "after": query.after},
    )
    if upgrade:
        return _websocket(request, query, hub, settings, release)
    return Response(
        _sse(query, hub, settings, release),
        status=200,
        headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        content_type="text/event-stream; charset=utf-8",
        direct_passthrough=True,
    )
