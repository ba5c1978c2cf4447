"""RSI, MACD and the MACD bullish divergence: hand-built series with known answers, a
bar-by-bar reference implementation, and point-in-time checks on the shared 1810.HK prices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from strategies.signals import SIGNAL_COLUMNS, combine_entry, compute_signals, find_divergences

REPO = Path(__file__).resolve().parents[2]
DETAIL_COLUMNS = [c for c in SIGNAL_COLUMNS if c.startswith("div_low")]

# Small, fast indicators for the hand-built divergence series (the function takes any values).
SMALL: dict[str, Any] = {
    "rsi_period": 14,
    "rsi_oversold": 30.0,
    "rsi_overbought": 70.0,
    "macd_fast": 3,
    "macd_slow": 6,
    "macd_signal": 3,
    "divergence_lookback": 20,
    "swing_k": 2,
}


def default_params() -> dict[str, Any]:
    """compute_signals keywords from configs/default.yaml (the lead passes cfg.signals.*)."""
    cfg = yaml.safe_load((REPO / "configs" / "default.yaml").read_text())
    sig = cfg["signals"]
    return {
        "rsi_period": sig["rsi"]["period"],
        "rsi_oversold": sig["rsi"]["oversold"],
        "rsi_overbought": cfg["exits"]["rsi_overbought"],
        "macd_fast": sig["macd"]["fast"],
        "macd_slow": sig["macd"]["slow"],
        "macd_signal": sig["macd"]["signal"],
        "divergence_lookback": sig["divergence"]["lookback"],
        "swing_k": sig["divergence"]["swing_k"],
    }


def make_bars(
    closes: list[float], low_overrides: dict[int, float] | None = None, start: str = "2024-01-01"
) -> pd.DataFrame:
    """Bars on business days: open = close, high = close + 0.5, low = close - 0.5."""
    close = np.asarray(closes, dtype=float)
    low = close - 0.5
    for pos, value in (low_overrides or {}).items():
        low[pos] = value
    return pd.DataFrame(
        {
            "open": close,
            "high": close + 0.5,
            "low": low,
            "close": close,
            "volume": 1000.0,
            "no_trading": False,
        },
        index=pd.bdate_range(start, periods=close.size),
    )


def shared_frame(shared_bars: pd.DataFrame) -> pd.DataFrame:
    bars = shared_bars.astype({c: float for c in ("open", "high", "low", "close", "volume")})
    bars["no_trading"] = (
        (bars["volume"] == 0)
        & (bars["open"] == bars["high"])
        & (bars["high"] == bars["low"])
        & (bars["low"] == bars["close"])
    )
    return bars


def fired(signals: pd.DataFrame) -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in signals.index[signals["divergence"]]]


# ---------------------------------------------------------------- independent indicator loops


def ta_style_wilder_rsi(close: np.ndarray, period: int) -> np.ndarray:
    """Wilder RSI as `ta` computes it: the first change counts as 0, averages start at bar 0,
    RSI defined from bar period - 1; 100 when the average loss is 0."""
    alpha = 1.0 / period
    out = np.full(close.size, np.nan)
    avg_up = avg_down = 0.0
    for t in range(close.size):
        change = close[t] - close[t - 1] if t else 0.0
        up, down = max(change, 0.0), max(-change, 0.0)
        if t == 0:
            avg_up, avg_down = up, down
        else:
            avg_up = (1 - alpha) * avg_up + alpha * up
            avg_down = (1 - alpha) * avg_down + alpha * down
        if t >= period - 1:
            out[t] = 100.0 if avg_down == 0 else 100.0 - 100.0 / (1.0 + avg_up / avg_down)
    return out


def textbook_wilder_rsi(close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's original: the first averages are simple means of the first `period` changes."""
    change = np.diff(close)
    out = np.full(close.size, np.nan)
    avg_up = np.clip(change[:period], 0, None).mean()
    avg_down = np.clip(-change[:period], 0, None).mean()
    for t in range(period, close.size):
        if t > period:
            c = change[t - 1]
            avg_up = (avg_up * (period - 1) + max(c, 0.0)) / period
            avg_down = (avg_down * (period - 1) + max(-c, 0.0)) / period
        out[t] = 100.0 if avg_down == 0 else 100.0 - 100.0 / (1.0 + avg_up / avg_down)
    return out


