"""Rate limits count in fixed windows (a minute for API keys, five for console sign-ins): a scenario that
expects its hits to add up must not straddle a window's end, or the last hit lands in a fresh window and
is let through. Waiting for the next window when too little of this one is left makes such tests exact."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def same_window(needed_s: float = 5.0, window_s: int | None = None) -> None:
    """Return once at least ``needed_s`` seconds are left in the current ``window_s``-second window
    (default: the API-key limits' window, ``billing.http.ratelimit.WINDOW_S``)."""
    if window_s is None:
        from billing.http.ratelimit import WINDOW_S

        window_s = WINDOW_S
    now = datetime.now(UTC).timestamp()
    left = window_s - now % window_s
    if left < needed_s:
        time.sleep(left + 0.1)
