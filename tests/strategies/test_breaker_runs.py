"""The drawdown breaker in a backtest on hand-built bars: evaluated at every close, flat or
not, and each `reset` of its peak after it fires.

The world: a flat HK$12 stock; a stage-1 tranche bought on 2024-04-11 whose stop (HK$11.88)
is gapped through on 2024-04-22, when the stock opens and stays at HK$9. The stop sells at
the open, so at no close while held was the NAV 1% below its peak; flat after the gap it is
1.22% below. A 1% breaker on the whole NAV, cooling down for 5 sessions, must see that."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_three_horizon import PASSING, decision, entries, make_bars, run, write_facts

from data_feeds.calendar import SessionCalendar
from xmtrade.backtest import BacktestResult
from xmtrade.config import load_config

GAP = date(2024, 4, 22)


@pytest.fixture(scope="module")
def calendar() -> SessionCalendar:
    cfg = load_config()
    return SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)


def gapped_bars(calendar: SessionCalendar) -> pd.DataFrame:
    bars = make_bars(calendar)
    at = bars.index.get_loc(pd.Timestamp(GAP))
    for column, value in (("open", 9.0), ("close", 9.0), ("high", 9.1), ("low", 8.9)):
        bars.iloc[at:, bars.columns.get_loc(column)] = value
    return bars


def after(bars: pd.DataFrame, sessions: int) -> date:
    """The session `sessions` after the gap."""
    at = int(bars.index.get_loc(pd.Timestamp(GAP)))
    return bars.index[at + sessions].date()


def breaker_run(
    calendar: SessionCalendar, tmp_path: Path, reset: str, signals_after: list[int]
) -> tuple[BacktestResult, pd.DataFrame]:
    bars = gapped_bars(calendar)
    facts = write_facts(tmp_path / "f.csv", PASSING)
    overrides: dict[str, Any] = {
        "risk.drawdown_breaker.max_drawdown_pct": 1,
        "risk.drawdown_breaker.basis": "nav",
        "risk.drawdown_breaker.cooldown_sessions": 5,
        "risk.drawdown_breaker.reset": reset,
    }
    signals = [date(2024, 4, 10), *(after(bars, k) for k in signals_after)]
    return run(calendar, facts, signals, bars=bars, **overrides), bars


def fires(result: BacktestResult) -> list[dict[str, Any]]:
    return [d for d in result.decisions if d["action"] == "breaker"]


def test_the_stop_gapped_through_leaves_the_nav_past_the_limit_while_flat(
    calendar: SessionCalendar, tmp_path: Path
) -> None:
    result, _ = breaker_run(calendar, tmp_path, "at_fire", [])
    (trade,) = result.trades.to_dict("records")
    assert (trade["exit_date"], trade["exit_reason"]) == (GAP, "stop")
    nav = result.equity["nav"]
    before = nav.loc[: pd.Timestamp(GAP) - pd.Timedelta(days=1)]
    assert (before >= 0.99 * 1_000_000).all()  # never 1% below the peak while held
    assert nav.loc[pd.Timestamp(GAP)] < 0.99 * 1_000_000


def test_flat_the_breaker_fires_and_says_so(calendar: SessionCalendar, tmp_path: Path) -> None:
    result, bars = breaker_run(calendar, tmp_path, "at_fire", [2])
    (fire,) = fires(result)
    assert fire["date"] == GAP and fire["reason"] == "drawdown_breaker" and fire["tranches"] == []
    detail = fire["detail"]
    assert detail["peak_nav"] == 1_000_000 and detail["drawdown"] == pytest.approx(
        -0.0122, abs=1e-4
    )
    assert detail["peak_after"] == detail["nav"]  # at_fire: the peak restarts from here
    skip = decision(result, after(bars, 2), "skip")
    assert skip["why"] == "drawdown breaker cooling down"
    assert entries(result) == [(1, date(2024, 4, 11))]  # nothing opened on the signal


def test_at_fire_opens_again_after_the_cool_down(calendar: SessionCalendar, tmp_path: Path) -> None:
    result, bars = breaker_run(calendar, tmp_path, "at_fire", [2, 7])
    assert entries(result) == [(1, date(2024, 4, 11)), (1, after(bars, 8))]


def test_none_stands_for_good_while_flat(calendar: SessionCalendar, tmp_path: Path) -> None:
    result, bars = breaker_run(calendar, tmp_path, "none", [2, 7, 30])
    (fire,) = fires(result)  # one fire: standing on is not firing again
    assert fire["detail"]["peak_after"] == 1_000_000
    assert entries(result) == [(1, date(2024, 4, 11))]
    for k in (2, 7, 30):
        why = decision(result, after(bars, k), "skip")["why"]
        assert why.startswith("drawdown breaker stands: NAV HK$12,241.35 below its peak")
        assert why.endswith("(reset: none)")


def test_after_sessions_holds_the_peak_then_restarts_it(
    calendar: SessionCalendar, tmp_path: Path
) -> None:
    result, bars = breaker_run(calendar, tmp_path, "after_sessions 10", [7, 9, 10])
    (fire,) = fires(result)
    assert (
        fire["detail"]["peak_after"] == 1_000_000 and fire["detail"]["reset"] == "after_sessions 10"
    )
    for k in (7, 9):  # past the 5-session cool-down, but the old peak still stands
        assert decision(result, after(bars, k), "skip")["why"].startswith("drawdown breaker stands")
    # session 10 after the fire: the peak restarts from that close, and the signal is taken
    assert entries(result) == [(1, date(2024, 4, 11)), (1, after(bars, 11))]


def test_the_breaker_off_lets_the_signal_through(calendar: SessionCalendar, tmp_path: Path) -> None:
    bars = gapped_bars(calendar)
    facts = write_facts(tmp_path / "f.csv", PASSING)
    result = run(
        calendar, facts, [date(2024, 4, 10), after(bars, 2)], bars=bars,
        **{"risk.drawdown_breaker": None},
    )  # fmt: skip
    assert entries(result) == [(1, date(2024, 4, 11)), (1, after(bars, 3))]
    assert not fires(result)