def ema_first_value_seed(values: np.ndarray, span: int) -> np.ndarray:
    """EMA seeded with the first non-NaN value, NaN for the first span - 1 values."""
    alpha = 2.0 / (span + 1)
    out = np.full(values.size, np.nan)
    first = int(np.flatnonzero(~np.isnan(values))[0])
    ema = values[first]
    for t in range(first, values.size):
        ema = ema if t == first else alpha * values[t] + (1 - alpha) * ema
        if t - first >= span - 1:
            out[t] = ema
    return out


def reference_divergences(
    low: np.ndarray, macd: np.ndarray, signal: np.ndarray, lookback: int, k: int
) -> tuple[dict[int, tuple[int, int]], int]:
    """The rule, bar by bar as a trader would follow it: {confirmation bar: (S1 bar, S2 bar)}
    and how many times two armed divergences confirmed on the same bar."""
    diff = macd - signal
    known: list[int] = []
    armed: list[tuple[int, int]] = []
    out: dict[int, tuple[int, int]] = {}
    same_bar = 0
    for t in range(low.size):
        j = t - k  # a swing low at j becomes known now?
        if (
            j >= k
            and all(low[j] < low[m] for m in range(j - k, j))
            and all(low[j] <= low[m] for m in range(j + 1, t + 1))
        ):
            if known and 0 < j - known[-1] <= lookback:
                i = known[-1]
                if low[j] < low[i] and macd[j] > macd[i]:
                    armed.append((i, j))
            known.append(j)
        for i, j in list(armed):
            if low[t] < low[j] or t - j > lookback:
                armed.remove((i, j))
                continue
            crossed = any(diff[c - 1] <= 0 and diff[c] > 0 for c in range(j + 1, t + 1))
            if diff[t] > 0 and crossed:
                same_bar += t in out
                out[t] = (i, j)  # two on one bar: the later S2 (armed later) is reported
                armed.remove((i, j))
    return out, same_bar


# ---------------------------------------------------------------- RSI

RSI_CLOSES = [
    50.0, 51, 52, 51.5, 53, 54, 53, 52, 50, 49, 47, 48, 46, 45, 43, 44, 42, 41, 40,
    41.5, 43, 45, 44, 46, 48, 47, 49, 51, 52, 50, 48, 45, 42, 40, 38, 39, 37, 36, 38, 41,
]  # fmt: skip


def test_rsi_by_hand_on_five_bars() -> None:
    # period 3, alpha 1/3; changes 0 (first bar), +1, -0.5, +1.5, -1
    # avg up:   0, 1/3, 2/9, 35/54, 35/81     avg down: 0, 0, 1/6, 1/9, 11/27
    # RSI from bar 2: 100 - 100 / (1 + up/down) = 400/7, 3500/41, 875/17
    signals = compute_signals(make_bars([10.0, 11, 10.5, 12, 11]), **{**SMALL, "rsi_period": 3})
    assert signals["rsi"].iloc[:2].isna().all()
    np.testing.assert_allclose(
        signals["rsi"].iloc[2:].to_numpy(), [400 / 7, 3500 / 41, 875 / 17], rtol=0, atol=1e-12
    )


def test_rsi_matches_a_hand_computed_wilder_rsi_loop() -> None:
    period = 5
    signals = compute_signals(make_bars(RSI_CLOSES), **{**SMALL, "rsi_period": period})
    expected = ta_style_wilder_rsi(np.asarray(RSI_CLOSES), period)
    assert signals["rsi"].iloc[: period - 1].isna().all()
    np.testing.assert_allclose(signals["rsi"].to_numpy(), expected, rtol=0, atol=1e-9)


