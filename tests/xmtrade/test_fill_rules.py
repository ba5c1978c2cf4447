"""Fill rules of the backtest on hand-built bars: next-open fills, tick slippage, stops that
rest from the session after entry, gap-through stops, placeholder bars, cap breaches, and
cash that adds up to the fills and their charges."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import numpy as np
import pandas as pd
import pytest

from data_feeds.calendar import SessionCalendar
from strategies.signals import SIGNAL_COLUMNS
from xmtrade.backtest import BacktestResult, run_backtest
from xmtrade.config import AppConfig, load_config

START = date(2024, 3, 1)


@pytest.fixture(scope="module")
def calendar() -> SessionCalendar:
    cfg = load_config()
    return SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)


def make_bars(calendar: SessionCalendar, n: int, close: float = 12.0) -> pd.DataFrame:
    """`n` quiet sessions: open = close, high/low one tick around it, 1M shares traded."""
    sessions = calendar.sessions(START, date(2024, 12, 31))[:n]
    frame = pd.DataFrame(
        {
            "open": close,
            "high": close + 0.1,
            "low": close - 0.1,
            "close": close,
            "volume": 1_000_000.0,
            "no_trading": False,
        },
        index=pd.DatetimeIndex(sessions, name="date"),
    )
    return frame


def make_signals(
    bars: pd.DataFrame, oversold_on: Iterable[int] = (), overbought_on: Iterable[int] = ()
) -> pd.DataFrame:
    """A signals frame with RSI 50 everywhere but the given bars."""
    n = len(bars)
    sig = pd.DataFrame(index=bars.index)
    for name in SIGNAL_COLUMNS:
        sig[name] = np.nan
    sig["rsi"] = 50.0
    sig["macd"] = 0.0
    sig["macd_signal"] = 0.0
    sig["macd_hist"] = 0.0
    for flag in ("rsi_oversold", "rsi_overbought", "swing_low_known", "divergence"):
        sig[flag] = np.zeros(n, dtype=bool)
    for i in oversold_on:
        sig.iloc[i, sig.columns.get_loc("rsi_oversold")] = True
        sig.iloc[i, sig.columns.get_loc("rsi")] = 25.0
    for i in overbought_on:
        sig.iloc[i, sig.columns.get_loc("rsi_overbought")] = True
        sig.iloc[i, sig.columns.get_loc("rsi")] = 75.0
    for col in ("div_low1_date", "div_low2_date"):
        sig[col] = pd.NaT
    return sig


def set_bar(bars: pd.DataFrame, i: int, **values: float) -> None:
    for key, value in values.items():
        bars.iloc[i, bars.columns.get_loc(key)] = value


def run(
    cfg: AppConfig, bars: pd.DataFrame, signals: pd.DataFrame, calendar: SessionCalendar
) -> BacktestResult:
    return run_backtest(cfg, bars, calendar, signals=signals)


def config(**overrides: object) -> AppConfig:
    return load_config(overrides={"exits.max_holding_sessions": None, **overrides})


def test_entry_fills_at_next_open_plus_one_tick(calendar: SessionCalendar) -> None:
    bars = make_bars(calendar, 40)
    set_bar(bars, 31, open=12.30, high=12.50, low=12.20, close=12.40)
    result = run(config(), bars, make_signals(bars, oversold_on=[30]), calendar)
    entry = result.fills.iloc[0]
    assert entry["date"] == bars.index[31].date()
    assert entry["side"] == "buy"
    # 12.30 open + one 0.02 tick (10-20 band before 2025-08-04)
    assert entry["price"] == pytest.approx(12.32)
    decision = next(d for d in result.decisions if d.get("action") == "enter")
    assert decision["date"] == bars.index[30].date()
    assert decision["order"]["fills_on"] == bars.index[31].date()


def test_stop_rests_from_the_session_after_entry(calendar: SessionCalendar) -> None:
    bars = make_bars(calendar, 40)
    # the stop is the lowest low of 20 sessions (11.90) minus one tick = 11.88
    # entry day 31 trades down to 11.00 (below the stop) but the stop is not resting yet
    set_bar(bars, 31, open=12.00, high=12.10, low=11.00, close=11.95)
    result = run(config(), bars, make_signals(bars, oversold_on=[30]), calendar)
    assert len(result.fills) == 1, "no stop may fill on the entry session"
    place = next(d for d in result.decisions if d.get("action") == "place_stop")
    assert place["stop"]["to"] == pytest.approx(11.88)
    assert place["stop"]["rests_from"] == bars.index[32].date()


def test_stop_touched_intraday_fills_at_stop_minus_slippage(calendar: SessionCalendar) -> None:
    bars = make_bars(calendar, 40)
    set_bar(bars, 33, open=12.00, high=12.05, low=11.50, close=11.60)
    result = run(config(), bars, make_signals(bars, oversold_on=[30]), calendar)
    exit_fill = result.fills.iloc[1]
    assert exit_fill["date"] == bars.index[33].date()
    assert exit_fill["kind"] == "stop"
    assert exit_fill["price"] == pytest.approx(11.86)  # stop 11.88 less one 0.02 tick
    trade = result.trades.iloc[0]
    assert trade["exit_reason"] == "stop"


def test_stop_gapped_through_fills_at_the_open(calendar: SessionCalendar) -> None:
    bars = make_bars(calendar, 40)
    set_bar(bars, 33, open=10.00, high=10.40, low=9.50, close=10.20)
    cfg = config(**{"sizing.risk_per_trade_pct": 0.2})
    result = run(cfg, bars, make_signals(bars, oversold_on=[30]), calendar)
    exit_fill = result.fills.iloc[1]
    assert exit_fill["price"] == pytest.approx(9.99)  # open 10.00 less one 0.01 tick
    trade = result.trades.iloc[0]
    # planned at most 0.2% of NAV; the gap loses far more: counted as a cap breach
    assert trade["planned_risk_pct_nav"] <= 0.2
    assert trade["pnl_pct_nav"] < -0.2
    assert bool(trade["cap_breach"]) is True


def test_placeholder_bar_neither_fills_nor_signals(calendar: SessionCalendar) -> None:
    bars = make_bars(calendar, 40)
    set_bar(bars, 31, volume=0.0, open=12.0, high=12.0, low=12.0, close=12.0)
    bars.iloc[31, bars.columns.get_loc("no_trading")] = True
    set_bar(bars, 32, open=12.40, high=12.60, low=12.30, close=12.50)
    signals = make_signals(bars, oversold_on=[30, 31])
    result = run(config(), bars, signals, calendar)
    entries = result.fills[result.fills["side"] == "buy"]
    assert list(entries["date"]) == [bars.index[32].date()]  # waited for a real bar
    assert entries.iloc[0]["price"] == pytest.approx(12.42)
    decided = [d["date"] for d in result.decisions if "signals" in d]
    assert bars.index[31].date() not in decided  # the placeholder's signal is ignored


def test_rsi_overbought_exit_sells_at_next_open(calendar: SessionCalendar) -> None:
    bars = make_bars(calendar, 45)
    set_bar(bars, 36, open=13.00, high=13.20, low=12.90, close=13.10)
    result = run(config(), bars, make_signals(bars, oversold_on=[30], overbought_on=[35]), calendar)
    sell = result.fills.iloc[1]
    assert sell["date"] == bars.index[36].date()
    assert sell["kind"] == "exit"
    assert sell["price"] == pytest.approx(12.98)
    assert result.trades.iloc[0]["exit_reason"] == "rsi_overbought"
    # the resting stop was cancelled with the exit: exactly one sell
    assert (result.fills["side"] == "sell").sum() == 1


def test_holding_period_limit_exits(calendar: SessionCalendar) -> None:
    bars = make_bars(calendar, 45)
    cfg = load_config(overrides={"exits.max_holding_sessions": 5})
    result = run(cfg, bars, make_signals(bars, oversold_on=[30]), calendar)
    trade = result.trades.iloc[0]
    assert trade["exit_reason"] == "time_exit"
    # entered on 31, held 5 sessions by the close of 35, sold at the open of 36
    assert trade["exit_date"] == bars.index[36].date()


def test_cash_adds_up_to_fills_and_charges(calendar: SessionCalendar) -> None:
    bars = make_bars(calendar, 45)
    set_bar(bars, 36, open=13.00, high=13.20, low=12.90, close=13.10)
    cfg = config()
    result = run(cfg, bars, make_signals(bars, oversold_on=[30], overbought_on=[35]), calendar)
    fills = result.fills
    signed = np.where(fills["side"] == "buy", -fills["value"], fills["value"])
    expected_cash = cfg.backtest.initial_nav + signed.sum() - fills["fees"].sum()
    assert result.equity["cash"].iloc[-1] == pytest.approx(expected_cash, abs=0.005)
    trade = result.trades.iloc[0]
    assert trade["fees"] == pytest.approx(fills["fees"].sum())
    gross = (trade["exit_price"] - trade["entry_price"]) * trade["shares"]
    assert trade["pnl"] == pytest.approx(gross - trade["fees"], abs=0.01)


def test_sizing_respects_target_weight_and_board_lots(calendar: SessionCalendar) -> None:
    bars = make_bars(calendar, 40)
    cfg = config()
    result = run(cfg, bars, make_signals(bars, oversold_on=[30]), calendar)
    shares = int(result.fills.iloc[0]["shares"])
    assert shares % cfg.instrument.board_lot == 0
    nav = cfg.backtest.initial_nav
    assert shares * 12.02 <= nav * cfg.sizing.target_weight_pct.tactical / 100
    decision = next(d for d in result.decisions if d.get("action") == "enter")
    assert decision["sizing"]["shares"] == shares
