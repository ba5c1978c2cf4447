"""The rules that exist twice, one by one: the kernel's integer arithmetic (xmtrade/kernel/
arith.py) against the Decimal code of the backtest on random inputs: tick rounding and
shifting (risk/ticks.py), every charge with its rounding (xmtrade/costs.py), tranche sizing
(risk/sizing.py) and cash interest (xmtrade/broker.py)."""

from __future__ import annotations

import functools
import random
from datetime import date, timedelta

import pandas as pd
import pytest

from data_feeds.calendar import SessionCalendar
from risk.sizing import size_tranche
from xmtrade.backtest import market_models
from xmtrade.broker import cash_interest
from xmtrade.config import ConfigLayers
from xmtrade.kernel import arith
from xmtrade.kernel.precompute import build_market

DAYS = [date(2018, 7, 9) + timedelta(days=n) for n in range(0, 2800, 7)]


@pytest.fixture(scope="module")
def world() -> tuple[object, object, object]:
    cfg = ConfigLayers().build({"costs.commission_min": 3, "costs.commission_pct": 0.03})
    calendar = SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)
    sessions = calendar.sessions(date(2018, 7, 9), date(2026, 3, 31))
    bars = pd.DataFrame(
        {"open": 10.0, "high": 10.0, "low": 10.0, "close": 10.0, "volume": 1.0,
         "no_trading": False},
        index=pd.DatetimeIndex(sessions, name="date"),
    )  # fmt: skip
    return cfg, build_market(cfg, bars, calendar), market_models(cfg)


def test_ticks(world: tuple[object, object, object]) -> None:
    _, m, (ticks, _) = world  # type: ignore[misc]
    rng = random.Random(1)
    for _ in range(3000):
        j = rng.randrange(len(m.dates))
        on, t = m.dates[j], int(m.table_today[j])
        price = round(rng.uniform(0.02, 300), rng.choice([2, 3, 4]))
        p = arith.to_micro(price)
        tables = (m.lower, m.upper, m.tick, m.bands)
        assert arith.round_down(p, t, *tables) / 1e6 == ticks.round_down(price, on)
        assert arith.round_up(p, t, *tables) / 1e6 == ticks.round_up(price, on)
        valid = ticks.round_down(price, on)
        n = rng.randint(-3, 3)
        assert arith.shift(arith.to_micro(valid), t, n, *tables) / 1e6 == ticks.shift(valid, on, n)


def test_charges(world: tuple[object, object, object]) -> None:
    _, m, (_, costs) = world  # type: ignore[misc]
    rng = random.Random(2)
    for _ in range(3000):
        j = rng.randrange(len(m.dates))
        on, g = m.dates[j], int(m.regime_today[j])
        value = round(rng.choice([0.0, 1.0, 50.0, 1e3, 1e5, 1e6, 5e7]) * rng.random(), 3)
        if rng.random() < 0.2:
            value = rng.randint(1, 5000) * 200 * 0.005  # whole lots at half-tick prices
        cents = arith.fill_charges(
            arith.to_micro(value), g, m.rates, m.per_trade, m.minimum, m.maximum, m.modes
        )
        assert cents / 100 == costs.charges(on, value).total, (on, value)


def test_sizing(world: tuple[object, object, object]) -> None:
    _, m, (ticks, costs) = world  # type: ignore[misc]
    rng = random.Random(3)
    for _ in range(1500):
        j = rng.randrange(len(m.dates))
        on, g, t = m.dates[j], int(m.regime_today[j]), int(m.table_today[j])
        price = ticks.round_down(round(rng.uniform(5, 60), 2), on)
        entry = ticks.shift(price, on, rng.randint(0, 2))
        stop = ticks.shift(price, on, -rng.randint(0, 40))
        nav = rng.choice([1e6, round(rng.uniform(1e4, 5e6), 2)])
        position = rng.choice([0, 0, 200 * rng.randint(1, 500)])
        target = rng.choice([5, 10, 15, round(rng.uniform(1, 30), 3)])
        cap = rng.choice([15, 100, round(rng.uniform(1, 30), 3)])
        risk = rng.choice([2, round(rng.uniform(0.1, 5), 4)])
        expected = size_tranche(
            nav=nav, position_shares=position, price=price, entry_price=entry, stop_price=stop,
            target_weight_pct=target, max_weight_pct=cap, risk_per_trade_pct=risk,
            board_lot=200, round_trip_cost=functools.partial(costs.round_trip, on),
        )  # fmt: skip
        by_weight, shares = arith.size_tranche(
            nav, position, price, arith.to_micro(entry), arith.to_micro(stop), target, cap,
            risk, 200, g, m.rates, m.per_trade, m.minimum, m.maximum, m.modes,
        )  # fmt: skip
        assert (by_weight, shares) == (expected.shares_by_weight, expected.shares), (
            nav, position, price, entry, stop, target, cap, risk, on, t,
        )  # fmt: skip


def test_cash_interest() -> None:
    rng = random.Random(4)
    for _ in range(3000):
        cash = round(rng.uniform(-1e3, 5e6), 2)
        rate, days = rng.choice([0, 1, 2.5, 4.125, -0.5]), rng.randint(0, 5)
        assert arith.cash_interest(cash, rate, days) == cash_interest(cash, rate, days)


def test_cash_interest_is_exact_and_half_up() -> None:
    """The one money rule against Decimal on the exact inputs, ties included, in Python and
    compiled: 980,025.00 at 2.5% for a day is 67.125, credited 67.13."""
    from decimal import ROUND_HALF_UP, Decimal

    from xmtrade.money import interest_cents

    assert cash_interest(980_025.0, 2.5, 1) == arith.cash_interest(980_025.0, 2.5, 1) == 67.13
    # float noise either side of the tie does not move it
    assert arith.cash_interest(980_024.9999999, 2.5, 1) == 67.13
    assert cash_interest(980_025.0000001, 2.5, 1) == 67.13
    assert cash_interest(980_025.0, -2.5, 1) == -67.13
    rng = random.Random(5)
    for _ in range(3000):
        tie = rng.random() < 0.5
        rate = rng.choice([25_000_000, 50_000_000, 36_500_000]) if tie else rng.randint(1, 10**8)
        days = rng.randint(1, 9)
        cash = rng.randint(1, 10**9) * 5_000 if tie else rng.randint(1, 10**13)
        exact = Decimal(cash) * rate * days / (Decimal(10**13) * 365)
        want = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        assert interest_cents(cash, rate, days) == arith.interest_cents(cash, rate, days) == want