def test_rsi_oversold_and_overbought_flags_exactly_where_expected() -> None:
    period = 5
    signals = compute_signals(
        make_bars(RSI_CLOSES),
        **{**SMALL, "rsi_period": period, "rsi_oversold": 30.0, "rsi_overbought": 70.0},
    )
    expected = ta_style_wilder_rsi(np.asarray(RSI_CLOSES), period)
    with np.errstate(invalid="ignore"):
        want_low = np.flatnonzero(expected < 30).tolist()
        want_high = np.flatnonzero(expected > 70).tolist()
    # the two falls (bars 6-18, 29-37) are oversold except where a bounce lifts RSI to 30.7
    # (bar 8) or 30.8 (bar 11); the early rise (bars 4-5) and the rally (24-28) overbought
    assert want_low == [9, 10, 12, 13, 14, 15, 16, 17, 18, 32, 33, 34, 35, 36, 37]
    assert want_high == [4, 5, 24, 26, 27, 28]
    assert np.flatnonzero(signals["rsi_oversold"]).tolist() == want_low
    assert np.flatnonzero(signals["rsi_overbought"]).tolist() == want_high


def test_thresholds_are_strict() -> None:
    bars = make_bars(RSI_CLOSES)
    rsi = compute_signals(bars, **{**SMALL, "rsi_period": 5})["rsi"]
    level = float(rsi.iloc[9])  # 24.77...: bar 9 sits exactly on the threshold
    signals = compute_signals(
        bars, **{**SMALL, "rsi_period": 5, "rsi_oversold": level, "rsi_overbought": level}
    )
    assert not signals["rsi_oversold"].iloc[9] and not signals["rsi_overbought"].iloc[9]
    assert signals["rsi_oversold"].tolist() == (rsi < level).tolist()
    assert signals["rsi_overbought"].tolist() == (rsi > level).tolist()


def test_monotone_moves_give_rsi_0_and_100() -> None:
    falling = compute_signals(make_bars([100.0 - t for t in range(30)]), **SMALL)
    rising = compute_signals(make_bars([100.0 + t for t in range(30)]), **SMALL)
    period = SMALL["rsi_period"]
    assert (falling["rsi"].iloc[period - 1 :] == 0).all()
    assert falling["rsi_oversold"].tolist() == [False] * (period - 1) + [True] * (31 - period)
    assert (rising["rsi"].iloc[period - 1 :] == 100).all()
    assert not rising["rsi_oversold"].any()
    assert rising["rsi_overbought"].iloc[period - 1 :].all()


def test_overbought_none_is_never_flagged() -> None:
    rising = compute_signals(
        make_bars([100.0 + t for t in range(30)]), **{**SMALL, "rsi_overbought": None}
    )
    assert rising["rsi"].iloc[-1] == 100
    assert not rising["rsi_overbought"].any()


def test_ta_rsi_seeding_converges_to_textbook_wilder(shared_bars: pd.DataFrame) -> None:
    """`ta` seeds its averages from bar 0, Wilder with an SMA: early values differ, later agree."""
    bars = shared_frame(shared_bars)
    real = bars[~bars["no_trading"]]
    signals = compute_signals(real, **default_params())
    period = default_params()["rsi_period"]
    textbook = textbook_wilder_rsi(real["close"].to_numpy(), period)
    ours = signals["rsi"].to_numpy()
    assert np.isnan(ours[: period - 1]).all() and not np.isnan(ours[period - 1])
    assert abs(ours[period] - textbook[period]) > 1.0  # differ at the start ...
    np.testing.assert_allclose(ours[150:], textbook[150:], atol=1e-3)  # ... not after ~150 bars


# ---------------------------------------------------------------- MACD


