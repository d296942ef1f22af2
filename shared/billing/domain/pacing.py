"""Pacing maths: spacing between sends, retry backoff, and when a batch will be finished.

Jitter only ever lengthens the interval (``interval + U(0, jitter)``), so the configured messages per
minute is a ceiling that is never exceeded, while the spacing still looks human. A gateway's
``Retry-After`` is honoured even when it is longer than our own backoff cap.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from billing.domain.hours import BusinessHours
from billing.errors import InvalidValueError

_MAX_STEPS = 1_000_000
# Every slot is this much longer than the pace (a fraction of it, at most SLOT_GUARD_MAX_S): a request
# can reach the gateway some milliseconds later than its slot (a busy sender thread, a new connection)
# and the next one on time, and the gateway must still never see two messages closer than the pace.
# The same figures are in the dispatch SQL (migration 0008).
SLOT_GUARD_FRACTION = 0.05
SLOT_GUARD_MAX_S = 0.1
# A claim takes its slot further out by a reserve (this fraction of the step, at most
# SLOT_RESERVE_MAX_S) for its call to start in: a worker of a busy process may start the call a few
# hundred milliseconds after the claim without first moving the next slot in a transaction of its own.
# The record of the outcome gives back what the call did not use, while the slot is still the one the
# claim set, so the steady pace is the step. The same figures are in the dispatch SQL (migration 0026).
SLOT_RESERVE_FRACTION = 0.15
SLOT_RESERVE_MAX_S = 0.5


def slot_reserve_seconds(span_s: float) -> float:
    """The reserve inside a claimed slot ``span_s`` seconds after its claim (step plus reserve).

    The span counts from the caller's instant, a moment before the database's own (the claim's base),
    so this can exceed the reserve taken by a fraction of that moment; lateness counted from the same
    instant exceeds the true lateness by the whole moment, so the difference stays on the safe side."""
    if span_s <= 0:
        return 0.0
    return min(SLOT_RESERVE_FRACTION * span_s / (1 + SLOT_RESERVE_FRACTION), SLOT_RESERVE_MAX_S)


def interval_seconds(per_minute: int) -> float:
    """Seconds between two sends at ``per_minute`` messages per minute."""
    if per_minute <= 0:
        raise InvalidValueError("messages per minute must be positive")
    return 60.0 / per_minute


def slot_guard_seconds(per_minute: int) -> float:
    """The guard a slot carries beyond the pace at ``per_minute`` messages per minute."""
    return min(SLOT_GUARD_FRACTION * interval_seconds(per_minute), SLOT_GUARD_MAX_S)


def slot_spacing_seconds(per_minute: int, jitter_s: float = 0.0) -> float:
    """The mean time between two slots of an instance: the pace, its guard, and half the jitter."""
    return interval_seconds(per_minute) + slot_guard_seconds(per_minute) + max(jitter_s, 0.0) / 2


def jittered(interval: float, jitter_s: float, rng: random.Random) -> float:
    """``interval`` plus a random extra of up to ``jitter_s`` seconds (never shorter than ``interval``)."""
    if jitter_s <= 0:
        return interval
    return interval + rng.uniform(0.0, jitter_s)


def retry_delay(
    attempt: int,
    *,
    base_s: float,
    max_s: float,
    retry_after_s: float | None,
    rng: random.Random,
) -> float:
    """Exponential backoff with full jitter for retry ``attempt`` (1 = first retry), capped at ``max_s``.

    Never shorter than ``retry_after_s`` when the gateway asked for it.
    """
    ceiling = min(max_s, base_s * 2 ** min(max(attempt, 1) - 1, 62))
    delay = rng.uniform(0.0, max(ceiling, 0.0))
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return delay


def _midnight_after(day: date, tz: tzinfo | None) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def next_slot(
    *,
    now: datetime,
    last_sent_at: datetime | None,
    interval_s: float,
    sent_today: int = 0,
    daily_cap: int | None = None,
) -> datetime:
    """Earliest instant the next message may go: one interval after the last, and not over the cap.

    With the day's cap reached the slot is local midnight (``now``'s time zone); business hours are
    then checked by the caller with ``BusinessHours.next_opening``.
    """
    if daily_cap is not None and sent_today >= daily_cap:
        return _midnight_after(now.date(), now.tzinfo)
    if last_sent_at is None:
        return now
    due = (last_sent_at.astimezone(UTC) + timedelta(seconds=interval_s)).astimezone(now.tzinfo)
    return max(now, due)


def estimate_completion(
    n_messages: int,
    *,
    start: datetime,
    per_minute: int,
    hours: BusinessHours | None,
    daily_cap: int | None = None,
    backlog: int = 0,
    sent_today: int = 0,
    jitter_s: float = 0.0,
) -> datetime:
    """When the last of ``n_messages`` will be sent, if ``backlog`` messages of the instance go first.

    Works window by window (business windows or whole days), so 10,000 messages cost a few steps.
    ``sent_today`` counts messages already sent on ``start``'s local day against ``daily_cap``. The gap
    is the mean one (``slot_spacing_seconds``): jitter adds ``U(0, jitter_s)``, so ``jitter_s / 2`` on
    average, and every slot carries a small guard (1,000 messages at 20 a minute with 2 s of jitter take
    68 minutes, not 50).
    """
    if start.tzinfo is None:
        raise ValueError("estimate_completion needs an aware start")
    if daily_cap is not None and daily_cap <= 0:
        raise InvalidValueError("daily cap must be positive")
    interval = slot_spacing_seconds(per_minute, jitter_s)
    remaining = max(n_messages, 0) + max(backlog, 0)
    tz = hours.tz if hours is not None else start.tzinfo
    # Arithmetic in UTC: adding or subtracting datetimes that share a tzinfo is wall-clock maths,
    # which is an hour off across a DST change.
    t = start.astimezone(UTC)
    if remaining == 0:
        return t.astimezone(tz)
    day = t.astimezone(tz).date()
    midnight = _midnight_after(day, tz).astimezone(UTC)
    used = sent_today
    for _ in range(_MAX_STEPS):
        window_end: datetime | None = None
        if hours is not None:
            opening, window_end = hours.next_window(t)  # the opening and the end of its window, local
            t, local_day = opening.astimezone(UTC), opening.date()
        else:
            local_day = t.astimezone(tz).date()
        if local_day != day:
            day, used = local_day, 0
            midnight = _midnight_after(day, tz).astimezone(UTC)
        if daily_cap is not None and used >= daily_cap:
            t = midnight
            continue
        end = min(window_end.astimezone(UTC), midnight) if window_end is not None else midnight
        fits = max(math.ceil((end - t).total_seconds() / interval), 1)
        if daily_cap is not None:
            fits = min(fits, daily_cap - used)
        if remaining <= fits:
            return (t + timedelta(seconds=(remaining - 1) * interval)).astimezone(tz)
        remaining -= fits
        used += fits
        t = t + timedelta(seconds=fits * interval)
        if daily_cap is not None and used >= daily_cap:
            t = max(t, midnight)
        elif t < end:
            t = end
    raise InvalidValueError("estimate did not converge")  # pragma: no cover - needs absurd inputs
