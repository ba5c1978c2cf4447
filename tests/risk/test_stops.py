"""Protective stops (STRATEGY §5.1) on the spread tables of configs/default.yaml."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import pytest

from risk.stops import (
    StopInputs,
    StopLevel,
    StopRule,
    protective_stop,
    ratchet,
    reanchored_stop,
    stop_level,
)
from risk.ticks import TickRules
from xmtrade.config import load_config

OLD = date(2024, 6, 3)  # old spread table: 10-20 tick 0.02, 20-100 tick 0.05
NEW = date(2025, 8, 4)  # new spread table: 10-20 tick 0.01, 20-50 tick 0.02


@pytest.fixture(scope="module")
def rules() -> TickRules:
    return TickRules(load_config().market.tick_tables)


def test_default_stop_config_is_the_strategy_default() -> None:
    stop = load_config().stop
    assert (stop.method, stop.lookback, stop.buffer_ticks, stop.fixed_price) == (
        "lowest_low",
        20,
        1,
        None,
    )


def test_lowest_low_minus_one_tick(rules: TickRules) -> None:
    lows = [16.0] * 17 + [15.5, 15.32, 16.1]
    level = protective_stop(lows, 20, 1, None, OLD, rules)
    assert level.price == 15.30  # 15.32 - 0.02
    assert level.lowest_low == 15.32
    assert level.basis == "lowest low of 20 sessions 15.32 minus 1 tick = 15.30"
    # same lows once the new table is in force: 15.32 - 0.01
    assert protective_stop(lows, 20, 1, None, NEW, rules).price == 15.31


def test_only_the_last_lookback_sessions_count(rules: TickRules) -> None:
    lows = [10.0] + [15.5] * 20  # the 10.00 low is 21 sessions back
    assert protective_stop(lows, 20, 1, None, OLD, rules).price == 15.48
    assert protective_stop(lows, 21, 1, None, OLD, rules).price == 9.99  # 10.00 - 0.01


def test_off_grid_low_is_rounded_down_then_buffered(rules: TickRules) -> None:
    # 25.05 is a valid old-table price but not on the new 0.02 grid: 25.04, then - 0.02
    level = protective_stop([26.0, 25.05, 25.5], 20, 1, None, NEW, rules)
    assert level.price == 25.02
    assert level.lowest_low == 25.05
    assert "rounded down to 25.04 on the 2025-08-04 spread table" in level.basis
    assert protective_stop([26.0, 25.05, 25.5], 20, 1, None, OLD, rules).price == 25.00


def test_buffer_steps_across_a_band_edge(rules: TickRules) -> None:
    # 20.00 down two ticks on the old table: 19.98, 19.96
    assert protective_stop([20.0, 21.0], 20, 2, None, OLD, rules).price == 19.96
    assert protective_stop([20.0, 21.0], 20, 2, None, NEW, rules).price == 19.98


def test_zero_buffer_only_rounds_down(rules: TickRules) -> None:
    level = protective_stop([15.33], 20, 0, None, OLD, rules)
    assert level.price == 15.32
    assert "minus 0 ticks" in level.basis


def test_fewer_lows_than_lookback_says_so(rules: TickRules) -> None:
    level = protective_stop([15.5, 15.32, 16.0], 20, 1, None, OLD, rules)
    assert level.price == 15.30
    assert "3 sessions (only 3 of 20 available)" in level.basis


def test_fixed_price_is_rounded_down_and_ignores_lows(rules: TickRules) -> None:
    level = protective_stop([9.0, 8.0], 20, 1, 15.0, OLD, rules)
    assert level == StopLevel(price=15.0, basis="fixed stop 15.00", lowest_low=None)
    odd = protective_stop([9.0], 20, 1, 15.013, OLD, rules)
    assert odd.price == 15.00  # tick 0.02
    assert odd.basis == "fixed stop 15.013 rounded down to 15.00"
    assert protective_stop([9.0], 20, 1, 15.013, NEW, rules).price == 15.01  # tick 0.01


def test_bad_lows_are_programmer_errors(rules: TickRules) -> None:
    with pytest.raises(ValueError, match="no session lows"):
        protective_stop([], 20, 1, None, OLD, rules)
    with pytest.raises(ValueError, match="finite"):
        protective_stop([15.0, float("nan")], 20, 1, None, OLD, rules)
    with pytest.raises(ValueError, match="lookback"):
        protective_stop([15.0], 0, 1, None, OLD, rules)


def test_stop_level_is_frozen_and_loggable(rules: TickRules) -> None:
    level = protective_stop([15.32], 20, 1, None, OLD, rules)
    with pytest.raises(dataclasses.FrozenInstanceError):
        level.price = 1.0  # type: ignore[misc]
    assert json.loads(json.dumps(level.as_dict()))["price"] == 15.30


@pytest.mark.parametrize(
    ("current", "candidate", "expected"),
    [(15.3, 15.1, 15.3), (15.3, 15.5, 15.5), (15.3, 15.3, 15.3), (None, 15.2, 15.2)],
)
def test_ratchet_never_lowers_a_stop(
    current: float | None, candidate: float, expected: float
) -> None:
    assert ratchet(current, candidate) == expected


def rule(method: str, **changes: object) -> StopRule:
    values: dict[str, object] = {
        "method": method,
        "lookback": 20,
        "buffer_ticks": 1,
        "atr_multiple": 2.0,
        "fixed_price": None,
        "fixed_from": None,
        "fixed_to": None,
    }
    values.update(changes)
    return StopRule(**values)  # type: ignore[arg-type]


INPUTS = StopInputs(lows=[16.0] * 19 + [15.32], close=16.5, atr=0.4, swing_low=15.9)


def test_each_stop_method(rules: TickRules) -> None:
    lowest = stop_level(rule("lowest_low"), INPUTS, OLD, rules)
    assert (lowest.price, lowest.method) == (15.30, "lowest_low")
    atr = stop_level(rule("atr"), INPUTS, OLD, rules)
    assert atr.price == 15.68  # 16.50 - 2 x 0.40 = 15.70, minus a tick
    assert atr.as_dict()["atr"] == 0.4 and atr.method == "atr"
    low_atr = stop_level(rule("lowest_low_atr"), INPUTS, OLD, rules)
    assert low_atr.price == 14.50  # 15.32 - 0.80 = 14.52, minus a tick
    swing = stop_level(rule("swing_low"), INPUTS, OLD, rules)
    assert swing.price == 15.88 and swing.as_dict()["swing_low"] == 15.9
    fixed = stop_level(rule("fixed", fixed_price=15.0), INPUTS, OLD, rules)
    assert (fixed.price, fixed.method) == (15.0, "fixed")


def test_fixed_stop_window_and_fallbacks(rules: TickRules) -> None:
    windowed = rule("fixed", fixed_price=15.0, fixed_from=date(2024, 7, 1))
    outside = stop_level(windowed, INPUTS, OLD, rules)
    assert outside.price == 15.30 and "outside the fixed stop's dates" in outside.basis
    unknown = StopInputs(lows=INPUTS.lows, close=16.5, atr=float("nan"), swing_low=None)
    assert stop_level(rule("atr"), unknown, OLD, rules).price == 15.30
    assert "ATR not known yet" in stop_level(rule("atr"), unknown, OLD, rules).basis
    assert "no swing low" in stop_level(rule("swing_low"), unknown, OLD, rules).basis


def test_reanchored_stop_keeps_the_planned_distance(rules: TickRules) -> None:
    assert reanchored_stop(11.80, 12.02, 11.88, OLD, rules) == 11.66
    assert reanchored_stop(0.10, 12.02, 11.88, OLD, rules) == 0.0


def test_stop_config_errors_are_one_line() -> None:
    from xmtrade.errors import ConfigError

    with pytest.raises(ConfigError, match="fixed_price is used only by method fixed"):
        load_config(overrides={"stop.fixed_price": 15})
    with pytest.raises(ConfigError, match=r"method fixed needs stop\.fixed_price"):
        load_config(overrides={"stop.method": "fixed"})
    with pytest.raises(ConfigError, match=r"stop\.method"):
        load_config(overrides={"stop.method": "chandelier"})
