"""What a sender invocation depends on, and what it answers."""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from billing import bootstrap
from billing.adapters.broker import Publisher
from billing.bootstrap import GatewayFactory
from billing.clock import SYSTEM_CLOCK, Clock
from billing.config import Settings, get_settings
from billing.services.delivery import shutdown


def _worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


@dataclass
class SenderDeps:
    settings: Settings = field(default_factory=get_settings)
    clock: Clock = SYSTEM_CLOCK
    publisher: Callable[[], Publisher] = bootstrap.publisher
    gateway: GatewayFactory = bootstrap.gateway_for
    warm: Callable[[], None] = bootstrap.warm_sender  # before the first claim (imports, calendars)
    rng: random.Random = field(default_factory=random.Random)
    stop_requested: Callable[[], bool] = shutdown.shutdown_requested
    worker_id: str = field(default_factory=_worker_id)


@dataclass(frozen=True)
class DispatchResult:
    """``outcome``: idle (nothing due within the inline window), budget, shutdown, or nudged (another
    dispatch was already running in this process and was told to look again)."""

    outcome: str
    sent: int = 0
    processed: int = 0
