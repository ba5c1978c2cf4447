"""An independent check of the execution a trader would sign, from the run's own trades and
fills and the prices only (charges and ticks written out by hand in test_recompute):

- no tranche bought at or below its initial stop (nor on an open at or below it);
- no buy and sell at the same open (a stop the open triggers, or a market sell, on a day
  with a buy);
- the total cap and the 2% rule hold at every buy fill, at the fill price and the NAV
  marked at that open;
- every tranche's stage is one not held when it was bought, with every lower stage held,
  and the stage column of the equity is the highest stage held;
- cash and NAV follow from the fills to the cent.

It runs on the reference config and on other configs and windows."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from test_recompute import hk_charges, tick_below

from data_feeds.calendar import SessionCalendar
from xmtrade.backtest import BacktestResult, run_backtest
from xmtrade.config import load_config


def _round_trip(on: date, buy_value: float, sell_value: float) -> float:
    buy = sum(hk_charges(on, round(buy_value, 2)).values(), Decimal(0))
    sell = sum(hk_charges(on, round(sell_value, 2)).values(), Decimal(0))
    return float(buy + sell)


def check_execution(result: BacktestResult, bars: pd.DataFrame) -> dict[str, int]:
    """Assert every rule above on one run; return how many buys and same-day checks it saw."""
    cfg = result.config
    cap = cfg.sizing.max_weight_pct / 100
    risk = cfg.sizing.risk_per_trade_pct / 100
    keep = cfg.entry.gap_rule == "keep"
    trades = {t["id"]: t for t in result.trades.to_dict("records")}
    fills = result.fills.to_dict("records")
    for trade in trades.values():
        opened = bars.loc[pd.Timestamp(trade["entry_date"]), "open"]
        if not keep:
            assert trade["entry_price"] > trade["initial_stop"], trade
            assert opened > trade["initial_stop"], trade

    cash = Decimal(str(cfg.backtest.initial_nav))
    shares = 0
    held: dict[int, int] = {}  # tranche -> stage
    by_day: dict[date, list[dict[str, Any]]] = {}
    for fill in fills:
        by_day.setdefault(fill["date"], []).append(fill)
    buys = 0
    for ts, row in result.equity.iterrows():
        day = ts.date()
        bar = bars.loc[ts]
        todays = by_day.get(day, [])
        at_open_sells = [
            f
            for f in todays
            if f["side"] == "sell"
            and (f["order_type"] == "market" or bar["open"] <= f["order_price"])
        ]
        if any(f["side"] == "buy" for f in todays):
            assert not at_open_sells, (day, todays)
        nav_at_open = float(cash) + shares * bar["open"]
        position_at_open = shares
        for fill in todays:
            if fill["side"] == "buy":
                buys += 1
                trade = trades[fill["tranche"]]
                stage = trade["stage"]
                stages = set(held.values())
                assert stage not in stages, (day, stage, stages)
                assert set(range(1, stage)) <= stages, (day, stage, stages)
                after = position_at_open * bar["open"] + fill["shares"] * fill["price"]
                assert after <= cap * nav_at_open + 1e-6, (day, after / nav_at_open)
                if not keep:
                    stop = trade["initial_stop"]
                    exit_at = stop - cfg.costs.slippage_ticks * tick_below(stop, day)
                    loss = (fill["price"] - exit_at) * fill["shares"] + _round_trip(
                        day, fill["value"], exit_at * fill["shares"]
                    )
                    assert loss <= risk * nav_at_open + 1e-6, (day, loss / nav_at_open)
                held[fill["tranche"]] = stage
                position_at_open += fill["shares"]
                shares += fill["shares"]
                cash -= Decimal(str(fill["value"])) + Decimal(str(fill["fees"]))
            else:
                held.pop(fill["tranche"])
                shares -= fill["shares"]
                cash += Decimal(str(fill["value"])) - Decimal(str(fill["fees"]))
        assert row["shares"] == shares, day
        assert row["cash"] == pytest.approx(float(cash), abs=0.005), day
        assert row["nav"] == pytest.approx(float(cash) + shares * bar["close"], abs=0.01), day
        assert row["stage"] == max(held.values(), default=0), day
    return {"buys": buys}


@pytest.fixture(scope="module")
def reference(real_bars: pd.DataFrame, hkex: SessionCalendar) -> BacktestResult:
    return run_backtest(load_config(), real_bars, hkex)


@pytest.mark.slow
def test_reference_run_is_executable(reference: BacktestResult, real_bars: pd.DataFrame) -> None:
    seen = check_execution(reference, real_bars)
    assert seen["buys"] > 20
    checks = [d for d in reference.decisions if d["action"] == "pre_open_check"]
    assert any(d["check"] == "skip_gap" for d in checks)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "start", "end"),
    [
        ({"entry.gap_rule": "reanchor"}, None, None),
        ({"stop.method": "atr", "stop.atr_multiple": 1.5}, date(2019, 1, 1), None),
        ({"stop.method": "lowest_low_atr", "stop.atr_multiple": 0.5}, None, date(2023, 6, 30)),
        ({"stop.method": "swing_low", "stages.one_step_per_report": False}, None, None),
        (
            {"sizing.max_weight_pct": 8, "stages.min_sessions_between_tranches": 5},
            date(2021, 1, 4),
            None,
        ),
        ({"risk.drawdown_breaker.basis": "nav", "stop.lookback": 10}, date(2024, 1, 2), None),
        ({"entry.gap_rule": "keep"}, None, None),
    ],
)
def test_other_configs_and_windows_are_executable(
    real_bars: pd.DataFrame,
    hkex: SessionCalendar,
    overrides: dict[str, Any],
    start: date | None,
    end: date | None,
) -> None:
    result = run_backtest(load_config(overrides=overrides), real_bars, hkex, start, end)
    assert check_execution(result, real_bars)["buys"] > 0


@pytest.mark.slow
def test_the_check_finds_what_it_looks_for(real_bars: pd.DataFrame, hkex: SessionCalendar) -> None:
    """The check fails on runs that break each rule (so it can fail at all)."""
    kept = run_backtest(load_config(overrides={"entry.gap_rule": "keep"}), real_bars, hkex)
    below = kept.trades[kept.trades["entry_price"] <= kept.trades["initial_stop"]]
    assert len(below) > 0  # keep buys at or below the stop...
    judged_as_skip = dataclasses.replace(kept, config=load_config())
    with pytest.raises(AssertionError):  # ... which the default rule forbids
        check_execution(judged_as_skip, real_bars)
    run = run_backtest(load_config(), real_bars, hkex)
    with pytest.raises(AssertionError):  # a tighter cap than the run's
        tight = load_config(overrides={"sizing.max_weight_pct": 5})
        check_execution(dataclasses.replace(run, config=tight), real_bars)
    with pytest.raises(AssertionError):  # a tighter 2% rule than the run's
        strict = load_config(
            overrides={
                "sizing.risk_per_trade_pct": 0.05,
                "allow_small_percent": ["sizing.risk_per_trade_pct"],
            }
        )
        check_execution(dataclasses.replace(run, config=strict), real_bars)
    fills = run.fills.copy()
    sell = fills.index[fills["side"] == "sell"][0]
    buy_day = fills.loc[fills.index[fills["side"] == "buy"][1], "date"]
    fills.loc[sell, ["date", "order_type"]] = [buy_day, "market"]  # a sell moved to a buy's open
    with pytest.raises(AssertionError):
        check_execution(dataclasses.replace(run, fills=fills), real_bars)
    trades = run.trades.copy()
    trades.loc[trades["stage"] == 2, "stage"] = 3  # a stage 3 with no stage 2 under it
    with pytest.raises(AssertionError):
        check_execution(dataclasses.replace(run, trades=trades), real_bars)