def test_macd_matches_first_value_seeded_emas(shared_bars: pd.DataFrame) -> None:
    params = default_params()
    bars = shared_frame(shared_bars)
    real = bars[~bars["no_trading"]]
    signals = compute_signals(real, **params)
    close = real["close"].to_numpy()
    fast = ema_first_value_seed(close, params["macd_fast"])
    slow = ema_first_value_seed(close, params["macd_slow"])
    macd = fast - slow
    signal = ema_first_value_seed(macd, params["macd_signal"])
    np.testing.assert_allclose(signals["macd"].to_numpy(), macd, rtol=0, atol=1e-10)
    np.testing.assert_allclose(signals["macd_signal"].to_numpy(), signal, rtol=0, atol=1e-10)
    np.testing.assert_allclose(signals["macd_hist"].to_numpy(), macd - signal, atol=1e-10)
    first_signal = params["macd_slow"] + params["macd_signal"] - 2
    assert signals["macd_signal"].iloc[:first_signal].isna().all()
    assert not np.isnan(signals["macd_signal"].iloc[first_signal])


# ---------------------------------------------------------------- divergence: hand-built

# 20 flat bars, a fast fall to S1 (bar 24, 2024-02-02, low 79.5), a bounce, a slow decline to
# bar 36 (2024-02-20) whose low wick (78) is S2: a lower low with a much higher MACD low
# (the decline is slower). Then: up (MACD crosses above signal at bar 37), down (below at
# bar 38, the bar S2 becomes known with k = 2), up again (crosses at bar 39), rally.
BASE = [100.0] * 20 + [96, 92, 88, 84, 80] + [84, 88, 90, 90, 89] + [88, 87, 86, 85, 84, 83]
CASE_A = [*BASE, 82, 83, 80, 83, 86, 89, 92, 95, 98, 100, 100, 100]
S2_WICK = {36: 78.0}
# Like CASE_A but straight up after S2: MACD crosses at bar 37 and is still above at 38.
CASE_C = [*BASE, 82, 84, 86, 89, 92, 95, 98, 100, 100]


def test_divergence_confirms_on_the_recross_after_the_low_is_known() -> None:
    signals = compute_signals(make_bars(CASE_A, S2_WICK), **SMALL)
    hist = signals["macd_hist"]
    # the facts the confirmation rests on
    assert hist.iloc[36] <= 0 and hist.iloc[37] > 0 and hist.iloc[38] <= 0 and hist.iloc[39] > 0
    assert signals["swing_low_known"].iloc[38] and signals["swing_low_known"].iloc[26]
    # known at 38 but MACD is below its signal there; the cross at 39 confirms
    assert fired(signals) == ["2024-02-23"]
    row = signals.loc["2024-02-23"]
    assert row["div_low1_date"] == pd.Timestamp("2024-02-02")
    assert row["div_low1_price"] == 79.5
    assert row["div_low2_date"] == pd.Timestamp("2024-02-20")
    assert row["div_low2_price"] == 78.0
    assert row["div_low1_macd"] == signals["macd"].iloc[24]
    assert row["div_low2_macd"] == signals["macd"].iloc[36]
    assert row["div_low2_macd"] > row["div_low1_macd"]
    others = signals.drop(index=pd.Timestamp("2024-02-23"))
    assert others[DETAIL_COLUMNS].isna().all().all()


def test_cross_before_the_low_is_known_confirms_on_the_known_bar() -> None:
    signals = compute_signals(make_bars(CASE_C, S2_WICK), **SMALL)
    hist = signals["macd_hist"]
    assert hist.iloc[36] <= 0 and hist.iloc[37] > 0 and hist.iloc[38] > 0  # crossed at j+1
    assert fired(signals) == ["2024-02-22"]  # bar 38 = j + k
    assert signals.loc["2024-02-22", "div_low2_date"] == pd.Timestamp("2024-02-20")


def test_cross_on_the_low_bar_itself_does_not_count() -> None:
    # bar 36 closes up (84.5) with the same wick: MACD is above its signal from bar 36 on and
    # never crosses again in the window, so nothing confirms.
    closes = [*BASE, 84.5, 87, 90, 93, 96, 100, 100, 100]
    signals = compute_signals(make_bars(closes, S2_WICK), **SMALL)
    hist = signals["macd_hist"]
    assert hist.iloc[35] <= 0 and (hist.iloc[36:42] > 0).all()
    assert signals["swing_low_known"].iloc[38]
    assert fired(signals) == []


