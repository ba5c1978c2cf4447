"""HKEX trading sessions: `exchange_calendars` minus the ad-hoc closures it does not know.

`exchange_calendars` lists every scheduled session; typhoon and black-rainstorm closures that
shut the exchange for a whole day (2023-09-01, 2023-09-08) are still listed. The config's
`market.adhoc_closures` removes them. Every date here is a tz-naive session date at midnight.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

import numpy as np
import pandas as pd

from data_feeds.errors import DataError

# The calendar is built from this date on: fixed, so the range does not drift with today's date
# (exchange_calendars' own default starts 20 years before today).
CALENDAR_START = date(2000, 1, 1)
# HKEX's closing auction ends by 16:10 Hong Kong time; a bar fetched before then is partial.
SESSION_CLOSED_AT = time(16, 10)


class UnknownCalendar(DataError):
    """A calendar code exchange_calendars does not know."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(
            f"calendar {code}",
            None,
            "unknown exchange_calendars code (expected e.g. XHKG for the Hong Kong exchange)",
        )


@functools.lru_cache(maxsize=8)
def _exchange_calendar(code: str, start: date) -> Any:
    """The `exchange_calendars` object for `code` (built once per process: it is slow-ish)."""
    import exchange_calendars as xcals

    try:
        return xcals.get_calendar(code, start=pd.Timestamp(start))
    except xcals.errors.InvalidCalendarName:
        raise UnknownCalendar(code) from None


_DAY_NS = 86_400 * 10**9


