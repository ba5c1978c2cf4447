"""Builders for small bars frames and yfinance-shaped downloads, shared by the data tests."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from data_feeds.calendar import SessionCalendar
from data_feeds.prices import normalize_bars

Row = tuple[float, float, float, float, float]


def make_bars(rows: Mapping[str, Row]) -> pd.DataFrame:
    """Canonical bars from {"2024-01-02": (open, high, low, close, volume)} (order kept)."""
    frame = pd.DataFrame(
        list(rows.values()),
        columns=["open", "high", "low", "close", "volume"],
        index=pd.DatetimeIndex(list(rows.keys()), name="date"),
    )
    return normalize_bars(frame, "test")


def steady_bars(
    start: str, end: str, calendar: SessionCalendar, base: float = 10.0
) -> pd.DataFrame:
    """One ordinary bar for every session from start to end, prices rising by 0.1 a day."""
    rows: dict[str, Row] = {}
    for i, day in enumerate(calendar.sessions(start, end)):
        price = base + 0.1 * i
        rows[day.strftime("%Y-%m-%d")] = (price, price + 0.5, price - 0.5, price + 0.2, 1e6 + i)
    return make_bars(rows)


def yf_frame(bars: pd.DataFrame, symbol: str = "1810.HK", tz: str | None = None) -> pd.DataFrame:
    """What `yfinance.download(symbol, auto_adjust=False)` returns: (Price, Ticker) columns."""
    index = pd.DatetimeIndex(bars.index, name="Date")
    if tz is not None:
        index = index.tz_localize(tz)
    data = {
        ("Adj Close", symbol): bars["close"].to_numpy() * 0.9,  # must never be used
        ("Close", symbol): bars["close"].to_numpy(),
        ("High", symbol): bars["high"].to_numpy(),
        ("Low", symbol): bars["low"].to_numpy(),
        ("Open", symbol): bars["open"].to_numpy(),
        ("Volume", symbol): bars["volume"].to_numpy().astype("int64"),
    }
    frame = pd.DataFrame(data, index=index)
    frame.columns = pd.MultiIndex.from_tuples(list(data), names=["Price", "Ticker"])
    return frame