@pytest.mark.parametrize(("s2_low", "expected"), [(79.4, ["2024-02-22"]), (79.5, []), (81.0, [])])
def test_second_low_must_be_strictly_lower_in_price(s2_low: float, expected: list[str]) -> None:
    # S1's low is 79.5; bar 36 stays a swing low (known at 38) at each of these prices
    signals = compute_signals(make_bars(CASE_C, {36: s2_low}), **SMALL)
    assert np.flatnonzero(signals["swing_low_known"]).tolist() == [26, 38]
    assert fired(signals) == expected


def test_lower_macd_at_the_second_low_does_not_fire() -> None:
    # the second fall (89 -> 64 in five bars) is steeper: lower low in price AND in MACD
    closes = [*BASE[:30], 84, 78, 72, 66, 64, 68, 74, 80, 86, 92, 96, 100, 100]
    signals = compute_signals(make_bars(closes), **SMALL)
    assert np.flatnonzero(signals["swing_low_known"]).tolist() == [26, 36]
    low = make_bars(closes)["low"]
    assert low.iloc[34] < low.iloc[24]
    assert signals["macd"].iloc[34] < signals["macd"].iloc[24]
    assert fired(signals) == []


@pytest.mark.parametrize(("lookback", "expected"), [(11, []), (12, ["2024-02-23"])])
def test_lows_farther_apart_than_lookback_do_not_pair(lookback: int, expected: list[str]) -> None:
    # S1 at bar 24, S2 at bar 36: 12 bars apart
    signals = compute_signals(
        make_bars(CASE_A, S2_WICK), **{**SMALL, "divergence_lookback": lookback}
    )
    assert fired(signals) == expected


# After S2 (wick 45 at bar 36): up, then an accelerating fall (lows stay above 45) keeps MACD
# below its signal until the rally; the cross is at bar 51, 15 bars after S2.
FALL = [80.0, 79, 77.7, 76.1, 74.2, 72, 69.5, 66.7, 63.6, 60.2, 56.5, 52.5, 48.2]
CASE_LATE = [*BASE, 82, 83, *FALL, 52.2, 57.2, 63.2, 69.2, 75.2, 100, 100]


@pytest.mark.parametrize(("lookback", "expected"), [(14, []), (15, ["2024-03-12"])])
def test_confirmation_later_than_lookback_is_cancelled(lookback: int, expected: list[str]) -> None:
    signals = compute_signals(
        make_bars(CASE_LATE, {36: 45.0}), **{**SMALL, "divergence_lookback": lookback}
    )
    assert (signals["macd_hist"].iloc[38:51] <= 0).all() and signals["macd_hist"].iloc[51] > 0
    assert fired(signals) == expected


# Like CASE_A but one more bar below the signal: the cross (and confirmation) is at bar 40.
CASE_G = [*BASE, 82, 83, 80, 79, 83, 86, 89, 92, 95, 98, 100]


def test_new_lower_low_before_confirmation_cancels() -> None:
    assert fired(compute_signals(make_bars(CASE_G, S2_WICK), **SMALL)) == ["2024-02-26"]
    # bar 39's low (77.5) undercuts S2 (78): cancelled. Bar 39 then becomes a swing low itself
    # (known at 41) but its MACD is lower than at bar 36, so nothing else arms.
    signals = compute_signals(make_bars(CASE_G, {36: 78.0, 39: 77.5}), **SMALL)
    assert signals["swing_low_known"].iloc[41]
    assert signals["macd"].iloc[39] < signals["macd"].iloc[36]
    assert fired(signals) == []


def test_new_lower_low_on_the_confirmation_bar_cancels() -> None:
    # the would-be confirmation bar 39 of CASE_A trades below S2 intraday: no signal that day,
    # and since MACD is already above its signal afterwards there is no later cross
    signals = compute_signals(make_bars(CASE_A, {36: 78.0, 39: 77.9}), **SMALL)
    assert signals["macd_hist"].iloc[39] > 0
    assert fired(signals) == []
    # an equal low does not cancel
    assert fired(compute_signals(make_bars(CASE_A, {36: 78.0, 39: 78.0}), **SMALL)) == [
        "2024-02-23"
    ]


