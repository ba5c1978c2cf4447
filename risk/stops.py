"""Protective stops (STRATEGY §5.1), one small pure function per `stop.method`.

- `lowest_low`: the lowest low of the last `lookback` sessions minus `buffer_ticks` (the report's);
- `atr`: the decision close minus k x ATR, minus the buffer;
- `lowest_low_atr`: the lowest low minus k x ATR, minus the buffer;
- `swing_low`: the last confirmed swing low (known k bars after it) minus the buffer;
- `fixed`: a price, optionally only between two dates (outside them: `lowest_low`).

A stop is a sell-stop, so it is rounded DOWN to a valid tick of the spread table in force
on the date the stop order rests in the market. A method whose figure is not known yet (ATR
before its warm-up, no swing low confirmed) falls back to `lowest_low` and says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from risk.ticks import TickRules, to_decimal


@dataclass(frozen=True)
class StopLevel:
    """A stop price and how it was found."""

    price: float
    basis: str
    lowest_low: float | None
    method: str = "lowest_low"
    numbers: tuple[tuple[str, float | None], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form for the decision log."""
        return {
            "price": self.price,
            "method": self.method,
            "basis": self.basis,
            "lowest_low": self.lowest_low,
            **dict(self.numbers),
        }


def _fmt(d: Decimal) -> str:
    """A HK$ price with at least cents: 15.00, 15.32, 0.495."""
    return f"{d:.2f}" if d == d.quantize(Decimal("0.01")) else f"{d:f}"


def protective_stop(
    lows: Sequence[float],
    lookback: int,
    buffer_ticks: int,
    fixed_price: float | None,
    on: date,
    ticks: TickRules,
) -> StopLevel:
    """The protective stop for a tranche opened after the last session of `lows`.

    `lows` are session lows up to and including the decision session, most recent last.
    The stop is min(last `lookback` lows), rounded down to a valid tick on `on`, then moved
    down `buffer_ticks` ticks; or, when `fixed_price` is given, that price rounded down.
    """
    if fixed_price is not None:
        fixed = to_decimal(fixed_price)
        stop = ticks.round_down_d(fixed, on)
        note = "" if stop == fixed else f" rounded down to {_fmt(stop)}"
        return StopLevel(float(stop), f"fixed stop {_fmt(fixed)}{note}", None)
    if lookback < 1:
        raise ValueError(f"lookback must be >= 1, got {lookback}")
    if buffer_ticks < 0:
        raise ValueError(f"buffer_ticks must be >= 0, got {buffer_ticks}")
    window = list(lows[-lookback:])
    if not window:
        raise ValueError("no session lows to set a stop from")
    if any(not math.isfinite(x) for x in window):
        raise ValueError(f"session lows must be finite numbers, got {window}")
    lowest = min(to_decimal(x) for x in window)
    on_grid = ticks.round_down_d(lowest, on)
    stop = ticks.shift_d(on_grid, on, -buffer_ticks)
    sessions = f"{lookback} sessions"
    if len(window) < lookback:
        sessions = f"{len(window)} sessions (only {len(window)} of {lookback} available)"
    tick_word = "tick" if buffer_ticks == 1 else "ticks"
    grid = ""
    if on_grid != lowest:
        table = ticks.effective_date(on)
        grid = f" (rounded down to {_fmt(on_grid)} on the {table} spread table)"
    basis = (
        f"lowest low of {sessions} {_fmt(lowest)}{grid} minus {buffer_ticks} {tick_word}"
        f" = {_fmt(stop)}"
    )
    return StopLevel(float(stop), basis, float(lowest))


@dataclass(frozen=True)
class StopRule:
    """The stop settings of a config (what `stop_level` needs besides the market data)."""

    method: str
    lookback: int
    buffer_ticks: int
    atr_multiple: float
    fixed_price: float | None
    fixed_from: date | None
    fixed_to: date | None


@dataclass(frozen=True)
class StopInputs:
    """The market figures of the decision session, all known at its close."""

    lows: Sequence[float]  # session lows up to and including the decision session
    close: float
    atr: float | None  # ATR at the decision close (None or NaN while warming up)
    swing_low: float | None  # the last swing low confirmed by the decision close


def _minus_buffer(
    level: Decimal, on: date, ticks: TickRules, buffer_ticks: int
) -> tuple[Decimal, Decimal]:
    on_grid = ticks.round_down_d(level, on)
    return on_grid, ticks.shift_d(on_grid, on, -buffer_ticks)


