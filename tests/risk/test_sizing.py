"""Tranche sizing (STRATEGY §2, §5.1) with the real HK cost model of configs/default.yaml."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from risk.sizing import SizingDecision, size_tranche
from xmtrade.config import load_config
from xmtrade.costs import HkCostModel

ON = date(2024, 6, 3)  # 2024 rates: stamp 0.10%, trading fee 0.00565%, settlement min 2


def costs_on(overrides: dict[str, Any] | None = None) -> Callable[[float, float], float]:
    config = load_config(overrides=overrides)
    model = HkCostModel(config.market, config.costs)
    return lambda entry_value, exit_value: model.round_trip(ON, entry_value, exit_value)


@pytest.fixture(scope="module")
def round_trip() -> Callable[[float, float], float]:
    return costs_on()


def size(round_trip: Callable[[float, float], float], **kw: Any) -> SizingDecision:
    args: dict[str, Any] = {
        "nav": 1_000_000.0,
        "position_shares": 0,
        "price": 15.0,
        "entry_price": 15.02,
        "stop_price": 14.0,
        "target_weight_pct": 5.0,
        "max_weight_pct": 15.0,
        "risk_per_trade_pct": 2.0,
        "board_lot": 200,
        "round_trip_cost": round_trip,
    }
    args.update(kw)
    return size_tranche(**args)


def assert_risk_lots_are_the_most_that_fit(d: SizingDecision, rt: Callable[..., float]) -> None:
    """The 2% inequality holds at shares_by_risk and fails one lot above it."""

    def loss(shares: int) -> float:
        cost = rt(d.entry_price * shares, d.stop_price * shares) if shares else 0.0
        return (d.entry_price - d.stop_price) * shares + cost

    assert loss(d.shares_by_risk) <= d.risk_budget
    assert loss(d.shares_by_risk + d.board_lot) > d.risk_budget


def test_sizing_defaults_are_the_strategy_defaults() -> None:
    config = load_config()
    assert config.sizing.target_weight_pct.tactical == 5
    assert config.sizing.max_weight_pct == 15
    assert config.sizing.risk_per_trade_pct == 2
    assert config.instrument.board_lot == 200


def test_target_weight_binds(round_trip: Callable[[float, float], float]) -> None:
    d = size(round_trip)
    # by weight: 5% x 1,000,000 = 50,000 / 15.02 = 3,328.9 shares -> 16 lots = 3,200
    assert d.shares_by_weight == 3200
    # by risk: budget 20,000; 1.02 a share. 94 lots = 18,800 shares:
    #   buy 282,376: 283 + 7.62 + 0.42 + 15.95 + 5.65 + 84.71 = 397.35
    #   sell 263,200: 264 + 7.11 + 0.39 + 14.87 + 5.26 + 78.96 = 370.59
    #   loss 19,176 + 767.94 = 19,943.94 <= 20,000; 95 lots: 19,380 + ~776 > 20,000
    assert d.shares_by_risk == 18_800
    assert (d.shares, d.lots, d.limited_by) == (3200, 16, "weight")
    # planned loss of 3,200 shares: 3,264 + buy 48,064 (49 + 1.30 + 0.07 + 2.72 + 2.00 + 14.42
    #   = 69.51) + sell 44,800 (45 + 1.21 + 0.07 + 2.53 + 2.00 + 13.44 = 64.25) = 3,397.76
    assert d.round_trip_cost == 133.76
    assert d.planned_loss == 3397.76
    assert d.planned_risk_pct_nav == pytest.approx(0.339776)
    assert d.risk_budget == 20_000.0
    assert d.risk_per_share == 1.02
    assert d.current_weight_pct == 0.0
    assert d.effective_target_pct == 5.0
    assert d.reason == (
        "16 lots: smaller of by weight (16 lots to the target weight 5%) "
        "and by the 2% rule (94 lots)"
    )
    assert_risk_lots_are_the_most_that_fit(d, round_trip)


def test_two_percent_rule_binds_because_of_costs(
    round_trip: Callable[[float, float], float],
) -> None:
    d = size(round_trip, target_weight_pct=10.0, stop_price=12.0)
    # by weight: 100,000 / 15.02 = 6,657.8 -> 33 lots = 6,600
    assert d.shares_by_weight == 6600
    # by risk, 3.02 a share: 6,600 shares lose 19,932 before costs (would fit), but
    #   buy 99,132: 100 + 2.68 + 0.15 + 5.60 + 2.00 + 29.74 = 140.17
    #   sell 79,200: 80 + 2.14 + 0.12 + 4.47 + 2.00 + 23.76 = 112.49 -> 20,184.66 > 20,000
    # 6,400 shares: 19,328 + 136.01 + 108.57 = 19,572.58 <= 20,000
    assert d.shares_by_risk == 6400
    assert (d.shares, d.limited_by) == (6400, "risk")
    assert d.round_trip_cost == 244.58
    assert d.planned_loss == 19_572.58
    assert_risk_lots_are_the_most_that_fit(d, round_trip)


def test_minimum_commission_decides_the_lot_count() -> None:
    # NAV 20,750, budget 415; entry 10.00, stop 9.00: 1.00 a share; weight room is ample.
    common: dict[str, Any] = {
        "nav": 20_750.0,
        "entry_price": 10.0,
        "stop_price": 9.0,
        "price": 10.0,
        "target_weight_pct": 50.0,
        "max_weight_pct": 50.0,
    }
    with_min = costs_on()
    d = size(with_min, **common)
    # 2 lots: 400 + buy 4,000 (4 + 0.11 + 0.01 + 0.23 + 2.00 + min 3.00 = 9.35)
    #   + sell 3,600 (4 + 0.10 + 0.01 + 0.20 + 2.00 + min 3.00 = 9.31) = 418.66 > 415
    # 1 lot: 200 + buy 2,000 (2 + 0.05 + 0 + 0.11 + 2.00 + 3.00 = 7.16)
    #   + sell 1,800 (2 + 0.05 + 0 + 0.10 + 2.00 + 3.00 = 7.15) = 214.31
    assert (d.shares_by_weight, d.shares_by_risk, d.shares) == (1000, 200, 200)
    assert d.planned_loss == 214.31
    assert d.limited_by == "risk"
    assert_risk_lots_are_the_most_that_fit(d, with_min)
    # without the HK$3 minimum the commissions are 1.20 and 1.08: 2 lots lose
    # 400 + 7.55 + 7.39 = 414.94 <= 415
    no_min = costs_on({"costs.commission_min": 0})
    d0 = size(no_min, **common)
    assert d0.shares == 400
    assert d0.planned_loss == 414.94
    assert_risk_lots_are_the_most_that_fit(d0, no_min)


def test_less_than_one_lot_by_risk_is_no_order(
    round_trip: Callable[[float, float], float],
) -> None:
    # NAV 10,000: budget 200 < one lot's 214.31 (see above)
    d = size(
        round_trip,
        nav=10_000.0,
        entry_price=10.0,
        stop_price=9.0,
        target_weight_pct=50.0,
        max_weight_pct=50.0,
    )
    assert (d.shares, d.lots, d.shares_by_risk, d.limited_by) == (0, 0, 0, "risk")
    assert d.planned_loss == 0.0
    assert d.reason.startswith("no order: the 2% rule allows less than one lot of 200")


def test_less_than_one_lot_by_weight_is_no_order(
    round_trip: Callable[[float, float], float],
) -> None:
    # 5% of 30,000 = 1,500 / 10.00 = 150 shares < 200
    d = size(round_trip, nav=30_000.0, entry_price=10.0, stop_price=9.9)
    assert (d.shares_by_weight, d.shares, d.limited_by) == (0, 0, "weight")
    assert d.reason.startswith("no order: weight 0.00% leaves less than one lot")


def test_cap_binds_when_already_holding(round_trip: Callable[[float, float], float]) -> None:
    # stage 3: target 15% = the cap. Holding 9,000 x 15.00 = 135,000 = 13.5% of NAV;
    # room 150,000 - 135,000 = 15,000 / 15.02 = 998.7 -> 4 lots = 800
    d = size(round_trip, position_shares=9000, target_weight_pct=15.0)
    assert d.current_weight_pct == 13.5
    assert (d.shares_by_weight, d.shares, d.limited_by) == (800, 800, "cap")
    assert "the cap 15%" in d.reason


def test_cap_below_the_target_limits_a_new_position(
    round_trip: Callable[[float, float], float],
) -> None:
    # target 20% but the cap is 15%: 150,000 / 15.02 = 9,986.7 -> 49 lots; stop 14.50 keeps
    # the 2% rule loose (0.52 a share)
    d = size(round_trip, target_weight_pct=20.0, stop_price=14.5)
    assert d.effective_target_pct == 15.0
    assert (d.shares, d.limited_by) == (9800, "cap")


def test_position_above_the_cap_buys_nothing(round_trip: Callable[[float, float], float]) -> None:
    # 11,000 x 15.00 = 165,000 = 16.5% > 15%
    d = size(round_trip, position_shares=11_000, target_weight_pct=15.0)
    assert (d.shares_by_weight, d.shares, d.limited_by) == (0, 0, "cap")
    assert d.current_weight_pct == 16.5


def test_weight_arithmetic_is_exact(round_trip: Callable[[float, float], float]) -> None:
    # 5% of 1,000,000 / 12.50 = 4,000 shares exactly = 20 lots (floats could give 3,999.99)
    assert size(round_trip, entry_price=12.5, stop_price=12.0).shares_by_weight == 4000
    # 10% of 3,000,000 - 20,000 x 7.50 = 150,000 / 12.50 = 12,000 exactly = 60 lots
    d = size(
        round_trip,
        nav=3_000_000.0,
        position_shares=20_000,
        price=7.5,
        entry_price=12.5,
        stop_price=12.0,
        target_weight_pct=10.0,
    )
    assert d.current_weight_pct == 5.0
    assert d.shares_by_weight == 12_000


def test_stop_at_or_above_entry_is_no_order(round_trip: Callable[[float, float], float]) -> None:
    for stop in (15.02, 15.5):
        d = size(round_trip, stop_price=stop)
        assert (d.shares, d.shares_by_risk, d.limited_by) == (0, 0, "none")
        assert "is not below entry" in d.reason


def test_non_positive_nav_is_no_order(round_trip: Callable[[float, float], float]) -> None:
    d = size(round_trip, nav=0.0)
    assert (d.shares, d.limited_by) == (0, "none")
    assert "NAV" in d.reason


def test_decision_is_frozen_and_json_serialisable(
    round_trip: Callable[[float, float], float],
) -> None:
    d = size(round_trip)
    logged = json.loads(json.dumps(d.as_dict()))
    assert logged["shares"] == 3200
    assert logged["limited_by"] == "weight"
    assert set(logged) == {f.name for f in dataclasses.fields(SizingDecision)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.shares = 0  # type: ignore[misc]


def test_costs_are_called_with_entry_and_stop_values() -> None:
    seen: list[tuple[float, float]] = []

    def flat(entry_value: float, exit_value: float) -> float:
        seen.append((entry_value, exit_value))
        return 100.0

    # budget 2,000, 1.00 a share: n shares lose n + 100 -> 1,900 shares -> 9 lots (1,800)
    d = size(
        flat,
        nav=100_000.0,
        entry_price=10.0,
        stop_price=9.0,
        target_weight_pct=50.0,
        max_weight_pct=50.0,
    )
    assert d.shares_by_risk == 1800
    assert d.planned_loss == 1900.0
    assert (18_000.0, 16_200.0) in seen


def test_programmer_errors_raise(round_trip: Callable[[float, float], float]) -> None:
    with pytest.raises(ValueError, match="board_lot"):
        size(round_trip, board_lot=0)
    with pytest.raises(ValueError, match="position_shares"):
        size(round_trip, position_shares=-200)
    with pytest.raises(ValueError, match="prices must be > 0"):
        size(round_trip, entry_price=0.0)