def test_fires_at_most_once_per_divergence() -> None:
    # after confirming, MACD dips and re-crosses while S2 is still unbroken: no second signal
    closes = [*BASE, 82, 83, 80, 83, 86, 80, 79, 84, 88, 92, 96, 100, 100]
    signals = compute_signals(make_bars(closes, S2_WICK), **SMALL)
    hist = signals["macd_hist"]
    recross = [t for t in range(40, len(closes)) if hist.iloc[t - 1] <= 0 < hist.iloc[t]]
    assert recross, "the series must re-cross for this test to mean anything"
    assert fired(signals) == ["2024-02-23"]


# ---------------------------------------------------------------- placeholder bars


def with_placeholder(bars: pd.DataFrame, date: str, low: float | None = None) -> pd.DataFrame:
    """Insert a no-trading bar (o = h = l = c = previous close, volume 0) at `date`."""
    previous = bars.loc[: pd.Timestamp(date)].iloc[-1]["close"]
    price = previous if low is None else low
    row = pd.DataFrame(
        {
            "open": price,
            "high": price,
            "low": price,
            "close": price,
            "volume": 0.0,
            "no_trading": True,
        },
        index=pd.DatetimeIndex([pd.Timestamp(date)]),
    )
    return pd.concat([bars, row]).sort_index()


def test_inserted_placeholder_bar_changes_nothing_on_real_bars() -> None:
    # lookback 12 is exactly the distance S1 (bar 24) -> S2 (bar 36) in real bars
    params = {**SMALL, "divergence_lookback": 12}
    bars = make_bars(CASE_A, S2_WICK)
    plain = compute_signals(bars, **params)
    assert fired(plain) == ["2024-02-23"]
    # a placeholder (on Saturday 2024-02-17, between S1 and S2) with an absurd low that would
    # otherwise be the swing low; it also does not count as a session for the lookback
    signals = compute_signals(with_placeholder(bars, "2024-02-17", low=1.0), **params)
    assert len(signals) == len(bars) + 1
    placeholder = signals.loc[pd.Timestamp("2024-02-17")]
    assert placeholder[["rsi", "macd", "macd_signal", "macd_hist"]].isna().all()
    assert not placeholder[["rsi_oversold", "rsi_overbought", "swing_low_known"]].any()
    assert not placeholder["divergence"]
    assert placeholder[DETAIL_COLUMNS].isna().all()
    real = signals.drop(index=pd.Timestamp("2024-02-17"))
    pd.testing.assert_frame_equal(real, plain, check_exact=True, check_freq=False)


def to_placeholder(bars: pd.DataFrame, pos: int, price: float | None = None) -> pd.DataFrame:
    """Turn bar `pos` into a no-trading bar: o = h = l = c (default the previous close)."""
    out = bars.copy()
    value = float(bars["close"].iloc[pos - 1]) if price is None else price
    for col in ("open", "high", "low", "close"):
        out[col] = np.where(np.arange(len(out)) == pos, value, out[col].to_numpy())
    out["volume"] = np.where(np.arange(len(out)) == pos, 0.0, out["volume"].to_numpy())
    out["no_trading"] = np.arange(len(out)) == pos
    return out


def test_confirmation_on_a_placeholder_moves_to_the_next_real_bar() -> None:
    bars = to_placeholder(make_bars(CASE_A, S2_WICK), 39)  # 2024-02-23, the confirmation bar
    signals = compute_signals(bars, **SMALL)
    assert not signals.loc["2024-02-23", "divergence"]
    assert fired(signals) == ["2024-02-26"]
    assert signals.loc["2024-02-26", "div_low2_date"] == pd.Timestamp("2024-02-20")
    macd = signals["macd"].to_numpy()
    assert np.isnan(macd[39]) and not np.isnan(macd[38]) and not np.isnan(macd[40])