def _known(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def stop_level(rule: StopRule, inputs: StopInputs, on: date, ticks: TickRules) -> StopLevel:
    """The protective stop of `rule` for a tranche decided on the last session of `inputs`,
    resting from `on`."""
    method = rule.method
    fixed_in_force = (rule.fixed_from is None or on >= rule.fixed_from) and (
        rule.fixed_to is None or on <= rule.fixed_to
    )
    if method == "fixed" and rule.fixed_price is not None and fixed_in_force:
        level = protective_stop(inputs.lows, rule.lookback, 0, rule.fixed_price, on, ticks)
        return StopLevel(
            level.price, level.basis, None, "fixed", (("fixed_price", rule.fixed_price),)
        )
    lowest = protective_stop(inputs.lows, rule.lookback, rule.buffer_ticks, None, on, ticks)
    if method in ("lowest_low", "fixed"):
        note = "" if method == "lowest_low" else " (outside the fixed stop's dates)"
        return StopLevel(lowest.price, lowest.basis + note, lowest.lowest_low, "lowest_low")
    tick_word = "tick" if rule.buffer_ticks == 1 else "ticks"
    k = to_decimal(rule.atr_multiple)
    if method in ("atr", "lowest_low_atr"):
        if not _known(inputs.atr):
            return StopLevel(
                lowest.price,
                f"{lowest.basis} (ATR not known yet)",
                lowest.lowest_low,
                method,
                (("atr", None),),
            )
        atr = to_decimal(round(float(inputs.atr or 0.0), 6))
        if method == "atr":
            anchor, anchor_name = to_decimal(inputs.close), "close"
        else:
            anchor, anchor_name = to_decimal(lowest.lowest_low or 0.0), "lowest low"
        raw = anchor - k * atr
        if raw <= 0:
            return StopLevel(
                lowest.price,
                f"{lowest.basis} ({anchor_name} minus {_num(k)} x ATR is not a price)",
                lowest.lowest_low,
                method,
                (("atr", float(atr)),),
            )
        _, stop = _minus_buffer(raw, on, ticks, rule.buffer_ticks)
        basis = (
            f"{anchor_name} {_fmt(anchor)} minus {_num(k)} x ATR {float(atr):.4f} = "
            f"{float(raw):.4f}, rounded down, minus {rule.buffer_ticks} {tick_word} = {_fmt(stop)}"
        )
        numbers = (("anchor", float(anchor)), ("atr", float(atr)), ("atr_multiple", float(k)))
        return StopLevel(float(stop), basis, lowest.lowest_low, method, numbers)
    if method == "swing_low":
        if not _known(inputs.swing_low):
            return StopLevel(
                lowest.price,
                f"{lowest.basis} (no swing low confirmed yet)",
                lowest.lowest_low,
                method,
                (("swing_low", None),),
            )
        swing = to_decimal(float(inputs.swing_low or 0.0))
        _, stop = _minus_buffer(swing, on, ticks, rule.buffer_ticks)
        basis = (
            f"last confirmed swing low {_fmt(swing)} minus {rule.buffer_ticks} {tick_word}"
            f" = {_fmt(stop)}"
        )
        return StopLevel(
            float(stop), basis, lowest.lowest_low, method, (("swing_low", float(swing)),)
        )
    raise ValueError(f"unknown stop method {method!r}")


def reanchored_stop(
    open_price: float, planned_entry: float, planned_stop: float, on: date, ticks: TickRules
) -> float:
    """`entry.gap_rule: reanchor`: the stop moved below the open by the planned distance
    (planned entry estimate minus planned stop), rounded down to a valid tick; 0.0 when
    that is no price."""
    distance = to_decimal(planned_entry) - to_decimal(planned_stop)
    raw = to_decimal(open_price) - distance
    if raw <= 0:
        return 0.0
    return float(ticks.round_down_d(raw, on))


def _num(d: Decimal) -> str:
    return f"{d.normalize():f}"


def ratchet(current_stop: float | None, candidate: float) -> float:
    """A trailing stop: the higher of the current stop and the candidate (never lower)."""
    if current_stop is None:
        return candidate
    return max(current_stop, candidate)


__all__ = [
    "StopInputs",
    "StopLevel",
    "StopRule",
    "protective_stop",
    "ratchet",
    "reanchored_stop",
    "stop_level",
]
