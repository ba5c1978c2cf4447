"""yfinance downloads (faked: tests never touch the network) and incremental cache updates."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yfinance
from price_frames import steady_bars, yf_frame

from data_feeds.calendar import SessionCalendar
from data_feeds.errors import DataError
from data_feeds.prices import PriceCache
from data_feeds.validation import ValidationFailed
from data_feeds.yahoo import fetch_yahoo, update_from_yahoo

# the listing date and refetch window of configs/default.yaml
HISTORY = {"history_start": date(2018, 7, 9), "refetch_sessions": 5}


def test_fetch_calls_yfinance_with_raw_close_and_exclusive_end(
    monkeypatch: pytest.MonkeyPatch, hkex: SessionCalendar
) -> None:
    source = steady_bars("2024-03-04", "2024-03-08", hkex)
    calls: list[tuple[Any, ...]] = []

    def fake_download(*args: Any, **kwargs: Any) -> pd.DataFrame:
        calls.append((args, kwargs))
        return yf_frame(source)

    monkeypatch.setattr(yfinance, "download", fake_download)
    bars = fetch_yahoo("1810.HK", date(2024, 3, 4), date(2024, 3, 8))
    assert calls == [
        (
            ("1810.HK",),
            {
                "start": "2024-03-04",
                "end": "2024-03-09",
                "auto_adjust": False,
                "progress": False,
                "actions": False,
            },
        )
    ]
    pd.testing.assert_frame_equal(bars, source)  # Close, not the (different) Adj Close


def test_empty_download_is_an_error_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: Any, **kwargs: Any) -> pd.DataFrame:
        log = logging.getLogger("yfinance")
        log.warning("Cookie/crumb fetch failed (DNSError), continuing without crumb")
        log.error("\n1 Failed download:")
        log.error("['1810.HK']: ConnectionError('no route to host')")
        log.error("['1810.HK']: ConnectionError('no route to host')")
        return pd.DataFrame()

    monkeypatch.setattr(yfinance, "download", offline)
    with pytest.raises(DataError) as err:
        fetch_yahoo("1810.HK", date(2024, 3, 4), date(2024, 3, 8))
    assert err.value.line() == (
        "yfinance 1810.HK: no data returned for 2024-03-04 .. 2024-03-08: offline, unknown "
        "symbol, or no sessions in range (yfinance said: ['1810.HK']: "
        "ConnectionError('no route to host'))"
    )
    empty = fetch_yahoo("1810.HK", date(2024, 3, 4), date(2024, 3, 8), allow_empty=True)
    assert empty.empty
    assert list(empty.columns) == ["open", "high", "low", "close", "volume", "no_trading"]


def test_download_exception_becomes_data_error() -> None:
    # tests/conftest.py makes yfinance.download raise NetworkBlocked
    with pytest.raises(DataError) as err:
        fetch_yahoo("1810.HK", date(2024, 3, 4), date(2024, 3, 8))
    assert err.value.where == "yfinance 1810.HK"
    assert err.value.message.startswith(
        "download of 2024-03-04 .. 2024-03-08 failed: NetworkBlocked: tests must not download"
    )


# ------------------------------------------------------------------ incremental updates


class FakeYahoo:
    """Serves `history` like Yahoo would, and records the ranges asked for."""

    def __init__(self, history: pd.DataFrame) -> None:
        self.history = history
        self.calls: list[tuple[date, date]] = []

    def __call__(self, symbol: str, start: date, end: date) -> pd.DataFrame:
        assert symbol == "1810.HK"
        self.calls.append((start, end))
        index = self.history.index
        return self.history.loc[(index >= pd.Timestamp(start)) & (index <= pd.Timestamp(end))]


def never(symbol: str, start: date, end: date) -> pd.DataFrame:
    raise AssertionError("nothing should be downloaded")


@pytest.fixture
def history(hkex: SessionCalendar) -> pd.DataFrame:
    return steady_bars("2024-03-01", "2024-04-30", hkex)


def test_empty_cache_downloads_from_start(
    tmp_path: Path, hkex: SessionCalendar, history: pd.DataFrame
) -> None:
    cache = PriceCache(tmp_path)
    fake = FakeYahoo(history)
    report = update_from_yahoo(
        cache, "1810.HK", date(2024, 3, 1), date(2024, 3, 28), hkex, **HISTORY, fetch=fake
    )
    assert fake.calls == [(date(2024, 3, 1), date(2024, 3, 28))]
    assert len(report.merge.added) == len(hkex.sessions("2024-03-01", "2024-03-28"))
    assert report.merge.revised == ()
    assert not report.no_new_data
    assert report.path == tmp_path / "1810.HK.csv"
    assert cache.load("1810.HK").index[-1] == pd.Timestamp("2024-03-28")


def test_empty_cache_without_start_begins_at_the_ipo(tmp_path: Path, hkex: SessionCalendar) -> None:
    fake = FakeYahoo(steady_bars("2018-07-09", "2018-07-31", hkex))
    update_from_yahoo(
        PriceCache(tmp_path), "1810.HK", None, date(2018, 7, 31), hkex, **HISTORY, fetch=fake
    )
    assert fake.calls == [(date(2018, 7, 9), date(2018, 7, 31))]


def test_only_the_missing_range_plus_refetch_window_is_downloaded(
    tmp_path: Path, hkex: SessionCalendar, history: pd.DataFrame
) -> None:
    cache = PriceCache(tmp_path)
    cache.save("1810.HK", history.loc[:"2024-03-15"])
    revised = history.copy()
    close = revised["close"].to_numpy(copy=True)
    close[revised.index.get_loc(pd.Timestamp("2024-03-13"))] += 0.05  # Yahoo revised it
    revised["close"] = close
    fake = FakeYahoo(revised)
    report = update_from_yahoo(
        cache, "1810.HK", None, date(2024, 3, 28), hkex, **HISTORY, fetch=fake
    )
    # 5 sessions before the last cached bar (2024-03-15) is 2024-03-08
    assert fake.calls == [(date(2024, 3, 8), date(2024, 3, 28))]
    assert report.merge.added[0] == date(2024, 3, 18)
    assert report.merge.added[-1] == date(2024, 3, 28)
    assert [r.date for r in report.merge.revised] == [date(2024, 3, 13)]
    assert report.received == len(hkex.sessions("2024-03-08", "2024-03-28"))
    loaded = cache.load("1810.HK")
    assert loaded["close"].tolist() == revised.loc[:"2024-03-28", "close"].tolist()


def test_up_to_date_cache_says_no_new_data_without_downloading(
    tmp_path: Path, hkex: SessionCalendar, history: pd.DataFrame
) -> None:
    cache = PriceCache(tmp_path)
    cache.save("1810.HK", history.loc[:"2024-03-28"])
    # 2024-03-29 .. 04-01 is Easter: the latest session on or before 04-01 is 03-28
    report = update_from_yahoo(
        cache, "1810.HK", None, date(2024, 4, 1), hkex, **HISTORY, fetch=never
    )
    assert report.no_new_data
    assert report.note == (
        "the cache already holds the latest session on or before 2024-04-01 (2024-03-28)"
    )
    assert report.fetched_from is None


def test_download_with_nothing_new_says_so(
    tmp_path: Path, hkex: SessionCalendar, history: pd.DataFrame
) -> None:
    cache = PriceCache(tmp_path)
    cache.save("1810.HK", history.loc[:"2024-03-15"])
    before = (tmp_path / "1810.HK.csv").read_bytes()
    fake = FakeYahoo(history.loc[:"2024-03-15"])  # Yahoo has not published more yet
    report = update_from_yahoo(
        cache, "1810.HK", None, date(2024, 3, 18), hkex, **HISTORY, fetch=fake
    )
    assert report.no_new_data
    assert report.note == "yfinance has nothing newer than 2024-03-15 up to 2024-03-18"
    assert (tmp_path / "1810.HK.csv").read_bytes() == before


def test_validation_errors_leave_the_cache_untouched(
    tmp_path: Path, hkex: SessionCalendar, history: pd.DataFrame
) -> None:
    cache = PriceCache(tmp_path)
    cache.save("1810.HK", history.loc[:"2024-03-15"])
    before = (tmp_path / "1810.HK.csv").read_bytes()
    bad = history.loc[:"2024-03-22"].copy()
    bad.loc["2024-03-20", "high"] = 1.0  # high below low
    with pytest.raises(ValidationFailed) as err:
        update_from_yahoo(
            cache, "1810.HK", None, date(2024, 3, 22), hkex, **HISTORY, fetch=FakeYahoo(bad)
        )
    assert err.value.line().startswith(
        "yfinance 1810.HK: 1 error; cache untouched; first: 2024-03-20 error ohlc_inconsistent: "
        "high 1 below low"
    )
    assert (tmp_path / "1810.HK.csv").read_bytes() == before


def test_start_before_the_cache_backfills(
    tmp_path: Path, hkex: SessionCalendar, history: pd.DataFrame
) -> None:
    cache = PriceCache(tmp_path)
    cache.save("1810.HK", history.loc["2024-03-11":"2024-03-15"])
    fake = FakeYahoo(history)
    report = update_from_yahoo(
        cache, "1810.HK", date(2024, 3, 1), date(2024, 3, 15), hkex, **HISTORY, fetch=fake
    )
    assert fake.calls == [(date(2024, 3, 1), date(2024, 3, 15))]
    assert report.merge.added == tuple(d.date() for d in hkex.sessions("2024-03-01", "2024-03-08"))


def test_bad_ranges(tmp_path: Path, hkex: SessionCalendar) -> None:
    cache = PriceCache(tmp_path)
    with pytest.raises(DataError, match="2024-03-10 is after the end 2024-03-01"):
        update_from_yahoo(
            cache, "1810.HK", date(2024, 3, 10), date(2024, 3, 1), hkex, **HISTORY, fetch=never
        )
    weekend = update_from_yahoo(
        cache, "1810.HK", date(2024, 3, 9), date(2024, 3, 10), hkex, **HISTORY, fetch=never
    )
    assert weekend.no_new_data
    assert weekend.note == "no XHKG session from 2024-03-09 to 2024-03-10"


def test_empty_fetch_result_in_range_is_an_error(
    tmp_path: Path, hkex: SessionCalendar, history: pd.DataFrame
) -> None:
    cache = PriceCache(tmp_path)
    cache.save("1810.HK", history.loc[:"2024-03-15"])
    with pytest.raises(DataError, match="no bars from 2024-03-08 to 2024-03-28 in the download"):
        update_from_yahoo(
            cache,
            "1810.HK",
            None,
            date(2024, 3, 28),
            hkex,
            **HISTORY,
            fetch=FakeYahoo(history.loc["2024-04-01":]),
        )
