"""Swing lows: the bar itself, when it becomes known, ties, edges and point in time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strategies.swings import swing_low_events, swing_low_mask, swing_lows, swing_lows_known


def _series(values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.bdate_range("2024-01-01", periods=len(values)), dtype=float)


def _brute_force(low: np.ndarray, k: int) -> np.ndarray:
    """The definition, literally: strictly below the k bars before, at or below the k after."""
    out = np.zeros(low.size, dtype=bool)
    for j in range(k, low.size - k):
        before = all(low[j] < low[m] for m in range(j - k, j))
        after = all(low[j] <= low[m] for m in range(j + 1, j + k + 1))
        out[j] = before and after
    return out


def test_v_shape_low_at_the_bottom_known_k_bars_later() -> None:
    low = _series([5, 4, 3, 2, 1, 2, 3, 4, 5])
    assert np.flatnonzero(swing_lows(low, 2)).tolist() == [4]
    assert np.flatnonzero(swing_lows_known(low, 2)).tolist() == [6]
    events = swing_low_events(low, 2)
    assert events.index.tolist() == [low.index[4]]
    assert events["known_date"].tolist() == [low.index[6]]
    assert events["low"].tolist() == [1.0]


def test_flat_tie_takes_the_first_bar() -> None:
    low = _series([5, 4, 3, 1, 1, 1, 3, 4, 5])
    assert np.flatnonzero(swing_lows(low, 2)).tolist() == [3]
    assert np.flatnonzero(swing_lows_known(low, 2)).tolist() == [5]


def test_equal_low_before_is_not_a_swing_low() -> None:
    # bar 4 equals bar 2 (inside its k=2 window before): not strictly lower, so no swing low;
    # bar 2 has an equal low after it (allowed) and higher bars before: it is the swing low.
    low = _series([5, 4, 1, 3, 1, 4, 5])
    assert np.flatnonzero(swing_lows(low, 2)).tolist() == [2]


def test_low_near_the_end_is_not_a_swing_low_until_k_bars_follow() -> None:
    falling = [5.0, 4, 3, 2, 1, 2]
    assert not swing_lows(_series(falling), 2).any()
    assert not swing_lows_known(_series(falling), 2).any()
    extended = _series([*falling, 3])
    assert np.flatnonzero(swing_lows(extended, 2)).tolist() == [4]
    assert np.flatnonzero(swing_lows_known(extended, 2)).tolist() == [6]


def test_low_near_the_start_needs_k_bars_before() -> None:
    assert not swing_lows(_series([1, 2, 3, 4, 5, 6]), 2).any()
    assert np.flatnonzero(swing_lows(_series([2, 1, 3, 4, 5]), 1)).tolist() == [1]


def test_nan_low_or_neighbour_is_never_a_swing_low() -> None:
    assert not swing_lows(_series([5, 4, np.nan, 2, 1, 2, 3, 4]), 2).any()
    assert not swing_lows(_series([5, 4, 3, np.nan, 4, 5]), 2).any()


def test_short_series_has_no_swing_low() -> None:
    assert not swing_lows(_series([3, 1, 3]), 2).any()
    assert swing_low_mask(np.array([]), 3).size == 0


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bad_k_is_rejected(k: object) -> None:
    with pytest.raises(ValueError, match="swing k"):
        swing_lows(_series([3, 1, 3]), k)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 2, 5])
def test_matches_the_definition_on_random_rounded_series(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    # rounded to few values so that ties are common
    low = np.round(rng.normal(0, 1, 400).cumsum())
    expected = _brute_force(low, k)
    assert expected.sum() > 5
    np.testing.assert_array_equal(swing_low_mask(low, k), expected)
    known = swing_lows_known(_series(list(low)), k).to_numpy()
    np.testing.assert_array_equal(known[k:], expected[:-k])
    assert not known[:k].any()


def test_known_flags_never_change_when_bars_are_added() -> None:
    rng = np.random.default_rng(7)
    low = _series(list(np.round(rng.normal(0, 1, 300).cumsum())))
    full = swing_lows_known(low, 3)
    for t in range(1, len(low)):
        pd.testing.assert_series_equal(swing_lows_known(low.iloc[:t], 3), full.iloc[:t])
