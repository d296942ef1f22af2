"""Business hours: weekly windows in the tenant's time zone, minus holidays and closed dates.

Windows are wall-clock times: 08:00-18:00 means 08:00-18:00 local on either side of a DST change.
A window ending at ``time(0)`` runs until midnight. Windows never span midnight; split 22:00-02:00
into 22:00-00:00 and 00:00-02:00 of the next day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from billing.errors import BusinessHoursError

SEARCH_DAYS = 400
_WALLS_KEPT = 1024  # window ends remembered per schedule (about 250 kB at most; an ETA uses a few dozen)
_DAY_S = 86_400
_DAY_NAMES = {
    "mon": 0,
    "tue": 1,
    "wed": 2,
    "thu": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
    "seg": 0,
    "ter": 1,
    "qua": 2,
    "qui": 3,
    "sex": 4,
    "sab": 5,
    "sáb": 5,
    "dom": 6,
}


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


@dataclass(frozen=True)
class Window:
    """Open on ``weekday`` (0 = Monday) from ``start`` (inclusive) to ``end`` (exclusive)."""

    weekday: int
    start: time
    end: time

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise BusinessHoursError(f"weekday must be 0 (Monday) to 6 (Sunday), got {self.weekday}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise BusinessHoursError("window times are wall-clock times: give them without a time zone")
        if self.end_seconds <= _seconds(self.start):
            raise BusinessHoursError(f"window end {self.end} must be after its start {self.start}")

    @property
    def end_seconds(self) -> int:
        return _DAY_S if self.end == time(0) else _seconds(self.end)


def _merge(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


@cache
def _supported_countries() -> Mapping[str, frozenset[str]]:
    """The holiday calendars this ``holidays`` release has, with their subdivisions: the library builds
    the listing anew on every call (about 5 ms here), and every tenant's hours check it."""
    return {country: frozenset(subdivisions) for country, subdivisions in holidays.list_supported_countries().items()}


def load_calendar_listing() -> None:
    """Build the holiday calendars' listing now rather than on the first tenant's hours (a sender does it
    before its first claim: it loads every country's calendar module)."""
    _supported_countries()


