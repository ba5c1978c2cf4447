"""HKEX sessions: exchange_calendars minus the ad-hoc closures it misses."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from data_feeds.calendar import SessionCalendar
from data_feeds.errors import DataError


def test_adhoc_closures_are_not_sessions(hkex: SessionCalendar) -> None:
    # Whatever the installed exchange_calendars lists (4.13.3 knows the 2023-09-01 typhoon
    # closure itself, older releases do not), the configured closures are never sessions.
    assert not hkex.is_session(date(2023, 9, 1))
    assert not hkex.is_session(date(2023, 9, 8))
    assert hkex.is_adhoc_closure(date(2023, 9, 8))
    assert hkex.next_session(date(2023, 8, 31)) == date(2023, 9, 4)
    assert hkex.previous_session(date(2023, 9, 11)) == date(2023, 9, 7)


def test_an_adhoc_closure_removes_a_day_the_library_lists() -> None:
    plain = SessionCalendar("XHKG")
    listed = date(2024, 3, 5)
    assert plain.is_session(listed)
    closed = SessionCalendar("XHKG", adhoc_closures=[listed])
    assert not closed.is_session(listed)
    assert closed.is_adhoc_closure(listed)
    assert closed.next_session(date(2024, 3, 4)) == date(2024, 3, 6)


def test_sessions_are_tz_naive_midnights_both_ends_included(hkex: SessionCalendar) -> None:
    sessions = hkex.sessions(date(2024, 2, 8), date(2024, 2, 16))
    assert sessions.tz is None
    assert sessions.name == "date"
    # Lunar New Year: 2024-02-09 is a half day, 10-13 closed
    assert [d.date() for d in sessions] == [
        date(2024, 2, 8),
        date(2024, 2, 9),
        date(2024, 2, 14),
        date(2024, 2, 15),
        date(2024, 2, 16),
    ]
    assert all(d == d.normalize() for d in sessions)


def test_weekends_and_holidays(hkex: SessionCalendar) -> None:
    assert not hkex.is_session(date(2024, 2, 10))  # Saturday
    assert not hkex.is_session(date(2024, 2, 12))  # Lunar New Year holiday
    assert hkex.is_session("2024-02-14")
    assert hkex.next_session(date(2024, 2, 9)) == date(2024, 2, 14)
    assert hkex.previous_session(date(2024, 2, 14)) == date(2024, 2, 9)
    assert hkex.session_on_or_before(date(2024, 2, 12)) == date(2024, 2, 9)
    assert hkex.session_on_or_before(date(2024, 2, 9)) == date(2024, 2, 9)
    assert hkex.sessions_back(date(2024, 2, 14), 2) == date(2024, 2, 8)


def test_half_days(hkex: SessionCalendar) -> None:
    half = hkex.half_days(date(2024, 1, 1), date(2024, 12, 31))
    assert [d.date() for d in half] == [date(2024, 2, 9), date(2024, 12, 24), date(2024, 12, 31)]


def test_dates_outside_the_range_name_the_range(hkex: SessionCalendar) -> None:
    with pytest.raises(DataError) as err:
        hkex.sessions(date(1995, 1, 1), date(1995, 2, 1))
    assert err.value.where == "calendar XHKG"
    assert "1995-01-01 is outside the calendar's range 2000-01-03 .. " in err.value.message
    with pytest.raises(DataError, match="outside the calendar's range"):
        hkex.is_session(date(2090, 1, 2))
    with pytest.raises(DataError, match="no session before 2000-01-03"):
        hkex.previous_session(date(2000, 1, 3))


def test_unknown_calendar_code() -> None:
    with pytest.raises(DataError) as err:
        SessionCalendar("XXHK")
    assert err.value.line() == (
        "calendar XXHK: unknown exchange_calendars code (expected e.g. XHKG for the Hong Kong "
        "exchange)"
    )


def test_tz_aware_dates_are_read_in_hong_kong_time(hkex: SessionCalendar) -> None:
    # 2024-02-08 20:00 UTC is 2024-02-09 04:00 in Hong Kong: a session (half day)
    assert hkex.is_session(pd.Timestamp("2024-02-08 20:00", tz="UTC"))
    assert hkex.next_session(pd.Timestamp("2024-02-08 20:00", tz="UTC")) == date(2024, 2, 14)


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        ("2024-02-09 07:00", date(2024, 2, 8)),  # 15:00 HKT, still trading: the day before
        ("2024-02-09 08:30", date(2024, 2, 9)),  # 16:30 HKT: today's close is over
        ("2024-02-10 03:00", date(2024, 2, 9)),  # Saturday
    ],
)
def test_latest_closed_session(hkex: SessionCalendar, utc: str, expected: date) -> None:
    now = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert hkex.latest_closed_session(now) == expected
