"""The full-history backtest recomputed independently from the prices: every fill price, every
charge (with its own small implementation of STRATEGY §1.2, not the project's cost model),
every trade's P&L and the NAV on every session."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

import pandas as pd
import pytest

from data_feeds.calendar import SessionCalendar
from xmtrade.backtest import BacktestResult, run_backtest
from xmtrade.config import load_config

CENT = Decimal("0.01")


def hk_charges(on: date, value: float) -> dict[str, Decimal]:
    """STRATEGY §1.2 and the default commission, written out by hand."""
    v = Decimal(str(value))

    def cent(x: Decimal) -> Decimal:
        return x.quantize(CENT, rounding=ROUND_HALF_UP)

    if on < date(2021, 8, 1):
        stamp_rate = Decimal("0.0010")
    elif on < date(2023, 11, 17):
        stamp_rate = Decimal("0.0013")
    else:
        stamp_rate = Decimal("0.0010")
    if on <= date(2022, 12, 31):
        trading = v * Decimal("0.00005") + Decimal("0.50")
    else:
        trading = v * Decimal("0.0000565")
    if on < date(2025, 6, 30):
        settlement = min(max(v * Decimal("0.00002"), Decimal(2)), Decimal(100))
    else:
        settlement = v * Decimal("0.000042")
    afrc = v * Decimal("0.0000015") if on >= date(2022, 1, 1) else Decimal(0)
    return {
        "stamp_duty": (v * stamp_rate).quantize(Decimal(1), rounding=ROUND_CEILING),
        "sfc_levy": cent(v * Decimal("0.000027")),
        "afrc_levy": cent(afrc),
        "trading_fee": cent(trading),
        "settlement_fee": cent(settlement),
        "commission": cent(max(v * Decimal("0.0003"), Decimal(3))),
    }


def tick(price: float, on: date) -> float:
    """The HKEX minimum spread at a price (the bands 1810.HK has traded in)."""
    new = on >= date(2025, 8, 4)
    for upper, old_tick, new_tick in (
        (10, 0.01, 0.01),
        (20, 0.02, 0.01),
        (50, 0.05, 0.02),
        (100, 0.05, 0.05),
    ):
        if price < upper:
            return new_tick if new else old_tick
    raise AssertionError(f"price {price} outside the bands 1810.HK trades in")


def tick_below(price: float, on: date) -> float:
    """The tick of a move down from `price`: at a band edge it is the lower band's."""
    return tick(price - 1e-9, on)


@pytest.fixture(scope="module")
def reference(real_bars: pd.DataFrame, hkex: SessionCalendar) -> BacktestResult:
    return run_backtest(load_config(), real_bars, hkex)


@pytest.mark.slow
def test_every_charge_recomputed(reference: BacktestResult) -> None:
    assert len(reference.fills) > 50
    for fill in reference.fills.to_dict("records"):
        expected = hk_charges(fill["date"], fill["value"])
        for kind, amount in expected.items():
            assert Decimal(str(fill[kind])) == amount, (fill["date"], kind)
        assert Decimal(str(fill["fees"])) == sum(expected.values())


@pytest.mark.slow
def test_every_fill_price_recomputed(reference: BacktestResult, real_bars: pd.DataFrame) -> None:
    for fill in reference.fills.to_dict("records"):
        bar = real_bars.loc[pd.Timestamp(fill["date"])]
        assert not bar["no_trading"]
        if fill["kind"] == "stop":
            trigger = min(bar["open"], fill["order_price"])
            assert bar["low"] <= fill["order_price"]
            expected = max(trigger - tick_below(trigger, fill["date"]), bar["low"])
        elif fill["side"] == "buy":
            expected = min(bar["open"] + tick(bar["open"], fill["date"]), bar["high"])
        else:
            expected = max(bar["open"] - tick_below(bar["open"], fill["date"]), bar["low"])
        assert fill["price"] == pytest.approx(expected, abs=1e-9), fill
        assert fill["value"] == pytest.approx(fill["price"] * fill["shares"], abs=0.005)


@pytest.mark.slow
def test_trades_and_nav_recomputed(reference: BacktestResult, real_bars: pd.DataFrame) -> None:
    cfg = reference.config
    fills = reference.fills
    for trade in reference.trades.to_dict("records"):
        legs = fills[fills["tranche"] == trade["id"]]
        assert trade["fees"] == pytest.approx(legs["fees"].sum(), abs=0.005)
        if trade["exit_reason"] != "open":
            buy, sell = legs.iloc[0], legs.iloc[1]
            gross = (sell["price"] - buy["price"]) * buy["shares"]
            assert trade["pnl"] == pytest.approx(gross - trade["fees"], abs=0.01)
        assert trade["shares"] % cfg.instrument.board_lot == 0
    cash = cfg.backtest.initial_nav
    shares = 0
    by_day = fills.groupby("date")
    for ts, row in reference.equity.iterrows():
        day = ts.date()
        if day in by_day.groups:
            for fill in by_day.get_group(day).to_dict("records"):
                sign = 1 if fill["side"] == "buy" else -1
                shares += sign * fill["shares"]
                cash -= sign * fill["value"] + fill["fees"]
        close = real_bars.loc[ts, "close"]
        assert row["shares"] == shares
        assert row["nav"] == pytest.approx(cash + shares * close, abs=0.01), day
