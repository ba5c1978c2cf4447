"""HK charges and commission with the rates of configs/default.yaml (STRATEGY §1.2).

Every expected amount is worked out by hand in the comment next to it; the tests fail if a
rate or a date in the YAML is wrong.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from xmtrade.config import load_config
from xmtrade.costs import HkCostModel


@pytest.fixture(scope="module")
def model() -> HkCostModel:
    config = load_config()
    return HkCostModel(config.market, config.costs)


def charge(model: HkCostModel, kind: str, on: date, value: float) -> float:
    return model.charges(on, value).by_kind[kind]


def test_kinds_follow_the_config_then_commission(model: HkCostModel) -> None:
    assert model.kinds() == [
        "stamp_duty",
        "sfc_levy",
        "afrc_levy",
        "trading_fee",
        "settlement_fee",
        "commission",
    ]
    assert list(model.charges(date(2024, 1, 2), 1000.0).by_kind) == model.kinds()


# ---------------------------------------------------------------- stamp duty


@pytest.mark.parametrize(
    ("on", "value", "expected"),
    [
        # 0.10% until 2021-07-31: 100,000.01 x 0.001 = 100.00001 -> up to 101
        (date(2021, 7, 31), 100_000.01, 101.0),
        # a whole amount stays: 100,000 x 0.001 = 100 exactly
        (date(2021, 7, 31), 100_000.0, 100.0),
        # 0.13% from 2021-08-01: 100,000.01 x 0.0013 = 130.000013 -> 131
        (date(2021, 8, 1), 100_000.01, 131.0),
        # 200,000 x 0.0013 = 260 exactly
        (date(2023, 11, 16), 200_000.0, 260.0),
        # 0.10% again from 2023-11-17: 200,000 x 0.001 = 200
        (date(2023, 11, 17), 200_000.0, 200.0),
        # 12.35 x 200 = 2,470 x 0.001 = 2.47 -> 3
        (date(2024, 1, 2), 12.35 * 200, 3.0),
        # 0.40 -> 1 (even a tiny fill pays a whole dollar)
        (date(2024, 1, 2), 400.0, 1.0),
        (date(2018, 7, 9), 0.0, 0.0),
    ],
)
def test_stamp_duty(model: HkCostModel, on: date, value: float, expected: float) -> None:
    assert charge(model, "stamp_duty", on, value) == expected


# ---------------------------------------------------------------- levies


@pytest.mark.parametrize(
    ("on", "value", "expected"),
    [
        (date(2018, 7, 9), 1_000_000.0, 27.0),  # 0.0027%: 1,000,000 x 0.000027 = 27.00
        (date(2025, 9, 1), 1_000_000.0, 27.0),
        (date(2024, 1, 2), 15_000.0, 0.41),  # 0.405 -> half up 0.41 (half-even would give 0.40)
        (date(2024, 1, 2), 2_470.0, 0.07),  # 0.06669 -> 0.07
    ],
)
def test_sfc_levy(model: HkCostModel, on: date, value: float, expected: float) -> None:
    assert charge(model, "sfc_levy", on, value) == expected


@pytest.mark.parametrize(
    ("on", "value", "expected"),
    [
        (date(2021, 12, 31), 1_000_000.0, 0.0),  # no AFRC levy before 2022
        (date(2022, 1, 1), 1_000_000.0, 1.5),  # 0.00015%: 1,000,000 x 0.0000015 = 1.50
        (date(2024, 1, 2), 30_000.0, 0.05),  # 0.045 -> half up 0.05
        (date(2024, 1, 2), 2_470.0, 0.0),  # 0.003705 -> 0.00
    ],
)
def test_afrc_levy(model: HkCostModel, on: date, value: float, expected: float) -> None:
    assert charge(model, "afrc_levy", on, value) == expected


def test_a_charge_not_yet_in_force_is_listed_as_zero(model: HkCostModel) -> None:
    fill = model.charges(date(2021, 6, 1), 1_000_000.0)
    assert "afrc_levy" in fill.by_kind
    assert fill.by_kind["afrc_levy"] == 0.0


# ---------------------------------------------------------------- exchange and clearing fees


@pytest.mark.parametrize(
    ("on", "value", "expected"),
    [
        # 0.005% + HK$0.50 per trade until 2022-12-31: 100,000 x 0.00005 = 5.00 + 0.50
        (date(2022, 12, 31), 100_000.0, 5.5),
        (date(2018, 7, 9), 2_470.0, 0.62),  # 0.1235 + 0.50 = 0.6235 -> 0.62
        # 0.00565% from 2023-01-01, no per-trade fee: 100,000 x 0.0000565 = 5.65
        (date(2023, 1, 1), 100_000.0, 5.65),
        (date(2024, 1, 2), 2_470.0, 0.14),  # 0.139555 -> 0.14
    ],
)
def test_trading_fee(model: HkCostModel, on: date, value: float, expected: float) -> None:
    assert charge(model, "trading_fee", on, value) == expected


@pytest.mark.parametrize(
    ("on", "value", "expected"),
    [
        # 0.002%, min 2, max 100 until 2025-06-29
        (date(2025, 6, 29), 1_000_000.0, 20.0),  # 1,000,000 x 0.00002 = 20.00
        (date(2025, 6, 29), 50_000.0, 2.0),  # 1.00 -> minimum 2.00
        (date(2025, 6, 29), 10_000_000.0, 100.0),  # 200.00 -> maximum 100.00
        (date(2024, 1, 2), 150_250.0, 3.01),  # 3.005 -> half up 3.01
        # 0.0042% with no min or max from 2025-06-30
        (date(2025, 6, 30), 1_000_000.0, 42.0),  # 1,000,000 x 0.000042 = 42.00
        (date(2025, 6, 30), 50_000.0, 2.1),  # 2.10, no minimum
        (date(2025, 6, 30), 10_000.0, 0.42),  # 0.42, far below the old minimum
        (date(2025, 6, 30), 10_000_000.0, 420.0),  # 420.00, no maximum
    ],
)
def test_settlement_fee(model: HkCostModel, on: date, value: float, expected: float) -> None:
    assert charge(model, "settlement_fee", on, value) == expected


# ---------------------------------------------------------------- commission


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5_000.0, 3.0),  # 0.03% = 1.50 -> minimum 3.00
        (10_000.0, 3.0),  # 3.00 exactly
        (100_000.0, 30.0),
        (12_345.0, 3.7),  # 3.7035 -> 3.70
        (11_550.0, 3.47),  # 3.465 -> half up 3.47 (half-even would give 3.46)
    ],
)
def test_commission(model: HkCostModel, value: float, expected: float) -> None:
    fill = model.charges(date(2024, 1, 2), value)
    assert fill.by_kind["commission"] == expected
    assert fill.commission == expected


# ---------------------------------------------------------------- whole fills


def test_one_small_fill_in_2024_every_charge_and_the_total(model: HkCostModel) -> None:
    # 12.35 x 200 = 2,470: stamp 2.47 -> 3; SFC 0.06669 -> 0.07; AFRC 0.003705 -> 0.00;
    # trading 0.139555 -> 0.14; settlement 0.0494 -> min 2.00; commission 0.741 -> min 3.00
    fill = model.charges(date(2024, 1, 2), 12.35 * 200)
    assert fill.by_kind == {
        "stamp_duty": 3.0,
        "sfc_levy": 0.07,
        "afrc_levy": 0.0,
        "trading_fee": 0.14,
        "settlement_fee": 2.0,
        "commission": 3.0,
    }
    assert fill.total == 8.21  # exactly, not 8.209999999999999


def test_a_fill_in_each_rate_era_of_one_value(model: HkCostModel) -> None:
    value = 100_000.01
    # 2020: stamp 0.10% 101; SFC 2.70000027 -> 2.70; AFRC none; trading 5.0000005 + 0.50 -> 5.50;
    #       settlement 2.0000002 -> 2.00; commission 30.000003 -> 30.00  => 141.20
    assert model.charges(date(2020, 1, 2), value).total == 141.2
    # 2022: stamp 0.13% 130.000013 -> 131; AFRC 0.150000015 -> 0.15  => 171.35
    assert model.charges(date(2022, 6, 1), value).total == 171.35
    # 2024: stamp 101; trading 0.00565% 5.650000565 -> 5.65, no per-trade fee  => 141.50
    assert model.charges(date(2024, 1, 2), value).total == 141.5
    # 2025-07: settlement 0.0042% 4.20000042 -> 4.20  => 143.70
    assert model.charges(date(2025, 7, 2), value).total == 143.7


def test_round_trip_is_a_buy_plus_a_sell(model: HkCostModel) -> None:
    on = date(2024, 6, 3)
    # buy 6,400 x 15.02 = 96,128: 97 + 2.60 + 0.14 + 5.43 + 2.00 + 28.84 = 136.01
    assert model.charges(on, 96_128.0).total == 136.01
    # sell 6,400 x 12.00 = 76,800: 77 + 2.07 + 0.12 + 4.34 + 2.00 + 23.04 = 108.57
    assert model.charges(on, 76_800.0).total == 108.57
    assert model.round_trip(on, 96_128.0, 76_800.0) == 244.58


def test_fill_charges_is_json_serialisable_and_frozen(model: HkCostModel) -> None:
    fill = model.charges(date(2024, 1, 2), 2_470.0)
    assert json.loads(json.dumps(fill.by_kind)) == fill.by_kind
    with pytest.raises(AttributeError):
        fill.by_kind = {}  # type: ignore[misc]


def test_a_new_charge_in_the_config_needs_no_code() -> None:
    config = load_config(
        overrides={
            "market.charges.new_levy": {
                "rounding": "cent",
                "periods": [{"start": "2026-01-01", "rate_pct": 0.001, "per_trade": 1}],
            },
            "costs.commission_min": 0,
        }
    )
    model = HkCostModel(config.market, config.costs)
    assert model.kinds()[-2:] == ["new_levy", "commission"]
    assert charge(model, "new_levy", date(2025, 12, 31), 100_000.0) == 0.0
    assert charge(model, "new_levy", date(2026, 1, 2), 100_000.0) == 2.0  # 1.00 + 1.00
    assert charge(model, "commission", date(2026, 1, 2), 1_000.0) == 0.3  # no minimum now


def test_negative_value_is_a_programmer_error(model: HkCostModel) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        model.charges(date(2024, 1, 2), -1.0)
