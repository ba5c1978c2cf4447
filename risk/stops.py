"""Protective stops (STRATEGY §5.1): lowest low minus a tick buffer, or a fixed price.

A stop is a sell-stop, so it is rounded DOWN to a valid tick of the spread table in force
on the date the stop order rests in the market.
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

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form for the decision log."""
        return {"price": self.price, "basis": self.basis, "lowest_low": self.lowest_low}


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


def ratchet(current_stop: float | None, candidate: float) -> float:
    """A trailing stop: the higher of the current stop and the candidate (never lower)."""
    if current_stop is None:
        return candidate
    return max(current_stop, candidate)


__all__ = ["StopLevel", "protective_stop", "ratchet"]
