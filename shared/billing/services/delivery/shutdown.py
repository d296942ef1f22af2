"""SIGTERM as a flag the sender polls between messages, so the message in flight is finished first.

Platforms send SIGTERM before killing a replica (Knative, Kubernetes, OpenFaaS). The sender must then
finish the one message already handed to the gateway, release its lease, publish a continuation and
answer 2xx. Under gunicorn (what ``functions-framework`` runs) the worker's own SIGTERM handler stops
accepting requests and lets in-flight ones finish; we chain onto it so it also raises our flag. Elsewhere
(a plain process, the Flask dev server) a chained handler raises the flag and, once no delivery is in
flight, lets the previous handler (or the default: exit) run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

_requested = threading.Event()
_lock = threading.Lock()
_in_flight = 0
_deferred: Callable[[], None] | None = None
_installed = False


def shutdown_requested() -> bool:
    return _requested.is_set()


def request_shutdown() -> None:
    if not _requested.is_set():
        logger.info("shutdown requested; finishing the message in flight", extra={"action": "sender.sigterm"})
    _requested.set()


def reset() -> None:
    """Forget a request (tests)."""
    global _deferred
    _requested.clear()
    with _lock:
        _deferred = None


@contextlib.contextmanager
def in_flight() -> Iterator[None]:
    """Mark a delivery as running; a deferred default exit waits for the last one to end."""
    global _in_flight, _deferred
    with _lock:
        _in_flight += 1
    try:
        yield
    finally:
        with _lock:
            _in_flight -= 1
            run = _deferred if _in_flight == 0 else None
            if run is not None:
                _deferred = None
        if run is not None:
            # Give the HTTP answer of the finished invocation a moment to leave before exiting.
            threading.Timer(0.5, run).start()


def _patch_gunicorn() -> None:
    """Chain our handler on top of whatever SIGTERM handler a gunicorn worker installs for itself.

    The app (and so this module) is imported in gunicorn's master before the workers fork, and every
    worker then installs its own handlers (gthread's ``handle_exit`` starts a graceful stop that lets
    in-flight requests finish), so we wrap ``init_signals`` rather than any one handler.
    """
    try:
        from gunicorn.workers.base import Worker  # type: ignore[import-untyped]
    except ImportError:
        return
    original = Worker.init_signals
    if getattr(original, "_billing_wrapped", False):
        return

    def init_signals(self: Any) -> None:
        original(self)
        _chain_signal()

    init_signals._billing_wrapped = True  # type: ignore[attr-defined]
    Worker.init_signals = init_signals


def _chain_signal() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(sig: int, frame: FrameType | None) -> None:
        global _deferred
        request_shutdown()
        if callable(previous):
            previous(sig, frame)
            return

        def exit_now() -> None:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

        with _lock:
            busy = _in_flight > 0
            if busy:
                _deferred = exit_now
        if not busy:
            exit_now()

    signal.signal(signal.SIGTERM, on_sigterm)


def install_sigterm_hook() -> None:
    """Idempotent; call from the function's entry module."""
    global _installed
    if _installed:
        return
    _installed = True
    _patch_gunicorn()
    _chain_signal()
