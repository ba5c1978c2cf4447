"""No look-ahead: changing every bar after a date leaves every decision up to it unchanged."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from data_feeds.calendar import SessionCalendar
from xmtrade.backtest import BacktestResult, run_backtest
from xmtrade.config import load_config


def scramble_after(bars: pd.DataFrame, cutoff: date, seed: int) -> pd.DataFrame:
    """Every bar after `cutoff` replaced by a different, still consistent, random bar."""
    rng = np.random.default_rng(seed)
    out = bars.copy()
    after = out.index > pd.Timestamp(cutoff)
    n = int(after.sum())
    scale = rng.uniform(0.6, 1.4, n)
    opens = out.loc[after, "open"].to_numpy() * scale
    closes = out.loc[after, "close"].to_numpy() * scale[::-1]
    highs = np.maximum(opens, closes) * rng.uniform(1.0, 1.05, n)
    lows = np.minimum(opens, closes) * rng.uniform(0.95, 1.0, n)
    out.loc[after, "open"] = opens.round(2)
    out.loc[after, "close"] = closes.round(2)
    out.loc[after, "high"] = np.maximum(highs, np.maximum(opens, closes)).round(2) + 0.01
    out.loc[after, "low"] = np.minimum(lows, np.minimum(opens, closes)).round(2) - 0.01
    out.loc[after, "volume"] = rng.integers(1, 10**8, n).astype(float)
    out.loc[after, "no_trading"] = False
    return out


def decisions_upto(result: BacktestResult, cutoff: date) -> list[dict[str, Any]]:
    return [d for d in result.decisions if d["date"] <= cutoff]


def assert_same_upto(a: BacktestResult, b: BacktestResult, cutoff: date) -> None:
    day = pd.Timestamp(cutoff)
    assert decisions_upto(a, cutoff) == decisions_upto(b, cutoff)
    fills_a = a.fills[pd.to_datetime(a.fills["date"]) <= day]
    fills_b = b.fills[pd.to_datetime(b.fills["date"]) <= day]
    pd.testing.assert_frame_equal(fills_a, fills_b)
    pd.testing.assert_frame_equal(a.equity.loc[:day], b.equity.loc[:day])


@pytest.mark.slow
@pytest.mark.parametrize(
    "cutoff", [date(2018, 10, 17), date(2020, 3, 23), date(2022, 5, 19), date(2025, 11, 20)]
)
def test_future_bars_do_not_change_past_decisions(
    real_bars: pd.DataFrame, hkex: SessionCalendar, cutoff: date
) -> None:
    cfg = load_config()
    base = run_backtest(cfg, real_bars, hkex)
    changed = run_backtest(cfg, scramble_after(real_bars, cutoff, seed=7), hkex)
    assert decisions_upto(base, cutoff), "the cutoff should come after some decisions"
    assert_same_upto(base, changed, cutoff)
    # and the scrambled future really did change what came after
    assert base.decisions != changed.decisions


@pytest.mark.slow
def test_later_start_keeps_indicators_of_the_full_history(
    real_bars: pd.DataFrame, hkex: SessionCalendar
) -> None:
    cfg = load_config()
    full = run_backtest(cfg, real_bars, hkex)
    late = run_backtest(cfg, real_bars, hkex, start=date(2022, 1, 3))
    first_late = next(d for d in late.decisions if "signals" in d)
    same_day = [d for d in full.decisions if d["date"] == first_late["date"] and "signals" in d]
    assert same_day and same_day[0]["signals"] == first_late["signals"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        {"stop.method": "atr"},
        {"stop.method": "swing_low"},
        {"stop.method": "lowest_low_atr", "entry.gap_rule": "reanchor"},
    ],
)
def test_stop_methods_and_the_open_check_read_no_future_bar(
    real_bars: pd.DataFrame, hkex: SessionCalendar, overrides: dict[str, Any]
) -> None:
    cfg = load_config(overrides=overrides)
    cutoff = date(2022, 5, 19)
    base = run_backtest(cfg, real_bars, hkex)
    changed = run_backtest(cfg, scramble_after(real_bars, cutoff, seed=11), hkex)
    assert any(d["action"] == "pre_open_check" for d in decisions_upto(base, cutoff))
    assert_same_upto(base, changed, cutoff)