def test_placeholder_low_never_makes_or_breaks_a_swing_low() -> None:
    bars = to_placeholder(make_bars([10.0, 9, 8, 7, 8, 9, 10, 11]), 5, price=1.0)
    signals = compute_signals(bars, **SMALL)
    # real closes: 10 9 8 7 8 10 11 -> the swing low at 7 (bar 3) is known two real bars later,
    # which is bar 6 of the full index; the placeholder's low of 1 neither breaks it nor is one
    assert np.flatnonzero(signals["swing_low_known"]).tolist() == [6]


# ---------------------------------------------------------------- reference implementation


def _random_bars(seed: int, n: int = 900) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    bars = make_bars(list(np.round(close, 2)))
    bars["low"] = np.round(close * (1 - rng.uniform(0, 0.02, n)), 2)
    no_trading = np.zeros(n, dtype=bool)
    no_trading[rng.choice(n, size=n // 50, replace=False)] = True
    bars["no_trading"] = no_trading
    return bars


def _check_against_reference(bars: pd.DataFrame, params: dict[str, Any]) -> tuple[int, int]:
    """Compare with the reference; return (confirmations, bars where two confirmed at once)."""
    signals = compute_signals(bars, **params)
    real = ~bars["no_trading"].to_numpy()
    rs = signals[real]
    low = bars["low"].to_numpy()[real]
    expected, same_bar = reference_divergences(
        low,
        rs["macd"].to_numpy(),
        rs["macd_signal"].to_numpy(),
        params["divergence_lookback"],
        params["swing_k"],
    )
    assert np.flatnonzero(rs["divergence"]).tolist() == sorted(expected)
    dates = rs.index
    for t, (i, j) in expected.items():
        row = rs.iloc[t]
        assert row["div_low1_date"] == dates[i] and row["div_low2_date"] == dates[j]
        assert row["div_low1_price"] == low[i] and row["div_low2_price"] == low[j]
        assert row["div_low1_macd"] == rs["macd"].iloc[i]
        assert row["div_low2_macd"] == rs["macd"].iloc[j]
    assert not signals["divergence"].to_numpy()[~real].any()
    return len(expected), same_bar


def test_matches_bar_by_bar_reference_on_random_walks() -> None:
    total = same_bar = 0
    for seed in range(12):
        bars = _random_bars(seed)
        for params in (
            SMALL,
            {**SMALL, "swing_k": 3, "divergence_lookback": 40},
            default_params(),
        ):
            n, both = _check_against_reference(bars, params)
            total, same_bar = total + n, same_bar + both
    assert total > 50  # the comparison exercised many confirmations ...
    assert same_bar > 0  # ... including two armed divergences confirming on one bar


def test_matches_bar_by_bar_reference_on_shared_prices(shared_bars: pd.DataFrame) -> None:
    bars = shared_frame(shared_bars)
    assert _check_against_reference(bars, default_params())[0] > 0
    assert _check_against_reference(bars, {**default_params(), "swing_k": 3})[0] > 0


# ---------------------------------------------------------------- point in time


def test_no_value_depends_on_later_bars(shared_bars: pd.DataFrame) -> None:
    bars = shared_frame(shared_bars)
    params = default_params()
    full = compute_signals(bars, **params)
    k = params["swing_k"]
    events = np.flatnonzero(full["divergence"] | full["swing_low_known"])
    near_events = {t + d for t in events for d in range(-k - 1, 2)}
    cuts = sorted({*range(30, len(bars), 97), *near_events} & set(range(1, len(bars))))
    assert len(cuts) > 100
    for t in cuts:
        partial = compute_signals(bars.iloc[:t], **params)
        pd.testing.assert_frame_equal(partial, full.iloc[:t], check_exact=True)


@pytest.mark.parametrize("cut", ["2019-08-01", "2022-05-05", "2024-01-15", "2026-02-11"])
def test_changing_every_later_bar_changes_nothing_before(
    shared_bars: pd.DataFrame, cut: str
) -> None:
    bars = shared_frame(shared_bars)
    params = default_params()
    before = compute_signals(bars, **params)
    later = bars.index > pd.Timestamp(cut)
    rng = np.random.default_rng(0)
    changed = bars.copy()
    factor = rng.uniform(0.5, 1.5, later.sum())
    for col in ("open", "high", "low", "close"):
        changed.loc[later, col] = changed.loc[later, col] * factor
    changed.loc[later, "no_trading"] = rng.random(later.sum()) < 0.1
    after = compute_signals(changed, **params)
    assert not after.loc[later, "rsi"].equals(before.loc[later, "rsi"])  # the change bites
    pd.testing.assert_frame_equal(after.loc[~later], before.loc[~later], check_exact=True)


# ---------------------------------------------------------------- shared data, API, validation


def test_shared_data_counts(shared_bars: pd.DataFrame) -> None:
    bars = shared_frame(shared_bars)
    signals = compute_signals(bars, **default_params())
    assert list(signals.columns) == list(SIGNAL_COLUMNS)
    assert signals.index.equals(bars.index)
    assert not signals.loc[bars["no_trading"], ["rsi_oversold", "divergence"]].any().any()
    assert signals.loc[bars["no_trading"], "rsi"].isna().all()
    assert signals["divergence"].sum() > 0 and signals["rsi_oversold"].sum() > 0
    on = signals[signals["divergence"]]
    assert (on["div_low2_price"] < on["div_low1_price"]).all()
    assert (on["div_low2_macd"] > on["div_low1_macd"]).all()
    assert (on["macd"] > on["macd_signal"]).all()
    assert (on.index > on["div_low2_date"]).all() and (
        on["div_low1_date"] < on["div_low2_date"]
    ).all()


def test_output_dtypes() -> None:
    signals = compute_signals(make_bars(CASE_A, S2_WICK), **SMALL)
    for col in ("rsi_oversold", "rsi_overbought", "swing_low_known", "divergence"):
        assert signals[col].dtype == bool
    for col in ("div_low1_date", "div_low2_date"):
        assert pd.api.types.is_datetime64_dtype(signals[col])


@pytest.mark.parametrize(
    ("require", "expected"),
    [("any", [True, True, True, False]), ("all", [True, False, False, False])],
)
def test_combine_entry(require: Any, expected: list[bool]) -> None:
    index = pd.bdate_range("2024-01-01", periods=4)
    oversold = pd.Series([True, True, False, False], index=index)
    divergence = pd.Series([True, False, True, False], index=index)
    combined = combine_entry(oversold, divergence, require)
    assert combined.tolist() == expected
    assert combined.index.equals(index) and combined.dtype == bool


def test_combine_entry_rejects_bad_input() -> None:
    index = pd.bdate_range("2024-01-01", periods=2)
    s = pd.Series([True, False], index=index)
    with pytest.raises(ValueError, match="'any' or 'all'"):
        combine_entry(s, s, "either")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="share one index"):
        combine_entry(s, s.iloc[::-1], "any")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"macd_fast": 26}, "macd_fast"),
        ({"rsi_period": 0}, "rsi_period"),
        ({"rsi_oversold": 0}, "rsi_oversold"),
        ({"rsi_overbought": 100}, "rsi_overbought"),
        ({"swing_k": 0}, "swing_k"),
        ({"divergence_lookback": 0}, "divergence_lookback"),
    ],
)
def test_bad_parameters_are_rejected(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_signals(make_bars(CASE_A), **{**default_params(), **change})


def test_find_divergences_rejects_unequal_inputs() -> None:
    with pytest.raises(ValueError, match="equally long"):
        find_divergences(np.ones(10), np.ones(10), np.ones(9), lookback=5, swing_k=2)


def test_bad_bars_are_rejected() -> None:
    bars = make_bars(CASE_A)
    with pytest.raises(ValueError, match="no_trading"):
        compute_signals(bars.drop(columns="no_trading"), **SMALL)
    with pytest.raises(ValueError, match="sorted"):
        compute_signals(bars.iloc[::-1], **SMALL)
    with pytest.raises(ValueError, match="DatetimeIndex"):
        compute_signals(bars.reset_index(drop=True), **SMALL)
    with pytest.raises(ValueError, match="bool"):
        compute_signals(bars.assign(no_trading=0), **SMALL)
