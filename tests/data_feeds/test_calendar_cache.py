"""The exchange calendar's sessions kept on disk: the same sessions as the library, written
atomically, and a damaged file ignored (the calendar is built again and the file replaced)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from data_feeds import calendar, calendar_cache
from data_feeds.calendar import CALENDAR_START, SessionCalendar


@pytest.fixture
def cache_dir(tmp_path: Path):  # type: ignore[no-untyped-def]
    calendar_cache.use_folder(tmp_path)
    calendar._scheduled.cache_clear()
    yield tmp_path / "cache" / "calendars"
    calendar_cache.use_folder(None)
    calendar._scheduled.cache_clear()


def built(code: str = "XHKG") -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    calendar._scheduled.cache_clear()
    return calendar._scheduled(code, CALENDAR_START)


def test_the_cached_sessions_are_the_librarys(cache_dir: Path) -> None:
    fresh = built()
    files = list(cache_dir.glob("XHKG-2000-01-01-*.json"))
    assert len(files) == 1
    assert calendar_cache.library_version() in files[0].name
    assert date.today().isoformat() in files[0].name
    cached = built()  # read back from the file
    lib = calendar._exchange_calendar("XHKG", CALENDAR_START)
    assert cached[0].equals(pd.DatetimeIndex(lib.sessions).as_unit("ns"))
    assert cached[1].equals(pd.DatetimeIndex(lib.early_closes).as_unit("ns").normalize())
    assert cached[0].equals(fresh[0]) and cached[1].equals(fresh[1])


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: text.replace("[", "[1,", 1),  # a session added: the digest disagrees
        lambda text: "",
        lambda text: "\x00\xff not json",
    ],
)
def test_a_damaged_cache_is_ignored_and_rebuilt(cache_dir: Path, damage) -> None:  # type: ignore[no-untyped-def]
    good = built()
    path = next(cache_dir.glob("XHKG-*.json"))
    path.write_text(damage(path.read_text()))
    again = built()
    assert again[0].equals(good[0])
    assert calendar_cache.load("XHKG", CALENDAR_START, date.today()) is not None  # rewritten


def test_an_unwritable_cache_changes_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the folder would go")
    calendar_cache.use_folder(tmp_path)
    try:
        assert len(built()[0]) > 6000
    finally:
        calendar_cache.use_folder(None)
        calendar._scheduled.cache_clear()


def test_next_session_of_a_date_is_the_slow_paths() -> None:
    hkex = SessionCalendar("XHKG", [date(2023, 9, 1), date(2023, 9, 8)])
    day = hkex.first_session
    while day < hkex.last_session:
        assert hkex.next_session(day) == hkex.next_session(pd.Timestamp(day)), day
        day += timedelta(days=1)
    assert hkex.next_session(date(2023, 8, 31)) == date(2023, 9, 4)  # typhoon Saola
