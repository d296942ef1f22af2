from __future__ import annotations

import random
import time as clock
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from billing.domain.hours import BusinessHours, Window
from billing.domain.pacing import (
    estimate_completion,
    interval_seconds,
    jittered,
    next_slot,
    retry_delay,
)
from billing.errors import InvalidValueError

SP = ZoneInfo("America/Sao_Paulo")
WEEKDAYS = BusinessHours([Window(d, time(8), time(18)) for d in range(5)], country="BR")


def test_interval_is_a_minute_divided_by_the_rate() -> None:
    assert interval_seconds(20) == 3.0
    with pytest.raises(InvalidValueError):
        interval_seconds(0)


def test_jitter_only_lengthens_the_interval() -> None:
    rng = random.Random(1)
    delays = [jittered(3.0, 2.0, rng) for _ in range(1000)]
    assert min(delays) >= 3.0 and max(delays) <= 5.0
    assert jittered(3.0, 0.0, rng) == 3.0


def test_retry_delay_grows_exponentially_within_the_cap() -> None:
    rng = random.Random(7)
    for attempt in range(1, 40):
        delay = retry_delay(attempt, base_s=2, max_s=300, retry_after_s=None, rng=rng)
        assert 0 <= delay <= min(300, 2 * 2 ** (attempt - 1))
    big = [retry_delay(10, base_s=2, max_s=300, retry_after_s=None, rng=rng) for _ in range(200)]
    assert max(big) > 200  # full jitter spreads over the whole range


def test_retry_delay_never_undercuts_retry_after_even_above_the_cap() -> None:
    rng = random.Random(3)
    assert all(retry_delay(1, base_s=1, max_s=60, retry_after_s=30, rng=rng) >= 30 for _ in range(100))
    assert retry_delay(1, base_s=1, max_s=60, retry_after_s=120, rng=rng) == 120


def test_retry_delay_is_reproducible_with_a_seeded_rng() -> None:
    first = retry_delay(3, base_s=1, max_s=60, retry_after_s=None, rng=random.Random(5))
    assert first == retry_delay(3, base_s=1, max_s=60, retry_after_s=None, rng=random.Random(5))


def test_next_slot_waits_one_interval_after_the_last_send() -> None:
    now = datetime(2026, 11, 18, 10, 0, 0, tzinfo=SP)
    assert next_slot(now=now, last_sent_at=None, interval_s=3) == now
    assert next_slot(now=now, last_sent_at=now - timedelta(seconds=1), interval_s=3) == now + timedelta(seconds=2)
    assert next_slot(now=now, last_sent_at=now - timedelta(seconds=10), interval_s=3) == now


def test_next_slot_moves_to_midnight_when_the_daily_cap_is_reached() -> None:
    now = datetime(2026, 11, 18, 10, 0, tzinfo=SP)
    slot = next_slot(now=now, last_sent_at=None, interval_s=3, sent_today=100, daily_cap=100)
    assert slot == datetime(2026, 11, 19, 0, 0, tzinfo=SP)


def test_estimate_without_business_hours_is_count_times_interval() -> None:
    start = datetime(2026, 11, 18, 10, 0, tzinfo=SP)
    # 60 gaps of 1 s plus the slot guard (5 % of the pace, at most 0.1 s).
    assert estimate_completion(61, start=start, per_minute=60, hours=None) == start + timedelta(seconds=63)
    assert estimate_completion(0, start=start, per_minute=60, hours=None) == start


def test_backlog_of_the_instance_goes_first() -> None:
    start = datetime(2026, 11, 18, 10, 0, tzinfo=SP)
    alone = estimate_completion(10, start=start, per_minute=60, hours=None)
    behind = estimate_completion(10, start=start, per_minute=60, hours=None, backlog=50)
    assert behind - alone == timedelta(seconds=50 * 1.05)


def test_messages_only_progress_while_open() -> None:
    friday_1730 = datetime(2026, 11, 27, 17, 30, tzinfo=SP)
    # 20/min, slots 3.1 s apart: 581 fit before 18:00 on Friday, the other 419 take 21.6 minutes on Monday.
    eta = estimate_completion(1000, start=friday_1730, per_minute=20, hours=WEEKDAYS)
    assert eta == datetime(2026, 11, 30, 8, 0, tzinfo=SP) + timedelta(seconds=418 * 3.1)


def test_a_start_outside_hours_begins_at_the_next_opening() -> None:
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=SP)
    assert estimate_completion(1, start=saturday, per_minute=20, hours=WEEKDAYS) == datetime(
        2026, 11, 30, 8, 0, tzinfo=SP
    )


def test_the_daily_cap_pushes_the_rest_to_the_next_open_day() -> None:
    monday = datetime(2026, 11, 30, 8, 0, tzinfo=SP)
    eta = estimate_completion(250, start=monday, per_minute=60, hours=WEEKDAYS, daily_cap=100)
    assert eta == datetime(2026, 12, 2, 8, 0, tzinfo=SP) + timedelta(seconds=49 * 1.05)
    eta_used = estimate_completion(10, start=monday, per_minute=60, hours=WEEKDAYS, daily_cap=100, sent_today=95)
    assert eta_used == datetime(2026, 12, 1, 8, 0, tzinfo=SP) + timedelta(seconds=4 * 1.05)


def test_estimates_are_fast_for_big_batches() -> None:
    started = clock.perf_counter()
    eta = estimate_completion(
        10_000, start=datetime(2026, 11, 18, 10, tzinfo=UTC), per_minute=5, hours=WEEKDAYS, daily_cap=700
    )
    assert eta > datetime(2026, 12, 1, tzinfo=UTC)
    assert clock.perf_counter() - started < 0.1


def test_estimate_refuses_naive_start_and_zero_cap() -> None:
    with pytest.raises(ValueError, match="aware"):
        estimate_completion(1, start=datetime(2026, 1, 1), per_minute=1, hours=None)
    with pytest.raises(InvalidValueError):
        estimate_completion(1, start=datetime(2026, 1, 1, tzinfo=UTC), per_minute=1, hours=None, daily_cap=0)


def test_estimate_counts_real_seconds_across_a_dst_change() -> None:
    ny = ZoneInfo("America/New_York")
    start = datetime(2026, 3, 8, 1, 0, tzinfo=ny)  # an hour before clocks jump to 03:00
    eta = estimate_completion(121, start=start, per_minute=1, hours=None)
    assert eta.timestamp() - start.timestamp() == pytest.approx(120 * 60.1)  # 1/min, guard 0.1 s
    assert eta == datetime(2026, 3, 8, 4, 0, 12, tzinfo=ny)


def test_the_estimate_uses_the_mean_gap_with_jitter_not_the_bare_interval() -> None:
    start = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
    bare = estimate_completion(1000, start=start, per_minute=20, hours=None)
    jittered = estimate_completion(1000, start=start, per_minute=20, hours=None, jitter_s=2.0)
    assert (bare - start).total_seconds() == pytest.approx(999 * 3.1)  # 999 gaps of 3 s plus a 0.1 s guard
    # 999 gaps of 4.1 s on average: 68 minutes.
    assert (jittered - start).total_seconds() == pytest.approx(999 * 4.1)
    # Work queued ahead on the instance goes first, then the daily cap stops the day.
    ahead = estimate_completion(10, start=start, per_minute=60, hours=None, backlog=50, daily_cap=55)
    assert ahead.astimezone(UTC).date() > start.date()