class BusinessHours:
    """When a tenant may send. Build once per tenant configuration; instances are cheap to query."""

    def __init__(
        self,
        windows: Iterable[Window],
        *,
        timezone: str = "America/Sao_Paulo",
        country: str | None = "BR",
        subdivision: str | None = None,
        closed_dates: Iterable[date] = (),
    ) -> None:
        spans: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for window in windows:
            if not isinstance(window, Window):
                raise BusinessHoursError(f"not a Window: {window!r}")
            spans[window.weekday].append((_seconds(window.start), window.end_seconds))
        if not any(spans):
            raise BusinessHoursError("business hours need at least one window; this schedule is never open")
        self._spans = tuple(_merge(day) for day in spans)
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise BusinessHoursError(f"unknown time zone {timezone!r}") from exc
        self.timezone = timezone
        self.country = country.upper() if country else None
        self.subdivision = subdivision.upper() if subdivision else None
        self._check_country()
        self._closed = frozenset(closed_dates)
        self._by_year: dict[int, frozenset[date]] = {}
        self._walls: dict[tuple[date, int], datetime] = {}

    def _check_country(self) -> None:
        if self.country is None:
            if self.subdivision:
                raise BusinessHoursError("a subdivision needs a country")
            return
        supported = _supported_countries()
        if self.country not in supported:
            raise BusinessHoursError(f"no holiday calendar for country {self.country!r}")
        if self.subdivision and self.subdivision not in supported[self.country]:
            raise BusinessHoursError(f"unknown subdivision {self.subdivision!r} of {self.country}")

    def closed_on(self, day: date) -> bool:
        """True on a holiday or a tenant closed date (whatever the windows say)."""
        year = self._by_year.get(day.year)
        if year is None:
            year = self._by_year[day.year] = self._year(day.year)
        return day in year

    def _year(self, year: int) -> frozenset[date]:
        closed = {d for d in self._closed if d.year == year}
        if self.country:
            closed.update(holidays.country_holidays(self.country, subdiv=self.subdivision, years=year))
        return frozenset(closed)

    def _local(self, at: datetime) -> datetime:
        if at.tzinfo is None:
            raise ValueError("business hours need an aware datetime, got a naive one")
        return at.astimezone(self.tz)

    def _span_at(self, local: datetime) -> tuple[int, int] | None:
        if self.closed_on(local.date()):
            return None
        now = local.hour * 3600 + local.minute * 60 + local.second
        for start, end in self._spans[local.weekday()]:
            if start <= now < end:
                return start, end
        return None

    def is_open(self, at: datetime) -> bool:
        """Whether messages may be sent at the instant ``at`` (aware)."""
        return self._span_at(self._local(at)) is not None

    def closes_at(self, at: datetime) -> datetime | None:
        """End of the window open at ``at`` (tenant tz), or None when closed."""
        local = self._local(at)
        span = self._span_at(local)
        if span is None:
            return None
        return self._wall(local.date(), span[1])

    def next_opening(self, at: datetime) -> datetime:
        """``at`` (in the tenant tz) when open, else the start of the next window that really opens."""
        local = self._local(at)
        if self._span_at(local) is not None:
            return local
        return self._next_window(at, local)[0]

    def next_window(self, at: datetime) -> tuple[datetime, datetime]:
        """``(next_opening(at), closes_at(next_opening(at)))`` in one search, both in the tenant tz: the
        ETA walks the calendar window by window and needs both ends of each."""
        local = self._local(at)
        span = self._span_at(local)
        if span is not None:
            return local, self._wall(local.date(), span[1])
        return self._next_window(at, local)

    def _next_window(self, at: datetime, local: datetime) -> tuple[datetime, datetime]:
        """The first window that really opens after ``at`` (closed then; ``local``: ``at`` in the tz)."""
        at_ts = at.timestamp()
        first = local.date()
        for offset in range(SEARCH_DAYS):
            day = first + timedelta(days=offset)
            if self.closed_on(day):
                continue
            for start, end in self._spans[day.weekday()]:
                candidate = self._wall(day, start)
                if candidate.timestamp() < at_ts:
                    continue
                # A window inside a DST gap does not exist that day: its start lands after its end.
                wall = candidate.hour * 3600 + candidate.minute * 60 + candidate.second
                if candidate.date() == day and start <= wall < end:
                    return candidate, self._wall(day, end)
        raise BusinessHoursError(f"business hours never open in the {SEARCH_DAYS} days after {at.isoformat()}")

    def _wall(self, day: date, seconds: int) -> datetime:
        """The instant wall-clock ``seconds`` after local midnight of ``day``, normalised (DST gaps).

        Remembered per day and time (the ETA asks for the same window ends on every status read)."""
        key = (day, seconds)
        found = self._walls.get(key)
        if found is None:
            if len(self._walls) >= _WALLS_KEPT:
                self._walls.clear()
            found = self._walls[key] = self._compute_wall(day, seconds)
        return found

    def _compute_wall(self, day: date, seconds: int) -> datetime:
        if seconds >= _DAY_S:
            day, seconds = day + timedelta(days=1), seconds - _DAY_S
        naive = datetime.combine(day, time(seconds // 3600, seconds // 60 % 60, seconds % 60))
        return naive.replace(tzinfo=self.tz).astimezone(UTC).astimezone(self.tz)


def parse_days(spec: str) -> list[int]:
    """``"mon-fri"`` -> [0..4], ``"mon,wed,fri"``, ``"sat"``, ``"fri-mon"`` (wraps); pt-BR names too."""
    days: set[int] = set()
    for part in spec.lower().replace(" ", "").split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        try:
            lo = _DAY_NAMES[first]
            hi = _DAY_NAMES[last] if last else lo
        except KeyError as exc:
            raise BusinessHoursError(f"unknown day {exc.args[0]!r} in {spec!r}; use mon..sun") from exc
        days.update((lo + i) % 7 for i in range((hi - lo) % 7 + 1))
    if not days:
        raise BusinessHoursError(f"no days in {spec!r}")
    return sorted(days)
