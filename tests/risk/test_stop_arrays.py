"""The array twin of the stop rule (risk/stop_arrays.py) against `risk.stops.stop_level`:
every method, to the micro-HK$, over random bars and settings (the HKEX spread tables of
both sides of 2025-08-04, gaps in the lows, ATR and swing lows not known yet, fixed stops in
and out of their dates, levels that fall off the table)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import numpy as np
import pytest

from risk.stop_arrays import UNKNOWN, known_micro, micro, stop_level_series
from risk.stops import StopInputs, StopRule, stop_level
from risk.ticks import TickRules
from xmtrade.config import ConfigLayers
from xmtrade.kernel.precompute import tick_arrays

CASES = 400
SESSIONS = 90
METHODS = ("lowest_low", "atr", "lowest_low_atr", "swing_low", "fixed")


@pytest.fixture(scope="module")
def tables() -> tuple[TickRules, tuple[np.ndarray, ...], list[date]]:
    cfg = ConfigLayers().build()
    ordered = sorted(cfg.market.tick_tables, key=lambda t: t.effective)
    return TickRules(cfg.market.tick_tables), tick_arrays(ordered), [t.effective for t in ordered]


def _price(rng: random.Random, level: float) -> float:
    decimals = rng.choice([2, 3, 3, 4])
    return round(max(0.001, level * rng.uniform(0.6, 1.4)), decimals)


def _case(rng: random.Random) -> tuple[StopRule, list[float], list[float], list[float | None],
                                       list[float | None], list[date]]:  # fmt: skip
    level = rng.choice([0.02, 0.3, 4.0, 9.99, 15.0, 19.9, 35.0, 60.0, 150.0])
    lows = [_price(rng, level) for _ in range(SESSIONS)]
    for _ in range(rng.randint(0, 3)):
        lows[rng.randrange(SESSIONS)] = float("nan")
    closes = [_price(rng, level) for _ in range(SESSIONS)]
    warm = rng.randint(0, SESSIONS)
    atr: list[float | None] = [
        None if n < warm else rng.choice([float("nan"), 0.0, rng.uniform(0, level / 3)])
        if rng.random() < 0.1 else rng.uniform(0.0001, level / 2)
        for n in range(SESSIONS)
    ]  # fmt: skip
    swing: list[float | None] = [
        None if rng.random() < 0.2 else _price(rng, level) for _ in range(SESSIONS)
    ]
    first = date(2025, 6, 2) + timedelta(days=rng.randint(0, 90))
    days = [first + timedelta(days=n + n // 5 * 2) for n in range(SESSIONS)]
    fixed_from = rng.choice([None, rng.choice(days)])
    fixed_to = rng.choice([None, rng.choice(days)])
    rule = StopRule(
        method=rng.choice(METHODS),
        lookback=rng.randint(1, 70),
        buffer_ticks=rng.randint(0, 5),
        atr_multiple=round(rng.uniform(0.1, 6.0), rng.randint(0, 6)) or 0.5,
        fixed_price=rng.choice([None, _price(rng, level)]),
        fixed_from=fixed_from,
        fixed_to=fixed_to,
    )
    return rule, lows, closes, atr, swing, days


def _expected(rule: StopRule, lows: list[float], closes: list[float], atr: list[float | None],
              swing: list[float | None], days: list[date], ticks: TickRules,
              first: int) -> list[int]:  # fmt: skip
    out = []
    for i in range(first, SESSIONS - 1):
        inputs = StopInputs(
            lows=lows[max(0, i - rule.lookback + 1) : i + 1],
            close=closes[i],
            atr=atr[i],
            swing_low=swing[i],
        )
        try:
            price = stop_level(rule, inputs, days[i + 1], ticks).price
        except ValueError:
            out.append(UNKNOWN)
            continue
        out.append(round(price * 1_000_000))
    return out


def test_array_twin_equals_stop_level_on_every_method(
    tables: tuple[TickRules, tuple[np.ndarray, ...], list[date]],
) -> None:
    ticks, (lower, upper, tick, bands), effective = tables
    rng = random.Random(20251208)
    seen: dict[str, int] = {}
    for case in range(CASES):
        rule, lows, closes, atr, swing, days = _case(rng)
        first = rng.randint(0, 30)
        nexts = days[first + 1 :]
        table_next = np.array([sum(e <= d for e in effective) - 1 for d in nexts], dtype=np.int64)
        got = stop_level_series(
            rule, micro(lows), micro(closes),
            known_micro(atr) if rule.method in ("atr", "lowest_low_atr") else None,
            known_micro(swing) if rule.method == "swing_low" else None,
            first, table_next, np.array([d.toordinal() for d in nexts], dtype=np.int64),
            lower, upper, tick, bands,
        )  # fmt: skip
        want = _expected(rule, lows, closes, atr, swing, days, ticks, first)
        assert got.tolist() == want, f"case {case}: {rule}"
        seen[rule.method] = seen.get(rule.method, 0) + sum(1 for w in want if w != UNKNOWN)
    assert set(seen) == set(METHODS) and min(seen.values()) > 100, seen
