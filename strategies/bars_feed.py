"""The price feed of a backtest: OHLCV plus the `no_trading` flag, preloaded fast."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd


class BarsWithFlags(bt.feeds.PandasData):
    """OHLCV plus the `no_trading` flag of placeholder bars.

    Preloading fills each line's buffer from the frame's columns in one step instead of one
    `.iloc` per value and bar, and stepping through the preloaded bars only moves the line
    buffers: the same values as `PandasData`, much faster. The `tick_*` attributes stay None,
    so the broker reads each bar's prices from the lines (backtrader's `tick_*` copies of
    them exist for bars built from ticks, which a daily feed never is).
    """

    lines = ("no_trading",)
    params = (("no_trading", "no_trading"), ("openinterest", None))
    _fast_lines: tuple[Any, ...] = ()  # every line buffer, set by a plain preload

    def advance(self, size: int = 1, datamaster: Any = None, ticks: bool = True) -> None:
        if datamaster is not None or not self._fast_lines:
            super().advance(size=size, datamaster=datamaster, ticks=ticks)
            return
        for line in self._fast_lines:  # LineBuffer.advance on unbounded buffers
            line._idx += size
            line.lencount += size

    def preload(self) -> None:
        plain = (
            not self._filters
            and not self._ffilters
            and not self._tzinput
            and self.p.fromdate is None
            and self.p.todate is None
            and self._colmapping.get("datetime") is None
            and len(self) == 0
        )
        if not plain:
            super().preload()
            return
        frame: pd.DataFrame = self.p.dataname
        count = len(frame)
        for alias in self.getlinealiases():
            line = getattr(self.lines, alias)
            if alias == "datetime":
                values = _date_numbers(frame.index)
            else:
                column = self._colmapping[alias]
                if column is None:  # a field missing from the frame stays NaN, as in PandasData
                    values = [math.nan] * count
                else:
                    values = [float(v) for v in frame.iloc[:, column].tolist()]
            line.array.extend(values)
            line.idx += count
            line.lencount += count
        self._idx = count
        self._last()
        self.home()
        buffers = tuple(self.lines.lines)  # type: ignore[attr-defined]
        if all(b.mode == b.UnBounded for b in buffers):
            self._tick_nullify()
            self._fast_lines = buffers


def session_dates(index: pd.Index) -> list[date]:
    """`[ts.date() for ts in index]`, vectorised for a tz-naive DatetimeIndex."""
    if isinstance(index, pd.DatetimeIndex) and index.tz is None:
        dates: list[date] = index.date.tolist()
        return dates
    return [ts.date() for ts in index]


def _date_numbers(index: pd.Index) -> list[float]:
    """backtrader's `date2num` of each timestamp: the proleptic ordinal for tz-naive midnights."""
    if (
        isinstance(index, pd.DatetimeIndex)
        and index.tz is None
        and bool((index == index.normalize()).all())
    ):
        days = index.to_numpy().astype("datetime64[D]").astype(np.int64)
        return [float(d) for d in (days + _UNIX_EPOCH_ORDINAL).tolist()]
    return [bt.date2num(ts.to_pydatetime()) for ts in index]


_UNIX_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
