"""The screening kernel against backtrader: daily NAV to the cent and every trade identical.

1. 1,000 random configurations over every grid field and stop method on small hand-built
   worlds (bars and facts drawn from a seed), each with the edge cases built in: opens that
   gap through stops and below planned stops, quarterly reports (adds on report days, gate
   streaks, risk lines that block, trim and exit), the breaker, the spread-table change of
   2025-08-04 and placeholder bars.
2. Random configurations on windows of the real 1810.HK history.

The rules that exist twice (the kernel's integer arithmetic in xmtrade/kernel/arith.py next to
risk/ticks.py, xmtrade/costs.py, risk/sizing.py and xmtrade/broker.cash_interest) are checked
here run by run, and one by one in test_arith.py.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from data_feeds.calendar import SessionCalendar
from xmtrade.backtest import run_backtest
from xmtrade.config import ConfigLayers
from xmtrade.kernel.parity import random_overrides
from xmtrade.kernel.screen import Screener, first_difference

WORLDS = 20  # hand-built worlds ...
CONFIGS_PER_WORLD = 50  # ... times random configs on each: 1,000 configurations
FIRST, LAST = date(2025, 3, 3), date(2025, 10, 31)  # crosses the 2025-08-04 spread table
COLUMNS = ["metric", "period", "period_end", "announced", "announced_time", "value", "unit",
           "source", "confidence"]  # fmt: skip
QUARTER_END = {"Q1": "03-31", "Q2": "06-30", "Q3": "09-30", "Q4": "12-31"}
# (period, announced): the reports of a world; the last three land inside the traded window
REPORTS = [("2024Q1", "2024-05-23"), ("2024Q2", "2024-08-21"), ("2024Q3", "2024-11-18"),
           ("2024Q4", "2025-03-18"), ("2025Q1", "2025-05-27"), ("2025Q2", "2025-08-19"),
           ("2025Q3", "2025-10-16")]  # fmt: skip


def _tick(price: float, on: date) -> float:
    new = on >= date(2025, 8, 4)
    for upper, old_tick, new_tick in ((0.25, 0.001, 0.001), (0.5, 0.005, 0.005),
                                      (10, 0.01, 0.01), (20, 0.02, 0.01), (50, 0.05, 0.02),
                                      (100, 0.05, 0.05), (200, 0.1, 0.1)):  # fmt: skip
        if price < upper:
            return new_tick if new else old_tick
    return 0.2


def _on_grid(price: float, on: date) -> float:
    step = _tick(price, on)
    return round(round(price / step) * step, 3)


def make_world(seed: int, calendar: SessionCalendar, folder: Path) -> tuple[pd.DataFrame, Path]:
    """Bars (a random walk around HK$20 with gaps and placeholder bars) and a facts file."""
    rng = random.Random(seed)
    sessions = calendar.sessions(FIRST, LAST)
    close = rng.uniform(14, 26) * (rng.choice([0.03, 0.2, 1, 1, 1, 6]) if seed >= 4 else 1)
    rows = []
    for n, session in enumerate(sessions):
        day = pd.Timestamp(session).date()
        previous = close
        close = max(0.05, close * (1 + rng.gauss(0.0005, 0.025)))
        gap = rng.random() < 0.04
        opn = previous * (rng.uniform(0.88, 0.94) if gap else rng.uniform(0.985, 1.015))
        high = max(opn, close) * rng.uniform(1.0, 1.02)
        low = min(opn, close) * rng.uniform(0.98, 1.0)
        values = [_on_grid(v, day) for v in (opn, high, low, close)]
        placeholder = n > 30 and rng.random() < 0.02
        if placeholder:  # Yahoo's half-day placeholder: yesterday's close, no volume
            values = [rows[-1][4]] * 4
        rows.append([pd.Timestamp(day), *values, 0.0 if placeholder else 1e6, placeholder])
        close = values[3]
    bars = pd.DataFrame(
        rows, columns=["date", "open", "high", "low", "close", "volume", "no_trading"]
    ).set_index("date")
    bars["low"] = bars[["low", "open", "close"]].min(axis=1)
    bars["high"] = bars[["high", "open", "close"]].max(axis=1)
    facts: list[dict[str, Any]] = []

    def fact(metric: str, period: str, announced: str, value: float, unit: str) -> None:
        if "FY" in period:
            end = f"{period[:4]}-12-31"
        elif "Q" in period:
            end = f"{period[:4]}-{QUARTER_END[period[4:]]}"
        else:
            end = period
        facts.append(dict(zip(COLUMNS, [metric, period, end, announced, "", value, unit,
                                        "test", "H"], strict=True)))  # fmt: skip

    for year, announced in ((2023, "2024-03-19"), (2024, "2025-03-18")):
        profit = rng.choice([2000, 8000, 20000])
        for metric, value in (("operating_profit", profit), ("profit_before_tax", profit),
                              ("income_tax", 0), ("total_equity", 100000), ("borrowings", 0),
                              ("cash", 0), ("short_term_investments", 0)):  # fmt: skip
            fact(metric, f"{year}FY", announced, value, "RMB_m")
    for period, announced in REPORTS:
        fact("ev_gross_margin", period, announced, rng.choice([15, 22, 25, 30]), "pct")
        fact("smartphone_rank", period, announced, rng.choice([2, 3, 3, 4, 5]), "rank")
        fact("gross_margin", period, announced, rng.uniform(17, 23), "pct")
        fact("revenue", period, announced, rng.uniform(60000, 120000), "RMB_m")
        fact("ev_segment_result", period, announced, rng.uniform(-2000, 1000), "RMB_m")
    fact("shares_outstanding", "2024-12-31", "2025-03-18", 25e9, "shares")
    path = folder / f"facts_{seed}.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(facts)
    return bars, path


def world_overrides(rng: random.Random, facts: Path) -> dict[str, Any]:
    overrides = random_overrides(rng, FIRST, LAST, 120)
    overrides.pop("backtest.start")
    overrides.pop("backtest.end")
    overrides["fundamentals.file"] = str(facts)
    overrides["fundamentals.stale_after_days"] = 400
    if rng.random() < 0.25:
        overrides.update(half_cent_cash(rng))
    return overrides


# rates at which some whole-cent cash lands a day's interest on an exact half cent
TIE_RATES = (2.5, 5, 3.65, 1.25, 0.5)


def half_cent_cash(rng: random.Random) -> dict[str, Any]:
    """A cash rate and a starting NAV whose interest over an odd number of days is an exact
    half cent (980,025.00 at 2.5%: 67.125 a day), the tie both engines must round alike."""
    rate = rng.choice(TIE_RATES)
    per_cent = 365 / rate  # the cash that earns a cent a day
    m = rng.randint(int(100_000 / per_cent), int(5_000_000 / per_cent))
    return {
        "cash.rate": [{"start": date(1990, 1, 1), "rate_pct": rate}],
        "backtest.initial_nav": round((m + 0.5) * per_cent, 2),
    }


def check_parity(
    layers: ConfigLayers,
    overrides: dict[str, Any],
    bars: pd.DataFrame,
    calendar: SessionCalendar,
    screener: Screener,
) -> tuple[str, str | None]:
    """('ok' | 'unsupported' | 'error', the first difference)."""
    cfg = layers.build(overrides)
    run = screener.run(cfg)
    try:
        result = run_backtest(cfg, bars, calendar)
    except ValueError:
        return "error", None if not run.ok else f"backtrader raised, kernel {run.why}"
    if not run.ok:
        return "unsupported", None
    return "ok", first_difference(run, result)


@pytest.fixture(scope="module")
def hkex() -> SessionCalendar:
    cfg = ConfigLayers().build()
    return SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)


@pytest.mark.slow
@pytest.mark.parametrize("world", range(WORLDS))
def test_random_configs_on_hand_built_worlds(
    world: int, hkex: SessionCalendar, tmp_path: Path
) -> None:
    bars, facts = make_world(world, hkex, tmp_path)
    layers = ConfigLayers()
    screener = Screener(bars)
    rng = random.Random(1000 + world)
    outcomes: dict[str, int] = {}
    trades = 0
    for _ in range(CONFIGS_PER_WORLD):
        overrides = world_overrides(rng, facts)
        state, difference = check_parity(layers, overrides, bars, hkex, screener)
        assert difference is None, (world, overrides, difference)
        outcomes[state] = outcomes.get(state, 0) + 1
        if state == "ok":
            trades += len(screener.run(layers.build(overrides)).trades())
    assert outcomes.get("ok", 0) >= CONFIGS_PER_WORLD * 0.9, outcomes
    assert trades >= 10  # the worlds trade (the edge-case test checks what)


@pytest.mark.slow
def test_the_edge_cases_are_drawn(hkex: SessionCalendar, tmp_path: Path) -> None:
    """The worlds hold what the parity test claims to cover, and the runs reach it."""
    from xmtrade.kernel.precompute import REASONS

    reasons: set[str] = set()
    stages: set[int] = set()
    gaps = placeholders = 0
    for world in range(4):
        bars, facts = make_world(world, hkex, tmp_path)
        placeholders += int(bars["no_trading"].sum())
        gaps += int((bars["open"] < bars["low"].shift(1) * 0.95).sum())
        layers, screener, rng = ConfigLayers(), Screener(bars), random.Random(world)
        for _ in range(60):
            run = screener.run(layers.build(world_overrides(rng, facts)))
            for trade in run.trades():
                stages.add(trade[0])
                reasons.add(trade[6])
    assert placeholders > 0 and gaps > 0
    assert stages == {1, 2, 3}
    assert {"stop", "trailing_stop", "drawdown_breaker", "time_exit"} <= reasons
    assert reasons & {"rsi_overbought"} and reasons <= {*REASONS, *_line_reasons()}
    assert any(r.startswith("line") for r in reasons) or "take_profit_ps" in reasons


def _line_reasons() -> set[str]:
    return {f"line{n}_{a}" for n in range(1, 6) for a in ("exit", "trim")}


@pytest.mark.slow
def test_random_configs_on_the_real_history(real_bars: pd.DataFrame, hkex: SessionCalendar) -> None:
    layers = ConfigLayers()
    screener = Screener(real_bars)
    rng = random.Random(7)
    first, last = real_bars.index[0].date(), real_bars.index[-1].date()
    for _ in range(40):
        overrides = random_overrides(rng, first + timedelta(days=200), last, 500)
        _, difference = check_parity(layers, overrides, real_bars, hkex, screener)
        assert difference is None, (overrides, difference)


def test_the_default_config_over_the_full_history(
    real_bars: pd.DataFrame, hkex: SessionCalendar
) -> None:
    cfg = ConfigLayers().build()
    run = Screener(real_bars).run(cfg)
    result = run_backtest(cfg, real_bars, hkex)
    assert run.ok
    assert first_difference(run, result) is None
    assert len(run.trades()) == len(result.trades) > 20
    nav = result.equity["nav"].to_numpy(dtype=float)
    assert np.abs(run.nav - nav).max() < 0.005


def test_half_cent_interest_rounds_alike(real_bars: pd.DataFrame, hkex: SessionCalendar) -> None:
    """980,025.00 at 2.5% earns 67.125 on 2019-03-29: both engines credit 67.13 (half up)."""
    cfg = ConfigLayers().build(
        {
            "backtest.start": date(2019, 3, 28),
            "backtest.end": date(2019, 5, 31),
            "backtest.initial_nav": 980_025,
            "cash.rate": [{"start": date(1990, 1, 1), "rate_pct": 2.5}],
        }
    )
    run = Screener(real_bars).run(cfg)
    result = run_backtest(cfg, real_bars, hkex)
    assert run.ok
    assert first_difference(run, result) is None
    interest = result.equity["interest"]
    assert interest.loc[pd.Timestamp(2019, 3, 29)] == 67.13
    assert run.nav[1] == result.equity["nav"].iloc[1]


def test_drawn_half_cent_cash_lands_on_ties() -> None:
    from xmtrade.money import interest_cents, to_micro, to_rate

    rng = random.Random(3)
    for _ in range(500):
        drawn = half_cent_cash(rng)
        nav, rate = drawn["backtest.initial_nav"], drawn["cash.rate"][0]["rate_pct"]
        exact = nav * 100 * rate / 100 / 365  # cents
        assert abs(exact - int(exact) - 0.5) < 1e-6, drawn
        assert interest_cents(to_micro(nav), to_rate(rate), 1) == int(exact) + 1


def test_a_difference_is_named_with_its_session(
    real_bars: pd.DataFrame, hkex: SessionCalendar
) -> None:
    cfg = ConfigLayers().build()
    run = Screener(real_bars).run(cfg)
    result = run_backtest(cfg, real_bars, hkex)
    day = 500
    run.nav[day:] += 0.01  # a cent from session 500 on
    assert first_difference(run, result) == (
        f"first differing session {run.dates[day]}: NAV kernel {run.nav[day]:.2f} "
        f"backtrader {result.equity['nav'].iloc[day]:.2f}"
    )
    run.nav[day:] -= 0.01
    run.trades_f[3, 0] += 0.01  # the fourth trade's entry price
    assert (first_difference(run, result) or "").startswith(
        f"first differing session {run.trades()[3][1]}: trade 4"
    )
