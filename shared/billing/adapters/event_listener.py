"""One LISTEN connection per process that tells the event streams when new events are numbered.

The event log (migration 0019) is the source of truth: notifications only shorten the wait. The
triggers ``NOTIFY billing_events`` at commit; on that (or every ``poll_s`` in case a notification was
missed, or the connection was down) the listener runs the injected sequencer, which numbers committed
events and ``NOTIFY billing_events_numbered``; on that, every stream of the process wakes and reads
what follows its last id. A dropped notification costs at most ``poll_s`` of latency, never an event.
"""

from __future__ import annotations

import logging
import select
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

WRITTEN = "billing_events"
NUMBERED = "billing_events_numbered"
RECONNECT_MAX_S = 10.0


class EventListener:
    """Wakes waiting streams when events are numbered; ``wait`` returns the new generation."""

    def __init__(
        self,
        dsn: str,
        *,
        sequence: Callable[[], int],
        poll_s: float = 1.0,
        on_numbered: Callable[[], None] | None = None,
    ) -> None:
        self._dsn = dsn
        self._sequence = sequence
        self._on_numbered = on_numbered
        self._poll_s = poll_s
        self._changed = threading.Condition()
        self._generation = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()

    @property
    def generation(self) -> int:
        with self._changed:
            return self._generation

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="event-listener", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop and close the LISTEN connection (a database shutting down waits for its sessions)."""
        self._stop.set()
        self.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._poll_s + 2)

    def wake(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Block until the generation moves past ``seen`` or ``timeout`` passes; the current generation."""
        with self._changed:
            self._changed.wait_for(lambda: self._generation != seen or self._stop.is_set(), timeout)
            return self._generation

    def _number(self) -> None:
        try:
            if self._sequence() > 0:
                self.wake()  # this process numbered them; the NOTIFY reaches the other processes
                if self._on_numbered is not None:
                    self._on_numbered()  # e.g. wake the ERP webhook deliverer
        except Exception:  # the next notification or poll tries again
            logger.warning("numbering events failed", exc_info=True, extra={"action": "events.sequence_failed"})

    def _run(self) -> None:
        import psycopg2

        delay = 0.5
        while not self._stop.is_set():
            conn = None
            try:
                conn = psycopg2.connect(self._dsn)
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f"LISTEN {WRITTEN}; LISTEN {NUMBERED}")
                self.listening.set()
                delay = 0.5
                self._number()  # whatever was written while nobody listened
                self.wake()
                while not self._stop.is_set():
                    readable, _, _ = select.select([conn], [], [], self._poll_s)
                    if not readable:
                        self._number()
                        continue
                    conn.poll()
                    channels = {note.channel for note in conn.notifies}
                    conn.notifies.clear()
                    if WRITTEN in channels:
                        self._number()
                    if NUMBERED in channels:
                        self.wake()
            except psycopg2.Error as exc:
                self.listening.clear()
                logger.warning(
                    "event listener lost the database; reconnecting",
                    extra={"action": "events.listener_reconnect", "error": type(exc).__name__},
                )
                self._stop.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
            finally:
                if conn is not None:
                    conn.close()
