"""The engine's speed-ups change no result: the bulk-preloaded feed holds what backtrader's
PandasData loads, the galloping lot search finds what the bisection found, the memoised
tick and cost arithmetic equal a fresh computation, and the shared precomputed inputs give
the same run as computing them inside `run_backtest`."""

from __future__ import annotations

import random
from decimal import Decimal

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from data_feeds.calendar import SessionCalendar
from risk.sizing import _most_lots
from risk.ticks import TickRules, to_decimal
from strategies.bars_feed import BarsWithFlags
from xmtrade.backtest import load_fundamentals, run_backtest, signals_for
from xmtrade.config import load_config
from xmtrade.costs import HkCostModel
from xmtrade.reports.figures import summarize


class PlainFeed(bt.feeds.PandasData):
    """backtrader's own loader, one `.iloc` per value and bar."""

    lines = ("no_trading",)
    params = (("no_trading", "no_trading"), ("openinterest", None))


class Recorder(bt.Strategy):
    """Keeps every line value and the broker's view of prices on every bar."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, ...]] = []

    def next(self) -> None:
        d = self.data
        self.seen.append(
            (
                d.datetime[0],
                d.open[0],
                d.high[0],
                d.low[0],
                d.close[0],
                d.volume[0],
                d.no_trading[0],
                len(d),
                d.buflen(),
            )
        )


def replay(feed_class: type, bars: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """What a strategy sees on every bar, and every line's whole buffer after the run."""
    cerebro = bt.Cerebro(stdstats=False, preload=True, runonce=True)
    cerebro.adddata(feed_class(dataname=bars))
    cerebro.addstrategy(Recorder)
    strategy = cerebro.run()[0]
    feed = cerebro.datas[0]
    buffers = {a: np.array(getattr(feed.lines, a).array) for a in feed.getlinealiases()}
    return np.array(strategy.seen), buffers


def test_fast_feed_holds_what_pandasdata_loads(real_bars: pd.DataFrame) -> None:
    (fast, fast_lines), (plain, plain_lines) = (
        replay(BarsWithFlags, real_bars),
        replay(PlainFeed, real_bars),
    )
    assert len(fast) == len(real_bars)
    np.testing.assert_array_equal(fast, plain)  # bit for bit, NaN included
    assert fast_lines.keys() == plain_lines.keys()
    for alias, values in plain_lines.items():
        np.testing.assert_array_equal(fast_lines[alias], values, err_msg=alias)


def test_bisection_and_galloping_find_the_same_lot_count() -> None:
    def bisect(upper: int, fits: object) -> int:  # the search the sizing used before
        lo, hi = 0, upper
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(mid):  # type: ignore[operator]
                lo = mid
            else:
                hi = mid - 1
        return lo

    rng = random.Random(5)
    for _ in range(3000):
        upper = rng.choice([0, 1, 2, 3, rng.randint(0, 50), rng.randint(0, 10**6)])
        limit = rng.choice([-1, 0, upper, upper - 1, rng.randint(-5, upper + 5)])
        calls: list[int] = []

        def fits(lots: int, limit: int = limit, calls: list[int] = calls) -> bool:
            calls.append(lots)
            return lots <= limit

        assert _most_lots(upper, fits) == bisect(upper, fits), (upper, limit)
        assert all(0 < c <= upper for c in calls)  # 0 is never asked: it always fits


def test_memoised_ticks_equal_fresh_arithmetic() -> None:
    tables = load_config().market.tick_tables
    warm, days = (
        TickRules(tables),
        [pd.Timestamp("2024-03-01").date(), pd.Timestamp("2025-08-04").date()],
    )
    rng = random.Random(9)
    prices = [round(rng.uniform(0.5, 120), rng.choice([1, 2, 3])) for _ in range(400)]
    for _ in range(2):  # the second pass is served from the memo
        for price in prices:
            for day in days:
                fresh = TickRules(tables)
                assert warm.round_down(price, day) == fresh.round_down(price, day)
                assert warm.round_up(price, day) == fresh.round_up(price, day)
                valid = fresh.round_down(price, day)
                for ticks in (-2, -1, 0, 1, 3):
                    assert warm.shift(valid, day, ticks) == fresh.shift(valid, day, ticks)
    assert str(to_decimal(-0.0)) == "-0.0" and str(to_decimal(0.0)) == "0.0"
    assert to_decimal(12.34) == Decimal("12.34") and to_decimal(12.34) is to_decimal(12.34)


def test_memoised_charges_equal_fresh_arithmetic() -> None:
    cfg = load_config()
    warm = HkCostModel(cfg.market, cfg.costs)
    rng = random.Random(4)
    changes = (
        "2020-05-04",
        "2022-12-30",
        "2023-01-03",
        "2023-11-16",
        "2023-11-17",
        "2025-06-27",
        "2025-06-30",
    )  # either side of each rate change
    days = [pd.Timestamp(d).date() for d in changes]
    values = [round(rng.uniform(100, 2_000_000), 2) for _ in range(300)] + [0.0, 5.0]
    for _ in range(2):
        for day in days:
            for value in values:
                fresh = HkCostModel(cfg.market, cfg.costs)
                assert warm.charges(day, value) == fresh.charges(day, value)
                assert warm.round_trip_d(day, value, value * 0.9) == sum(
                    (fresh.charges(day, v).total_d for v in (value, value * 0.9)), Decimal(0)
                )
    with pytest.raises(ValueError):
        warm.charges(days[0], -1.0)


@pytest.mark.slow
def test_precomputed_inputs_give_the_same_run(real_bars: pd.DataFrame) -> None:
    cfg = load_config(overrides={"signals.rsi.oversold": 35, "stop.lookback": 10})
    calendar = SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)
    start, end = pd.Timestamp("2021-01-04").date(), pd.Timestamp("2023-12-29").date()
    plain = run_backtest(cfg, real_bars, calendar, start=start, end=end)
    shared = run_backtest(
        cfg,
        real_bars,
        calendar,
        start=start,
        end=end,
        signals=signals_for(cfg, real_bars),
        fundamentals=load_fundamentals(cfg, calendar),
    )
    assert summarize(plain) == summarize(shared)
    pd.testing.assert_frame_equal(plain.equity, shared.equity)
    pd.testing.assert_frame_equal(plain.fills, shared.fills)
    assert plain.decisions == shared.decisions
