"""What a sender invocation depends on, and what it answers: the seam between ``sender`` and ``run``."""

from __future__ import annotations

import contextlib
import os
import random
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from billing import bootstrap
from billing.adapters.broker import Publisher
from billing.bootstrap import GatewayFactory
from billing.clock import SYSTEM_CLOCK, Clock
from billing.config import Settings, get_settings
from billing.services.delivery import shutdown

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def _worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


@dataclass
class SenderDeps:
    settings: Settings = field(default_factory=get_settings)
    clock: Clock = SYSTEM_CLOCK
    publisher: Callable[[], Publisher] = bootstrap.publisher
    gateway: GatewayFactory = bootstrap.gateway_for
    rng: random.Random = field(default_factory=random.Random)
    stop_requested: Callable[[], bool] = shutdown.shutdown_requested
    worker_id: str = field(default_factory=_worker_id)


@dataclass(frozen=True)
class DeliveryResult:
    """``outcome``: not_claimed, completed, continued, parked, stopped; ``status``: the queue's afterwards."""

    outcome: str
    status: str | None = None
    sent: int = 0
    processed: int = 0
    reason: str | None = None


@contextlib.contextmanager
def connection() -> Iterator[Connection]:
    """One Core connection for the whole invocation; short transactions on it.

    The sender does not use the unit of work: its hot path is two statements per message (claim,
    outcome) on one connection, with no ORM session or pool checkout in between; each transaction is
    explicit (``conn.begin()``) and none is open across a gateway call.
    """
    from billing.db.engine import core_connection

    with core_connection() as conn:
        yield conn
