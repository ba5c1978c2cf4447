"""Stop levels of every session at once: the array twin of `risk.stops.stop_level`.

`stop_level` prices one stop with Decimal and writes the sentence a user reads; a sweep
needs the level of every session for thousands of stop settings and reads no sentence. This
module computes the same levels in whole micro-HK$ (integers, so exact) for a whole price
history in one compiled loop; `tests/risk/test_stop_arrays.py` proves the two equal on every
method over random bars and settings. The sentences stay in `stop_level`, built only for
the runs a user looks at (the backtest, a sweep's confirmed rows).

The inputs are converted once per price history (`micro`: the same float-to-Decimal rule as
`risk.ticks.to_decimal`), the ATR and the swing lows once per period or `k`; each stop
setting then costs one pass over the sessions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
from numba import njit

from risk.stops import StopRule
from risk.ticks import to_decimal
from xmtrade.kernel.arith import ERROR, round_down, shift

MICRO_DIGITS = 6
UNKNOWN = -1  # a micro-HK$ figure that is not known (or not finite)
METHODS = {"lowest_low": 0, "atr": 1, "lowest_low_atr": 2, "swing_low": 3, "fixed": 4}
NO_DATE = -1


def micro(values: Sequence[float | None]) -> np.ndarray:
    """Each value in whole micro-HK$ by `to_decimal` (its shortest repr, noise below 1e-6
    dropped); `UNKNOWN` where it is None, NaN or infinite."""
    out = np.full(len(values), UNKNOWN, dtype=np.int64)
    for n, value in enumerate(values):
        if value is None or not np.isfinite(value):
            continue
        out[n] = int(to_decimal(float(value)).scaleb(MICRO_DIGITS))
    return out


def known_micro(values: Sequence[float | None]) -> np.ndarray:
    """`micro` of a figure a method needs known and positive (ATR, swing low; twin of
    `stops._known`); the ATR rounded to 6 decimals first, as `stop_level` does."""
    cleaned = [
        None if v is None or not np.isfinite(v) or v <= 0 else round(float(v), MICRO_DIGITS)
        for v in values
    ]
    return micro(cleaned)


def stop_level_series(
    rule: StopRule,
    lows: np.ndarray,
    close: np.ndarray,
    atr: np.ndarray | None,
    swing: np.ndarray | None,
    first: int,
    table_next: np.ndarray,
    next_ordinal: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    tick: np.ndarray,
    bands: np.ndarray,
) -> np.ndarray:
    """The stop level (micro-HK$) `stop_level` gives for a tranche decided at the close of
    each session `first + j` of the history (its `lows`, `close` in micro, `UNKNOWN` where
    not finite), resting on the next session (spread table `table_next[j]`, date ordinal
    `next_ordinal[j]`); `UNKNOWN` where `stop_level` raises."""
    if rule.lookback < 1 or rule.buffer_ticks < 0:
        raise ValueError(f"bad stop rule {rule}")
    method = METHODS[rule.method]
    n = len(table_next)
    empty = np.full(0, UNKNOWN, dtype=np.int64)
    k = int(to_decimal(rule.atr_multiple).scaleb(MICRO_DIGITS))
    fixed = UNKNOWN
    if rule.fixed_price is not None:
        fixed = int(to_decimal(rule.fixed_price).scaleb(MICRO_DIGITS))
    return _levels(
        method,
        rule.lookback,
        rule.buffer_ticks,
        k,
        fixed,
        _ordinal(rule.fixed_from),
        _ordinal(rule.fixed_to),
        lows,
        close,
        empty if atr is None else atr,
        empty if swing is None else swing,
        first,
        n,
        table_next,
        next_ordinal,
        lower,
        upper,
        tick,
        bands,
    )


def _ordinal(day: date | None) -> int:
    return NO_DATE if day is None else day.toordinal()


@njit(cache=True)
def _levels(
    method: int, lookback: int, buffer: int, k: int, fixed: int, fixed_from: int,
    fixed_to: int, lows: np.ndarray, close: np.ndarray, atr: np.ndarray, swing: np.ndarray,
    first: int, n: int, table_next: np.ndarray, next_ordinal: np.ndarray,
    lower: np.ndarray, upper: np.ndarray, tick: np.ndarray, bands: np.ndarray,
) -> np.ndarray:  # fmt: skip
    out = np.full(n, UNKNOWN, dtype=np.int64)
    for j in range(n):
        i = first + j
        t = table_next[j]
        on = next_ordinal[j]
        if method == 4 and fixed != UNKNOWN:
            in_force = (fixed_from == NO_DATE or on >= fixed_from) and (
                fixed_to == NO_DATE or on <= fixed_to
            )
            if in_force:
                level = round_down(fixed, t, lower, upper, tick, bands)
                out[j] = UNKNOWN if level == ERROR else level
                continue
        # the lowest low of the window: every method prices it first (and fails with it)
        lowest = -1
        finite = True
        for m in range(max(0, i - lookback + 1), i + 1):
            if lows[m] == UNKNOWN:
                finite = False
                break
            if lowest < 0 or lows[m] < lowest:
                lowest = lows[m]
        if not finite or lowest < 0:
            continue
        on_grid = round_down(lowest, t, lower, upper, tick, bands)
        if on_grid == ERROR:
            continue
        fallback = shift(on_grid, t, -buffer, lower, upper, tick, bands)
        if fallback == ERROR:
            continue
        level = fallback
        if method == 1 or method == 2:
            if atr[i] != UNKNOWN:
                anchor = close[i] if method == 1 else lowest
                product = k * atr[i]  # micro x micro: 1e-12 HK$
                if anchor * 1_000_000 - product > 0:
                    # floor(anchor - k x atr) in micro; the tick grid is whole micro-HK$
                    raw = anchor - (product + 999_999) // 1_000_000
                    level = _minus_buffer(raw, t, buffer, lower, upper, tick, bands)
        elif method == 3 and swing[i] != UNKNOWN:
            level = _minus_buffer(swing[i], t, buffer, lower, upper, tick, bands)
        out[j] = level
    return out


@njit(cache=True)
def _minus_buffer(level: int, t: int, buffer: int, lower: np.ndarray, upper: np.ndarray,
                  tick: np.ndarray, bands: np.ndarray) -> int:  # fmt: skip
    """`stops._minus_buffer`: rounded down to the grid, then `buffer` ticks lower."""
    on_grid = round_down(level, t, lower, upper, tick, bands)
    if on_grid == ERROR:
        return UNKNOWN
    moved = shift(on_grid, t, -buffer, lower, upper, tick, bands)
    return UNKNOWN if moved == ERROR else moved


__all__ = ["UNKNOWN", "known_micro", "micro", "stop_level_series"]
