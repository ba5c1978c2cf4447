"""The rounding rule for money, defined once for both engines.

Every amount the tool credits or charges is a whole number of cents, rounded half up (a tie,
an exact half cent, goes away from zero) from the exact value of its inputs: amounts in whole
micro-HK$, rates in whole 1e-7 percent. The functions here are plain integer arithmetic that
never leaves int64 for the amounts a config allows, so the backtest (`xmtrade.broker`) calls
them as they are and the screening kernel compiles the very same source with numba
(`xmtrade.kernel.arith`): there is no twin to keep in step.

The fees follow the same rule in `xmtrade.costs` (Decimal, ROUND_HALF_UP) and its integer twin
`xmtrade.kernel.arith._charge_cents`.
"""

from __future__ import annotations

MICRO = 1_000_000  # micro-HK$ per HK$ (the Decimal code drops float noise below 1e-6)
RATE_SCALE = 10_000_000  # a rate_pct times this is a whole number
_YEAR_UNIT = MICRO * RATE_SCALE  # cash_micro x rate_scaled is in 1e-13 cents a year
DAYS_A_YEAR = 365  # ACT/365


def to_micro(amount: float) -> int:
    """An amount in float HK$ as whole micro-HK$ (the float noise below 1e-6 dropped)."""
    return round(amount * MICRO)


def to_rate(rate_pct: float) -> int:
    """A rate in percent as a whole number of 1e-7 percent."""
    return round(rate_pct * RATE_SCALE)


def interest_cents(cash_micro: int, rate_scaled: int, days: int) -> int:
    """Interest on cash over calendar days, ACT/365, in whole cents rounded half up
    (980,025.00 at 2.5% for one day: 67.125, credited 67.13). A negative rate charges,
    rounded the same way away from zero. Exact for cash x rate below 9.2e18 (HK$ 3.7e11 at
    2.5%)."""
    if cash_micro <= 0 or days <= 0 or rate_scaled == 0:
        return 0
    sign = 1
    if rate_scaled < 0:
        sign, rate_scaled = -1, -rate_scaled
    # a year's interest in cents: whole + rem / _YEAR_UNIT, computed without overflow
    dollars = cash_micro // MICRO
    x = dollars * rate_scaled
    whole = x // RATE_SCALE
    rest = (x % RATE_SCALE) * MICRO + (cash_micro % MICRO) * rate_scaled
    whole += rest // _YEAR_UNIT
    rem = rest % _YEAR_UNIT
    # times days / 365: cents + (left x _YEAR_UNIT + fine) / (365 x _YEAR_UNIT)
    spread = whole * days
    cents = spread // DAYS_A_YEAR
    left = spread % DAYS_A_YEAR
    fine_total = rem * days
    left += fine_total // _YEAR_UNIT
    fine = fine_total % _YEAR_UNIT
    cents += left // DAYS_A_YEAR
    left = left % DAYS_A_YEAR
    if 2 * (left * _YEAR_UNIT + fine) >= DAYS_A_YEAR * _YEAR_UNIT:
        cents += 1
    return sign * cents
