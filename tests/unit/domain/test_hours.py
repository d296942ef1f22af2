from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from billing.domain.hours import BusinessHours, Window, parse_days
from billing.errors import BusinessHoursError
from hypothesis import given, settings
from hypothesis import strategies as st

SP = ZoneInfo("America/Sao_Paulo")
NY = ZoneInfo("America/New_York")


def weekdays(start: time = time(8), end: time = time(18), **kwargs: object) -> BusinessHours:
    return BusinessHours([Window(d, start, end) for d in range(5)], **kwargs)  # type: ignore[arg-type]


def test_open_inside_a_window_and_closed_at_its_end() -> None:
    hours = weekdays()
    assert hours.is_open(datetime(2026, 11, 18, 8, 0, tzinfo=SP))
    assert hours.is_open(datetime(2026, 11, 18, 17, 59, 59, tzinfo=SP))
    assert not hours.is_open(datetime(2026, 11, 18, 18, 0, tzinfo=SP))
    assert not hours.is_open(datetime(2026, 11, 18, 7, 59, tzinfo=SP))


def test_instants_are_judged_in_the_tenant_time_zone() -> None:
    # 10:30 UTC is 07:30 in São Paulo: still closed.
    assert not weekdays().is_open(datetime(2026, 11, 18, 10, 30, tzinfo=UTC))
    assert weekdays().is_open(datetime(2026, 11, 18, 11, 30, tzinfo=UTC))


def test_several_windows_per_day_leave_lunch_closed() -> None:
    hours = BusinessHours([Window(2, time(8), time(12)), Window(2, time(14), time(18))])
    wednesday = datetime(2026, 11, 18, 12, 30, tzinfo=SP)
    assert not hours.is_open(wednesday)
    assert hours.next_opening(wednesday) == datetime(2026, 11, 18, 14, 0, tzinfo=SP)
    assert hours.closes_at(wednesday.replace(hour=9)) == datetime(2026, 11, 18, 12, 0, tzinfo=SP)


def test_adjacent_windows_merge_into_one_closing_time() -> None:
    hours = BusinessHours([Window(2, time(8), time(12)), Window(2, time(12), time(18))])
    assert hours.closes_at(datetime(2026, 11, 18, 9, tzinfo=SP)) == datetime(2026, 11, 18, 18, tzinfo=SP)


def test_next_opening_is_the_instant_itself_when_open() -> None:
    at = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
    assert weekdays().next_opening(at) == at
    assert weekdays().next_opening(at).tzinfo == SP


def test_friday_evening_opens_on_monday_morning() -> None:
    friday = datetime(2026, 11, 27, 18, 30, tzinfo=SP)
    assert weekdays().next_opening(friday) == datetime(2026, 11, 30, 8, 0, tzinfo=SP)


def test_a_holiday_on_a_friday_before_a_weekend_opens_on_monday() -> None:
    # 20 Nov 2026 (Consciência Negra) is a national holiday and a Friday.
    thursday_evening = datetime(2026, 11, 19, 19, 0, tzinfo=SP)
    hours = weekdays()
    assert not hours.is_open(datetime(2026, 11, 20, 10, 0, tzinfo=SP))
    assert hours.next_opening(thursday_evening) == datetime(2026, 11, 23, 8, 0, tzinfo=SP)


def test_regional_holidays_follow_the_subdivision() -> None:
    revolution_day = datetime(2026, 7, 9, 10, 0, tzinfo=SP)  # São Paulo state holiday, Thursday
    assert not weekdays(subdivision="SP").is_open(revolution_day)
    assert weekdays(subdivision="RJ").is_open(revolution_day)


def test_tenant_closed_dates_close_the_whole_day() -> None:
    hours = weekdays(closed_dates=[date(2026, 11, 18)])
    assert not hours.is_open(datetime(2026, 11, 18, 10, tzinfo=SP))
    assert hours.next_opening(datetime(2026, 11, 18, 10, tzinfo=SP)) == datetime(2026, 11, 19, 8, tzinfo=SP)


def test_no_country_means_no_holidays() -> None:
    assert weekdays(country=None).is_open(datetime(2026, 11, 20, 10, tzinfo=SP))


def test_a_window_until_midnight_closes_at_midnight() -> None:
    hours = BusinessHours([Window(5, time(20), time(0)), Window(6, time(0), time(2))], country=None)
    saturday = datetime(2026, 11, 21, 23, 59, tzinfo=SP)
    assert hours.is_open(saturday)
    assert hours.closes_at(saturday) == datetime(2026, 11, 22, 0, 0, tzinfo=SP)
    assert hours.is_open(datetime(2026, 11, 22, 0, 0, tzinfo=SP))
    assert hours.next_opening(datetime(2026, 11, 22, 2, 0, tzinfo=SP)) == datetime(2026, 11, 28, 20, tzinfo=SP)


