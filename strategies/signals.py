"""Technical entry signals (STRATEGY §3): RSI oversold and the MACD bullish divergence.

Indicators come from `ta` (the single source of truth), computed once and vectorised on the
bars with real trading; placeholder bars (`no_trading`) get NaN indicators and False
signals, and sessions are counted in real bars (lookback, swing `k`). Every value on bar t
uses only bars up to and including t.

Note on `ta`: its EMAs start from the first value (not an SMA seed) and its RSI counts the
first, undefined price change as 0, so RSI is defined from bar `period - 1` and MACD from
bar `slow - 1` (signal line from `slow + signal - 2`); early values differ from charting
tools that seed with an SMA until the seed has decayed (roughly 100-200 bars).

MACD bullish divergence, bar by bar (all counts in real bars):

* When a swing low S2 at bar j becomes known (bar j + k), it is paired with the most recent
  earlier swing low S1 at bar i, if 0 < j - i <= lookback. The divergence is *armed* if
  low[j] < low[i] (lower low in price) and macd[j] > macd[i] (higher low in MACD).
* It is *confirmed* on the first bar t >= j + k where macd > signal and the MACD line
  crossed from <= signal to > signal on some bar in (j, t].
* It is *cancelled* on the first bar t > j whose low is below low[j] (a new lower low, even on
  the bar that would have confirmed it), or once t - j > lookback. It fires at most once.
* Two armed divergences can be alive at once (S1 < S2 < S3 < S4 in time, with S3 and S4
  above S2): if both confirm on the same bar, `divergence` is True once and the detail
  columns describe the one with the later S2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from ta.momentum import RSIIndicator
from ta.trend import MACD

from strategies.swings import swing_low_mask

SIGNAL_COLUMNS: tuple[str, ...] = (
    "rsi",
    "rsi_oversold",
    "rsi_overbought",
    "macd",
    "macd_signal",
    "macd_hist",
    "swing_low_known",
    "divergence",
    "div_low1_date",
    "div_low1_price",
    "div_low1_macd",
    "div_low2_date",
    "div_low2_price",
    "div_low2_macd",
)
"""The columns of `compute_signals`, in order."""

REQUIRED_BAR_COLUMNS: tuple[str, ...] = ("low", "close", "no_trading")


@dataclass(frozen=True)
class Divergences:
    """Result of the divergence pass on real bars (positions are real-bar positions)."""

    fire: np.ndarray  # bool, True on the confirmation bar
    first: np.ndarray  # int, position of S1 on fire bars, -1 elsewhere
    second: np.ndarray  # int, position of S2 on fire bars, -1 elsewhere


def _positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_level(name: str, value: float) -> None:
    if not (0 < float(value) < 100):
        raise ValueError(f"{name} must be between 0 and 100, got {value!r}")


def find_divergences(
    low: np.ndarray, macd: np.ndarray, signal: np.ndarray, *, lookback: int, swing_k: int
) -> Divergences:
    """Confirmed MACD bullish divergences on consecutive (real) bars; see the module doc."""
    _positive_int("lookback", lookback)
    low = np.asarray(low, dtype=float)
    macd = np.asarray(macd, dtype=float)
    signal = np.asarray(signal, dtype=float)
    if not (low.shape == macd.shape == signal.shape) or low.ndim != 1:
        raise ValueError(
            f"low, macd and signal must be 1-d and equally long, got "
            f"{low.shape}, {macd.shape}, {signal.shape}"
        )
    diff = macd - signal
    n = low.size
    above = diff > 0  # NaN (warm-up) is neither above nor at/below
    at_or_below = diff <= 0
    fire = np.zeros(n, dtype=bool)
    first = np.full(n, -1, dtype=np.int64)
    second = np.full(n, -1, dtype=np.int64)

    swings = np.flatnonzero(swing_low_mask(low, swing_k))
    for i, j in zip(swings[:-1].tolist(), swings[1:].tolist(), strict=True):
        if j - i > lookback or not (low[j] < low[i] and macd[j] > macd[i]):
            continue
        start = j + swing_k  # the bar S2 becomes known
        stop = min(j + lookback, n - 1) + 1  # bars start .. stop-1 may confirm
        if start >= stop:
            continue
        # crossed[t] <=> some bar m in [j, t-1] is at/below the signal (so, with diff[t] > 0,
        # a cross from <= to > happened in (j, t]).
        crossed = np.logical_or.accumulate(at_or_below[j : stop - 1])[start - 1 - j :]
        alive = ~np.logical_or.accumulate(low[start:stop] < low[j])
        hits = np.flatnonzero(above[start:stop] & crossed & alive)
        if hits.size:
            t = start + int(hits[0])
            fire[t] = True
            first[t] = i
            second[t] = j
    return Divergences(fire=fire, first=first, second=second)


def _rsi(close: pd.Series, period: int) -> np.ndarray:
    return RSIIndicator(close, window=period, fillna=False).rsi().to_numpy(dtype=float)


def _macd(close: pd.Series, fast: int, slow: int, sign: int) -> tuple[np.ndarray, ...]:
    ind = MACD(close, window_slow=slow, window_fast=fast, window_sign=sign, fillna=False)
    return (
        ind.macd().to_numpy(dtype=float),
        ind.macd_signal().to_numpy(dtype=float),
        ind.macd_diff().to_numpy(dtype=float),
    )


def rsi_series(bars: pd.DataFrame, period: int) -> np.ndarray:
    """The `rsi` column of `compute_signals` alone (NaN on placeholder bars): what a sweep
    over the RSI thresholds needs once per period."""
    _positive_int("rsi_period", period)
    real_pos = np.flatnonzero(~bars["no_trading"].to_numpy(dtype=bool))
    out = np.full(len(bars), np.nan)
    out[real_pos] = _rsi(bars.iloc[real_pos]["close"].astype(float), period)
    return out


def divergence_series(
    bars: pd.DataFrame,
    *,
    macd_fast: int,
    macd_slow: int,
    macd_signal: int,
    divergence_lookback: int,
    swing_k: int,
) -> np.ndarray:
    """The `divergence` column of `compute_signals` alone (False on placeholder bars), once
    per MACD and divergence setting."""
    _positive_int("divergence_lookback", divergence_lookback)
    _positive_int("swing_k", swing_k)
    real_pos = np.flatnonzero(~bars["no_trading"].to_numpy(dtype=bool))
    real = bars.iloc[real_pos]
    macd, signal, _ = _macd(real["close"].astype(float), macd_fast, macd_slow, macd_signal)
    div = find_divergences(
        real["low"].to_numpy(dtype=float), macd, signal,
        lookback=divergence_lookback, swing_k=swing_k,
    )  # fmt: skip
    out = np.zeros(len(bars), dtype=bool)
    out[real_pos] = div.fire
    return out


def compute_signals(
    bars: pd.DataFrame,
    *,
    rsi_period: int,
    rsi_oversold: float,
    rsi_overbought: float | None,
    macd_fast: int,
    macd_slow: int,
    macd_signal: int,
    divergence_lookback: int,
    swing_k: int,
) -> pd.DataFrame:
    """Indicators and signals for every bar of `bars` (same index); columns `SIGNAL_COLUMNS`.

    `bars` needs a sorted, unique DatetimeIndex and float `low`, `close` and bool
    `no_trading` columns. Indicators are computed on the real bars only.
    """
    _validate(bars, rsi_period, rsi_oversold, rsi_overbought, macd_fast, macd_slow, macd_signal)
    _positive_int("divergence_lookback", divergence_lookback)
    _positive_int("swing_k", swing_k)

    real_mask = ~bars["no_trading"].to_numpy(dtype=bool)
    real_pos = np.flatnonzero(real_mask)
    real = bars.iloc[real_pos]
    close = real["close"].astype(float)
    low = real["low"].to_numpy(dtype=float)

    rsi = _rsi(close, rsi_period)
    macd, signal, hist = _macd(close, macd_fast, macd_slow, macd_signal)

    swings = swing_low_mask(low, swing_k)
    known = np.zeros_like(swings)
    known[swing_k:] = swings[: swings.size - swing_k]
    div = find_divergences(low, macd, signal, lookback=divergence_lookback, swing_k=swing_k)

    n = len(bars)
    dates = real.index.to_numpy()
    on = np.flatnonzero(div.fire)
    i_pos, j_pos = div.first[on], div.second[on]

    def floats(values: np.ndarray) -> np.ndarray:
        out = np.full(n, np.nan)
        out[real_pos] = values
        return out

    def flags(values: np.ndarray) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        out[real_pos] = values
        return out

    def sparse(values: np.ndarray, fill: object) -> np.ndarray:
        out = np.full(n, fill, dtype=values.dtype)
        out[real_pos[on]] = values
        return out

    nat = np.datetime64("NaT")
    with np.errstate(invalid="ignore"):
        oversold = rsi < rsi_oversold
        overbought = np.zeros_like(oversold) if rsi_overbought is None else rsi > rsi_overbought
    columns: dict[str, np.ndarray] = {
        "rsi": floats(rsi),
        "rsi_oversold": flags(oversold),
        "rsi_overbought": flags(overbought),
        "macd": floats(macd),
        "macd_signal": floats(signal),
        "macd_hist": floats(hist),
        "swing_low_known": flags(known),
        "divergence": flags(div.fire),
        "div_low1_date": sparse(dates[i_pos], nat),
        "div_low1_price": sparse(low[i_pos], np.nan),
        "div_low1_macd": sparse(macd[i_pos], np.nan),
        "div_low2_date": sparse(dates[j_pos], nat),
        "div_low2_price": sparse(low[j_pos], np.nan),
        "div_low2_macd": sparse(macd[j_pos], np.nan),
    }
    return pd.DataFrame(columns, index=bars.index)


def combine_entry(
    rsi_oversold: pd.Series, divergence: pd.Series, require: Literal["any", "all"]
) -> pd.Series:
    """The entry signal: either signal (`any`) or both on the same bar (`all`)."""
    if not rsi_oversold.index.equals(divergence.index):
        raise ValueError("rsi_oversold and divergence must share one index")
    a = rsi_oversold.to_numpy(dtype=bool)
    b = divergence.to_numpy(dtype=bool)
    if require == "any":
        combined = a | b
    elif require == "all":
        combined = a & b
    else:
        raise ValueError(f"entry require must be 'any' or 'all', got {require!r}")
    return pd.Series(combined, index=rsi_oversold.index, name="entry_signal")


def _validate(
    bars: pd.DataFrame,
    rsi_period: int,
    rsi_oversold: float,
    rsi_overbought: float | None,
    macd_fast: int,
    macd_slow: int,
    macd_signal: int,
) -> None:
    """Raise ValueError on bars or parameters the signals cannot be computed from."""
    missing = [c for c in REQUIRED_BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise ValueError(f"bars lack column(s) {missing}; have {list(bars.columns)}")
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise ValueError(f"bars need a DatetimeIndex, got {type(bars.index).__name__}")
    if not bars.index.is_monotonic_increasing or not bars.index.is_unique:
        raise ValueError("bars index must be sorted ascending with unique dates")
    if not pd.api.types.is_bool_dtype(bars["no_trading"].dtype):
        raise ValueError(f"bars['no_trading'] must be bool, got {bars['no_trading'].dtype}")
    _positive_int("rsi_period", rsi_period)
    _check_level("rsi_oversold", rsi_oversold)
    if rsi_overbought is not None:
        _check_level("rsi_overbought", rsi_overbought)
    for name, value in (("macd_fast", macd_fast), ("macd_slow", macd_slow)):
        _positive_int(name, value)
    _positive_int("macd_signal", macd_signal)
    if macd_fast >= macd_slow:
        raise ValueError(f"macd_fast ({macd_fast}) must be below macd_slow ({macd_slow})")
