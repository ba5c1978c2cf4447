"""Swing lows (STRATEGY §3): local minima with `k` bars on each side, known `k` bars later.

A swing low at bar j has `low[j]` strictly below each of the `k` bars before it and at or
below each of the `k` bars after it (so in a flat run of equal lows the first bar is the
swing low). Deciding that needs the `k` bars after j, so the swing low is *known* only at
bar j + k: anything used for a decision must read `swing_lows_known`, never `swing_lows`.
A bar with fewer than `k` bars on either side is not a swing low (yet). A NaN low, or a
NaN among its neighbours, never makes a swing low.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"swing k must be a positive integer, got {k!r}")


def swing_low_mask(low: np.ndarray, k: int) -> np.ndarray:
    """Boolean array, True at each bar j that is a swing low (the bar itself, not when known)."""
    _check_k(k)
    values = np.asarray(low, dtype=float)
    n = values.size
    mask = np.zeros(n, dtype=bool)
    inner = n - 2 * k  # bars j = k .. n-k-1 have k bars on both sides
    if inner <= 0:
        return mask
    windows = sliding_window_view(values, k)  # windows[s] = values[s : s + k]
    before_min = windows[:inner].min(axis=1)  # values[j-k : j]
    after_min = windows[k + 1 : k + 1 + inner].min(axis=1)  # values[j+1 : j+k+1]
    centre = values[k : n - k]
    mask[k : n - k] = (centre < before_min) & (centre <= after_min)
    return mask


def swing_lows(low: pd.Series, k: int) -> pd.Series:
    """True on the bar of each swing low (looks k bars ahead: for tests and charts only)."""
    return pd.Series(
        swing_low_mask(low.to_numpy(dtype=float), k), index=low.index, name="swing_low"
    )


def swing_lows_known(low: pd.Series, k: int) -> pd.Series:
    """True on the bar where a swing low becomes known (the swing bar + k): point in time."""
    mask = swing_low_mask(low.to_numpy(dtype=float), k)
    known = np.zeros_like(mask)
    known[k:] = mask[: mask.size - k]
    return pd.Series(known, index=low.index, name="swing_low_known")


def swing_low_events(low: pd.Series, k: int) -> pd.DataFrame:
    """One row per swing low: its bar (index `swing_date`), `known_date` (bar + k) and `low`."""
    positions = np.flatnonzero(swing_low_mask(low.to_numpy(dtype=float), k))
    index = low.index
    return pd.DataFrame(
        {
            "known_date": index.take(positions + k),
            "low": low.to_numpy(dtype=float)[positions],
        },
        index=pd.Index(index.take(positions), name="swing_date"),
    )
