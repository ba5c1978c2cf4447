"""The screening kernel's exact arithmetic: HKEX ticks, every charge with its rounding, and
tranche sizing, compiled with numba.

These are the rules that exist twice: the backtest computes them in `Decimal`
(`risk/ticks.py`, `xmtrade/costs.py`, `risk/sizing.py`), the kernel here in whole
micro-HK$ (prices, values) and scaled integer rates, so that both land on the same cent.
The parity test (tests/xmtrade/kernel/test_parity.py) compares them run by run; each function
names its twin. A problem the Decimal code would raise for (a price off the spread table) is
returned here as `ERROR` and makes the kernel give the run back to backtrader.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from xmtrade import money
from xmtrade.money import MICRO, RATE_SCALE

ERROR = -(2**62)  # "the Decimal code would raise here"
ROUND_CENT, ROUND_UP_DOLLAR = 0, 1
_UNIT = 10**13  # 1e-15 HK$ units per cent: value_micro x rate_scaled is in 1e-15 HK$


@njit(cache=True)
def to_micro(price: float) -> int:
    """A float price or value in whole micro-HK$ (twin: `risk.ticks.to_decimal`)."""
    return int(round(price * MICRO))  # noqa: RUF046 (numba types round() as float)


# ---------------------------------------------------------------------- ticks (risk/ticks.py)


@njit(cache=True)
def _band_at(p: int, lower: np.ndarray, upper: np.ndarray, bands: int) -> int:
    if p < lower[0] or p > upper[bands - 1]:
        return -1
    for b in range(bands):
        if p < upper[b]:
            return b
    return bands - 1


@njit(cache=True)
def round_down(p: int, t: int, lower: np.ndarray, upper: np.ndarray, tick: np.ndarray,
               bands: np.ndarray) -> int:  # fmt: skip
    """The highest valid price <= p on table t (twin: `TickRules.round_down_d`)."""
    b = _band_at(p, lower[t], upper[t], bands[t])
    if b < 0:
        return ERROR
    lo = lower[t, b]
    step = tick[t, b]
    return lo + ((p - lo) // step) * step


@njit(cache=True)
def round_up(p: int, t: int, lower: np.ndarray, upper: np.ndarray, tick: np.ndarray,
             bands: np.ndarray) -> int:  # fmt: skip
    """The lowest valid price >= p on table t (twin: `TickRules.round_up_d`)."""
    b = _band_at(p, lower[t], upper[t], bands[t])
    if b < 0:
        return ERROR
    lo = lower[t, b]
    step = tick[t, b]
    return lo + (-((lo - p) // step)) * step


@njit(cache=True)
def shift(p: int, t: int, n: int, lower: np.ndarray, upper: np.ndarray, tick: np.ndarray,
          bands: np.ndarray) -> int:  # fmt: skip
    """A valid price moved n ticks, across band edges (twin: `TickRules.shift_d`)."""
    if p == ERROR:
        return ERROR
    nb = bands[t]
    b = _band_at(p, lower[t], upper[t], nb)
    if b < 0 or (p - lower[t, b]) % tick[t, b] != 0:
        return ERROR
    floor = lower[t, 0]
    ceiling = upper[t, nb - 1]
    for _ in range(abs(n)):
        if n > 0:
            if p >= ceiling:
                return ERROR
            p += tick[t, _band_at(p, lower[t], upper[t], nb)]
        else:
            if p <= floor or p > ceiling:
                return ERROR
            below = nb - 1
            for k in range(nb):
                if p <= upper[t, k]:
                    below = k
                    break
            p -= tick[t, below]
    return p


# ---------------------------------------------------------------------- charges (costs.py)


@njit(cache=True)
def _charge_cents(value: int, rate: int, per_trade: int, minimum: int, maximum: int,
                  mode: int) -> int:  # fmt: skip
    """One charge on a trade value (micro-HK$), rounded, in cents (twin:
    `HkCostModel.charge_d`). The amount is value x rate in 1e-15 HK$, kept as whole cents
    plus a remainder so that nothing overflows; per_trade, minimum, maximum are cents
    (-1: none)."""
    hi = value // MICRO
    lo = value % MICRO
    x = hi * rate
    a = x // 10_000_000
    rest = (x % 10_000_000) * MICRO + lo * rate  # < 2e13
    cents = a + rest // _UNIT
    r = rest % _UNIT  # amount = cents + r / _UNIT
    if per_trade >= 0:
        cents += per_trade
    if minimum >= 0 and (cents < minimum):
        cents, r = minimum, 0
    if maximum >= 0 and (cents > maximum or (cents == maximum and r > 0)):
        cents, r = maximum, 0
    if mode == ROUND_CENT:
        return cents + 1 if 2 * r >= _UNIT else cents
    if cents % 100 == 0 and r == 0:
        return cents
    return (cents // 100 + 1) * 100


@njit(cache=True)
def fill_charges(value: int, g: int, rates: np.ndarray, per_trade: np.ndarray,
                 minimum: np.ndarray, maximum: np.ndarray, modes: np.ndarray) -> int:  # fmt: skip
    """Every charge and the commission of one fill in regime g, in cents (twin:
    `HkCostModel.charges(...).total`)."""
    total = 0
    for k in range(rates.shape[1]):
        if rates[g, k] < 0:  # not in force
            continue
        total += _charge_cents(
            value, rates[g, k], per_trade[g, k], minimum[g, k], maximum[g, k], modes[k]
        )
    return total


# ---------------------------------------------------------------------- sizing (sizing.py)


@njit(cache=True)
def _lots_down(shares: float, board_lot: int) -> int:
    if shares <= 0:
        return 0
    # the Decimal quotient of an exact fit is a whole number; float division may land a hair
    # below it
    return int(math.floor(shares / board_lot * (1 + 1e-12)))  # noqa: RUF046


@njit(cache=True)
def size_tranche(nav: float, position: int, price: float, entry: int, stop: int,
                 target_pct: float, cap_pct: float, risk_pct: float, board_lot: int, g: int,
                 rates: np.ndarray, per_trade: np.ndarray, minimum: np.ndarray,
                 maximum: np.ndarray, modes: np.ndarray) -> tuple[int, int]:  # fmt: skip
    """(shares by weight, shares) of a tranche (twin: `risk.sizing.size_tranche`); entry and
    stop in micro-HK$, costs at charge regime g. shares is -1 when the Decimal code raises."""
    if entry <= 0 or price <= 0:
        return 0, -1
    nav = round(nav * MICRO) / MICRO
    if nav <= 0:
        return 0, 0
    effective = min(target_pct, cap_pct)
    room = effective * nav / 100 - position * price
    entry_f = entry / MICRO
    by_weight = _lots_down(room / entry_f, board_lot) * board_lot
    per_share = entry - stop
    if per_share <= 0:
        return by_weight, 0
    budget = nav * risk_pct / 100
    # the most lots within the budget, searched up to the weight's lots (the answer is the
    # smaller of the two, so a larger count never matters): gallop down, then bisect, as
    # `risk.sizing._most_lots` does
    upper = min(_lots_down(budget / (per_share / MICRO), board_lot), by_weight // board_lot)
    if upper <= 0:
        return by_weight, 0
    if _fits(upper * board_lot, entry, stop, per_share, budget, g, rates, per_trade, minimum,
             maximum, modes):  # fmt: skip
        return by_weight, min(by_weight, upper * board_lot)
    bad, step, good = upper, 1, 0
    while True:
        probe = upper - step
        if probe <= 0:
            good = 0
            break
        if _fits(probe * board_lot, entry, stop, per_share, budget, g, rates, per_trade,
                 minimum, maximum, modes):  # fmt: skip
            good = probe
            break
        bad, step = probe, step * 2
    while bad - good > 1:
        mid = (good + bad) // 2
        if _fits(mid * board_lot, entry, stop, per_share, budget, g, rates, per_trade, minimum,
                 maximum, modes):  # fmt: skip
            good = mid
        else:
            bad = mid
    return by_weight, min(by_weight, good * board_lot)


@njit(cache=True)
def _fits(shares: int, entry: int, stop: int, per_share: int, budget: float, g: int,
          rates: np.ndarray, per_trade: np.ndarray, minimum: np.ndarray, maximum: np.ndarray,
          modes: np.ndarray) -> bool:  # fmt: skip
    """The 2% rule: the loss at the stop plus the round trip's charges within the budget."""
    cost = fill_charges(entry * shares, g, rates, per_trade, minimum, maximum, modes)
    cost += fill_charges(stop * shares, g, rates, per_trade, minimum, maximum, modes)
    loss = per_share * shares + cost * 10_000  # micro-HK$
    return bool(loss / MICRO <= budget)


# the money rule itself, compiled from its one definition (no twin)
interest_cents = njit(cache=True)(money.interest_cents)


@njit(cache=True)
def cash_interest(cash: float, rate_pct: float, days: int) -> float:
    """Interest on cash over calendar days, ACT/365, in HK$ to the cent, half up: the rule of
    `xmtrade.money.interest_cents` on the cash in micro-HK$ (as `xmtrade.broker.cash_interest`
    calls it)."""
    cents = interest_cents(to_micro(cash), int(round(rate_pct * RATE_SCALE)), days)  # noqa: RUF046
    return cents / 100