def _days(index: pd.DatetimeIndex) -> tuple[int, ...]:
    naive = index.tz_localize(None) if index.tz is not None else index
    return tuple(int(v) // _DAY_NS for v in naive.normalize().as_unit("ns").asi8)


def _index(days: Sequence[int]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(days, dtype="int64") * _DAY_NS).as_unit("ns")


@functools.lru_cache(maxsize=8)
def _scheduled(code: str, start: date) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """The library's sessions and early closes of `code` from `start` (tz-naive midnights),
    from the on-disk cache of the data directory when it has today's, else built (and kept
    there)."""
    from data_feeds import calendar_cache

    today = date.today()
    cached = calendar_cache.load(code, start, today)
    if cached is None:
        cal = _exchange_calendar(code, start)
        cached = calendar_cache.CachedSessions(
            _days(pd.DatetimeIndex(cal.sessions)), _days(pd.DatetimeIndex(cal.early_closes))
        )
        calendar_cache.store(code, start, today, cached)
    return _index(cached.sessions), _index(cached.early_closes)


def session_day(value: date | str) -> pd.Timestamp:
    """`value` as a tz-naive midnight timestamp (a tz-aware value is read in Hong Kong time)."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("Asia/Hong_Kong").tz_localize(None)
    return stamp.normalize().as_unit("ns")


def _as_date(stamp: pd.Timestamp | np.datetime64) -> date:
    day: date = pd.Timestamp(stamp).date()
    return day


class SessionCalendar:
    """Trading sessions of one exchange, with ad-hoc full-day closures taken out."""

    def __init__(
        self, code: str, adhoc_closures: Sequence[date] = (), start: date = CALENDAR_START
    ) -> None:
        self.code = code
        self.adhoc_closures: tuple[date, ...] = tuple(
            sorted({_as_date(session_day(d)) for d in adhoc_closures})
        )
        scheduled, early = _scheduled(code, start)
        closed = pd.DatetimeIndex([session_day(d) for d in self.adhoc_closures]).as_unit("ns")
        self._scheduled = scheduled
        self._sessions = scheduled.difference(closed)
        self._early_closes = early.difference(closed)
        self._values = self._sessions.values

    @functools.cached_property
    def first_session(self) -> date:
        """The first session the calendar knows."""
        return _as_date(self._scheduled[0])

    @property
    def last_session(self) -> date:
        """The last session the calendar knows (exchange_calendars looks about a year ahead)."""
        return _as_date(self._scheduled[-1])

    def _check(self, value: date | str, what: str) -> pd.Timestamp:
        day = session_day(value)
        if day < self._scheduled[0] or day > self._scheduled[-1]:
            raise DataError(
                f"calendar {self.code}",
                what,
                f"{day.date()} is outside the calendar's range "
                f"{self.first_session} .. {self.last_session}",
            )
        return day

    def sessions(self, start: date | str, end: date | str) -> pd.DatetimeIndex:
        """Sessions from `start` to `end`, both included (tz-naive, midnight)."""
        first = self._check(start, "start")
        last = self._check(end, "end")
        lo = int(np.searchsorted(self._values, first.to_datetime64(), side="left"))
        hi = int(np.searchsorted(self._values, last.to_datetime64(), side="right"))
        out = self._sessions[lo:hi]
        out.name = "date"
        return out

    def is_session(self, day: date | str) -> bool:
        """True when the exchange traded on `day` (ad-hoc closures are not sessions)."""
        stamp = self._check(day, "date")
        return bool(stamp in self._sessions)

    def is_adhoc_closure(self, day: date | str) -> bool:
        """True when `day` is a scheduled session on which the exchange was closed all day."""
        return _as_date(session_day(day)) in self.adhoc_closures

    @functools.cached_property
    def _dates(self) -> list[date]:
        return [_as_date(d) for d in self._sessions]

    def next_session(self, day: date | str) -> date:
        """The first session strictly after `day`."""
        if type(day) is date and self.first_session <= day < self._dates[-1]:
            return self._dates[bisect.bisect_right(self._dates, day)]  # a backtest asks often
        stamp = self._check(day, "date")
        pos = int(np.searchsorted(self._values, stamp.to_datetime64(), side="right"))
        if pos >= len(self._sessions):
            raise DataError(
                f"calendar {self.code}",
                "date",
                f"no session after {stamp.date()} in the calendar's range "
                f"{self.first_session} .. {self.last_session}",
            )
        return _as_date(self._sessions[pos])

    def previous_session(self, day: date | str) -> date:
        """The last session strictly before `day`."""
        stamp = self._check(day, "date")
        pos = int(np.searchsorted(self._values, stamp.to_datetime64(), side="left")) - 1
        if pos < 0:
            raise DataError(
                f"calendar {self.code}",
                "date",
                f"no session before {stamp.date()} in the calendar's range "
                f"{self.first_session} .. {self.last_session}",
            )
        return _as_date(self._sessions[pos])

    def session_on_or_before(self, day: date | str) -> date:
        """`day` itself when it is a session, else the session before it."""
        stamp = self._check(day, "date")
        if stamp in self._sessions:
            return _as_date(stamp)
        return self.previous_session(stamp)

    def sessions_back(self, day: date | str, count: int) -> date:
        """The session `count` sessions before `day` (`day` itself when count is 0)."""
        result = _as_date(session_day(day))
        for _ in range(count):
            result = self.previous_session(result)
        return result

    def latest_closed_session(self, now: datetime | None = None) -> date:
        """The latest session whose closing auction is over at `now` (default: now).

        A session still trading (before 16:10 Hong Kong time) is not closed: its bar is partial.
        """
        local = hong_kong_now(now)
        today = local.tz_localize(None).normalize()
        if self.is_session(today) and local.time() >= SESSION_CLOSED_AT:
            return _as_date(today)
        return self.previous_session(today)

    def half_days(self, start: date | str, end: date | str) -> pd.DatetimeIndex:
        """Sessions from `start` to `end` that close early (half days)."""
        first = self._check(start, "start")
        last = self._check(end, "end")
        early = self._early_closes
        out = early[(early >= first) & (early <= last)]
        out.name = "date"
        return out

    def adhoc_closures_between(self, start: date | str, end: date | str) -> list[date]:
        """Ad-hoc full-day closures from `start` to `end`, both included."""
        first = _as_date(session_day(start))
        last = _as_date(session_day(end))
        return [d for d in self.adhoc_closures if first <= d <= last]

    def __repr__(self) -> str:
        closures = ", ".join(str(d) for d in self.adhoc_closures)
        return f"SessionCalendar({self.code!r}, adhoc_closures=[{closures}])"


def hong_kong_now(now: datetime | None = None) -> pd.Timestamp:
    """`now` (default: the current time) as a Hong Kong wall-clock time; naive means UTC."""
    stamp = pd.Timestamp(now) if now is not None else pd.Timestamp.now(tz="UTC")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert("Asia/Hong_Kong")
