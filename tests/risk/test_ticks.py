"""HKEX spread table from configs/default.yaml, on both sides of the 2025-08-04 change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from risk.ticks import TickRules, fill_price_with_slippage, to_decimal
from xmtrade.config import load_config

OLD = date(2025, 8, 1)  # last session of the old table (a Friday)
NEW = date(2025, 8, 4)  # first session of the new table (the Monday)


@pytest.fixture(scope="module")
def rules() -> TickRules:
    return TickRules(load_config().market.tick_tables)


# ---------------------------------------------------------------- tick sizes (STRATEGY §1.1)

OLD_TICKS = [
    (0.01, 0.001),
    (0.249, 0.001),
    (0.25, 0.005),
    (0.495, 0.005),
    (0.50, 0.01),
    (9.99, 0.01),
    (10.0, 0.02),
    (19.98, 0.02),
    (20.0, 0.05),
    (49.95, 0.05),
    (50.0, 0.05),
    (99.95, 0.05),
    (100.0, 0.10),
    (200.0, 0.20),
    (500.0, 0.50),
    (1000.0, 1.0),
    (2000.0, 2.0),
    (5000.0, 5.0),
    (9995.0, 5.0),  # the highest price on HKEX is itself valid
]
# Only the 10-20 and 20-50 bands changed on 2025-08-04.
NEW_TICKS = [
    (p, {10.0: 0.01, 19.98: 0.01, 20.0: 0.02, 49.95: 0.02}.get(p, t)) for p, t in OLD_TICKS
]


@pytest.mark.parametrize(("price", "tick"), OLD_TICKS)
def test_tick_size_old_table(rules: TickRules, price: float, tick: float) -> None:
    assert rules.tick_size(price, OLD) == tick


@pytest.mark.parametrize(("price", "tick"), NEW_TICKS)
def test_tick_size_new_table(rules: TickRules, price: float, tick: float) -> None:
    assert rules.tick_size(price, NEW) == tick


def test_table_switches_on_the_effective_trade_date(rules: TickRules) -> None:
    assert rules.tick_size(15.0, date(2025, 8, 2)) == 0.02  # Saturday: still the old table
    assert rules.tick_size(15.0, date(2018, 7, 9)) == 0.02  # Xiaomi's IPO
    assert rules.tick_size(15.0, date(2026, 3, 26)) == 0.01
    assert rules.effective_date(OLD) == date(1990, 1, 1)
    assert rules.effective_date(NEW) == NEW


# ---------------------------------------------------------------- rounding


@pytest.mark.parametrize(
    ("price", "on", "down", "up"),
    [
        (25.03, OLD, 25.00, 25.05),  # tick 0.05
        (25.03, NEW, 25.02, 25.04),  # tick 0.02
        (15.01, OLD, 15.00, 15.02),  # tick 0.02
        (15.01, NEW, 15.01, 15.01),  # tick 0.01: already valid
        (20.03, OLD, 20.00, 20.05),  # just above 20: the upper band's 0.05
        (20.03, NEW, 20.02, 20.04),
        (19.99, OLD, 19.98, 20.00),  # just below 20: the lower band's 0.02, up onto the edge
        (10.01, OLD, 10.00, 10.02),
        (9.995, OLD, 9.99, 10.00),
        (20.00, OLD, 20.00, 20.00),  # a band boundary is valid
        (100.03, OLD, 100.00, 100.10),
        (99.99, NEW, 99.95, 100.00),
        (0.2537, OLD, 0.25, 0.255),
        (9994.0, NEW, 9990.0, 9995.0),
    ],
)
def test_round_down_and_up(
    rules: TickRules, price: float, on: date, down: float, up: float
) -> None:
    assert rules.round_down(price, on) == down
    assert rules.round_up(price, on) == up
    assert rules.is_valid(down, on)
    assert rules.is_valid(up, on)


@pytest.mark.parametrize(
    ("price", "on", "valid"),
    [
        (15.01, OLD, False),
        (15.01, NEW, True),
        (15.02, OLD, True),
        (25.02, OLD, False),
        (25.02, NEW, True),
        (25.05, NEW, False),
        (25.05, OLD, True),
        (20.0, OLD, True),
        (0.01, NEW, True),
        (9995.0, NEW, True),
        (0.009, NEW, False),  # below the table
        (10000.0, NEW, False),  # above the table
        (12.345, NEW, False),
    ],
)
def test_is_valid(rules: TickRules, price: float, on: date, valid: bool) -> None:
    assert rules.is_valid(price, on) is valid


def test_rounding_is_exact_not_float_noise(rules: TickRules) -> None:
    # 19.98 + 0.02 in floats is 20.000000000000004; the grid says 20.0
    assert rules.round_up(19.98 + 0.02, OLD) == 20.0
    assert rules.round_down(0.1 + 0.2, NEW) == 0.3
    assert repr(rules.round_down(12.3456, NEW)) == "12.34"


@pytest.mark.parametrize("price", [0.009, 0.0, -1.0, 9995.01, 10000.0])
def test_prices_outside_the_table_raise(rules: TickRules, price: float) -> None:
    with pytest.raises(ValueError, match="outside the spread table"):
        rules.round_down(price, NEW)
    with pytest.raises(ValueError, match="outside the spread table"):
        rules.tick_size(price, NEW)


def test_date_before_the_first_table_raises(rules: TickRules) -> None:
    with pytest.raises(ValueError, match="no spread table in force on 1989-12-31"):
        rules.tick_size(15.0, date(1989, 12, 31))


# ---------------------------------------------------------------- shifting by ticks


@pytest.mark.parametrize(
    ("price", "on", "ticks", "expected"),
    [
        (20.00, OLD, -1, 19.98),  # below 20 the tick is 0.02
        (20.00, NEW, -1, 19.99),
        (19.98, OLD, 1, 20.00),
        (20.00, OLD, 1, 20.05),
        (10.00, OLD, -1, 9.99),
        (10.00, OLD, -3, 9.97),
        (19.96, OLD, 3, 20.05),  # 19.98, 20.00, 20.05
        (20.05, OLD, -3, 19.96),
        (50.00, NEW, -1, 49.98),
        (49.98, NEW, 2, 50.05),  # 50.00, 50.05
        (0.50, OLD, -1, 0.495),
        (0.295, NEW, 1, 0.3),
        (15.32, OLD, 0, 15.32),
        (9990.0, NEW, 1, 9995.0),
    ],
)
def test_shift(rules: TickRules, price: float, on: date, ticks: int, expected: float) -> None:
    assert rules.shift(price, on, ticks) == expected


def test_shift_needs_a_valid_price(rules: TickRules) -> None:
    with pytest.raises(ValueError, match="not a valid price"):
        rules.shift(15.01, OLD, -1)


def test_shift_off_either_end_of_the_table_raises(rules: TickRules) -> None:
    with pytest.raises(ValueError, match="no valid price above"):
        rules.shift(9995.0, NEW, 1)
    with pytest.raises(ValueError, match="no valid price below"):
        rules.shift(0.01, NEW, -1)
    assert rules.shift(0.011, NEW, -1) == 0.01


# ---------------------------------------------------------------- slippage


@pytest.mark.parametrize(
    ("price", "on", "side", "ticks", "expected"),
    [
        (12.35, OLD, "buy", 1, 12.38),  # snapped up to 12.36, plus 0.02
        (12.35, OLD, "sell", 1, 12.32),  # snapped down to 12.34, minus 0.02
        (12.35, NEW, "buy", 1, 12.36),
        (12.35, NEW, "sell", 1, 12.34),
        (19.98, OLD, "buy", 1, 20.00),
        (20.00, OLD, "sell", 1, 19.98),
        (20.00, OLD, "buy", 2, 20.10),
        (20.03, OLD, "buy", 0, 20.05),  # no slippage: snap only, buy up
        (20.03, OLD, "sell", 0, 20.00),  # sell down
    ],
)
def test_fill_price_with_slippage(
    rules: TickRules, price: float, on: date, side: str, ticks: int, expected: float
) -> None:
    assert fill_price_with_slippage(price, on, side, ticks, rules) == expected  # type: ignore[arg-type]


def test_slippage_rejects_bad_arguments(rules: TickRules) -> None:
    with pytest.raises(ValueError, match="slippage ticks"):
        fill_price_with_slippage(15.0, NEW, "buy", -1, rules)
    with pytest.raises(ValueError, match="side"):
        fill_price_with_slippage(15.0, NEW, "short", 1, rules)  # type: ignore[arg-type]


# ---------------------------------------------------------------- construction


@dataclass(frozen=True)
class Band:
    lower: float
    upper: float
    tick: float


@dataclass(frozen=True)
class Table:
    effective: date
    bands: tuple[Band, ...]


def test_accepts_any_table_shaped_objects_in_any_order() -> None:
    later = Table(date(2020, 1, 1), (Band(1, 10, 0.5),))
    first = Table(date(2000, 1, 1), (Band(1, 10, 1), Band(10, 20, 2)))
    rules = TickRules([later, first])
    assert rules.tick_size(5, date(2019, 12, 31)) == 1
    assert rules.tick_size(5, date(2020, 1, 1)) == 0.5
    assert rules.shift(10, date(2010, 1, 1), -1) == 9


def test_rejects_a_band_not_made_of_whole_ticks() -> None:
    with pytest.raises(ValueError, match="whole number of"):
        TickRules([Table(date(2000, 1, 1), (Band(1, 10, 2),))])
    with pytest.raises(ValueError, match="not contiguous"):
        TickRules([Table(date(2000, 1, 1), (Band(1, 10, 1), Band(11, 20, 1)))])
    with pytest.raises(ValueError, match="at least one"):
        TickRules([])


def test_to_decimal_drops_float_noise_only() -> None:
    assert str(to_decimal(19.98 + 0.02)) == "20.0"
    assert str(to_decimal(15.319999694824219)) == "15.32"  # a float32 artefact
    assert str(to_decimal(12.345)) == "12.345"
    with pytest.raises(ValueError, match="finite"):
        to_decimal(float("nan"))