def test_windows_keep_wall_clock_times_across_dst_changes() -> None:
    hours = BusinessHours([Window(d, time(9), time(17)) for d in range(7)], timezone="America/New_York", country=None)
    # 8 Mar 2026: clocks jump from 02:00 to 03:00; 1 Nov 2026: from 02:00 back to 01:00.
    for day in (date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9), date(2026, 10, 31), date(2026, 11, 1)):
        opening = hours.next_opening(datetime.combine(day, time(3), tzinfo=NY))
        assert (opening.date(), opening.time()) == (day, time(9))
    evening = datetime(2026, 3, 7, 18, tzinfo=NY)
    assert hours.next_opening(evening).timestamp() - evening.timestamp() == 14 * 3600  # an hour lost


def test_a_window_that_falls_in_the_dst_gap_does_not_open_that_day() -> None:
    hours = BusinessHours([Window(6, time(2), time(3))], timezone="America/New_York", country=None)
    saturday = datetime(2026, 3, 7, 12, tzinfo=NY)
    assert hours.next_opening(saturday) == datetime(2026, 3, 15, 2, tzinfo=NY)


def test_a_window_starting_in_the_dst_gap_opens_when_the_clock_resumes() -> None:
    hours = BusinessHours([Window(6, time(2, 30), time(4))], timezone="America/New_York", country=None)
    opening = hours.next_opening(datetime(2026, 3, 7, 12, tzinfo=NY))
    assert opening == datetime(2026, 3, 8, 3, 30, tzinfo=NY)
    assert hours.is_open(opening)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        weekdays().is_open(datetime(2026, 11, 18, 10))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: BusinessHours([]), "never open"),
        (lambda: BusinessHours([Window(0, time(8), time(18))], timezone="Mars/Olympus"), "time zone"),
        (lambda: BusinessHours([Window(0, time(8), time(18))], country="XX"), "country"),
        (lambda: BusinessHours([Window(0, time(8), time(18))], subdivision="ZZ"), "subdivision"),
        (lambda: Window(0, time(18), time(8)), "after its start"),
        (lambda: Window(0, time(8), time(8)), "after its start"),
        (lambda: Window(7, time(8), time(9)), "weekday"),
    ],
)
def test_unusable_schedules_fail_at_configuration_time(build: object, message: str) -> None:
    with pytest.raises(BusinessHoursError, match=message):
        build()  # type: ignore[operator]


def test_a_schedule_closed_by_its_own_dates_errors_instead_of_looping() -> None:
    start = date(2026, 1, 5)
    hours = BusinessHours(
        [Window(0, time(8), time(9))], country=None, closed_dates=[start + timedelta(weeks=w) for w in range(60)]
    )
    with pytest.raises(BusinessHoursError, match="never open"):
        hours.next_opening(datetime(2026, 1, 5, 10, tzinfo=SP))


@pytest.mark.parametrize(
    ("spec", "days"),
    [
        ("mon-fri", [0, 1, 2, 3, 4]),
        ("mon,wed,fri", [0, 2, 4]),
        ("sat", [5]),
        ("fri-mon", [0, 4, 5, 6]),
        ("seg-sex", [0, 1, 2, 3, 4]),
        (" Sat , SUN ", [5, 6]),
    ],
)
def test_day_specs_from_the_cli(spec: str, days: list[int]) -> None:
    assert parse_days(spec) == days


@pytest.mark.parametrize("spec", ["", "funday", "mon-xyz", ","])
def test_bad_day_specs_are_refused(spec: str) -> None:
    with pytest.raises(BusinessHoursError):
        parse_days(spec)


SCHEDULES = [
    weekdays(subdivision="SP"),
    BusinessHours([Window(2, time(8), time(12)), Window(2, time(14), time(18)), Window(6, time(0), time(0, 1))]),
    BusinessHours([Window(d, time(1, 30), time(2, 30)) for d in range(7)], timezone="America/New_York", country="US"),
]


@settings(deadline=None, max_examples=300)
@given(
    st.sampled_from(SCHEDULES),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)),
)
def test_next_opening_is_open_and_never_in_the_past(hours: BusinessHours, at: datetime) -> None:
    opening = hours.next_opening(at)
    assert opening >= at
    assert hours.is_open(opening)
    closes = hours.closes_at(opening)
    assert closes is not None and closes > opening


@settings(deadline=None, max_examples=300)
@given(
    st.sampled_from(SCHEDULES),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)),
)
def test_next_window_is_the_next_opening_and_the_end_of_its_window(hours: BusinessHours, at: datetime) -> None:
    opening, closes = hours.next_window(at)
    assert opening == hours.next_opening(at) and opening.tzinfo is hours.tz
    assert closes == hours.closes_at(opening)


def test_remembered_window_ends_stay_bounded_and_answer_like_a_fresh_schedule() -> None:
    from billing.domain import hours as hours_module

    kept, fresh = weekdays(subdivision="SP"), weekdays(subdivision="SP")
    start = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    for offset in range(0, 3 * 365):
        at = start + timedelta(days=offset, hours=offset % 13)
        assert kept.next_window(at) == (fresh.next_opening(at), fresh.closes_at(fresh.next_opening(at)))
        fresh = weekdays(subdivision="SP")  # nothing remembered
    assert 0 < len(kept._walls) <= hours_module._WALLS_KEPT
