"""The execution rules of the three-horizon plan as small pure functions.

Each takes plain numbers and returns plain numbers, so that a compiled screening kernel can
mirror them one for one: which stage opens next, the pre-opening check of an entry against
the open, and the estimated buy price at the open (the drawdown breaker is in
risk/breaker.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Literal

from risk.ticks import TickRules

TACTICAL, CORE, FULL = 1, 2, 3
GapAction = Literal["buy", "skip", "reanchor", "keep"]


def stage_to_open(held: Iterable[int], max_stage: int) -> int | None:
    """The lowest stage up to `max_stage` that no held tranche fills (a stopped-out lower
    stage is refilled first); None when every stage is held."""
    taken = set(held)
    for stage in range(TACTICAL, max_stage + 1):
        if stage not in taken:
            return stage
    return None


def target_after(held: Iterable[int], stage: int, targets: dict[int, float]) -> float:
    """The weight target of the position once `stage` is added to the held stages: the
    target of the highest stage that would be held."""
    return targets[max([*held, stage])]


def passes_needed(stage: int, core_after_passes: int, full_after_passes: int) -> int:
    """Consecutive passing reports a stage needs (stage 1 needs none)."""
    if stage == TACTICAL:
        return 0
    return core_after_passes if stage == CORE else full_after_passes


def gap_action(open_price: float, planned_stop: float, gap_rule: str) -> GapAction:
    """The pre-opening check of an entry: "buy" when the open is above the planned stop,
    else what `entry.gap_rule` says (skip, reanchor or keep)."""
    if open_price > planned_stop:
        return "buy"
    if gap_rule not in ("skip", "reanchor", "keep"):
        raise ValueError(f"unknown gap rule {gap_rule!r}")
    return gap_rule  # type: ignore[return-value]


def buy_estimate(price: float, on: date, ticks: TickRules, slippage_ticks: int) -> float:
    """The highest price a market buy can fill at when quoted `price`: rounded up to a
    valid tick, then `slippage_ticks` worse (the broker never fills above it)."""
    return ticks.shift(ticks.round_up(price, on), on, slippage_ticks)


def sell_estimate(stop: float, on: date, ticks: TickRules, slippage_ticks: int) -> float:
    """What a stop at `stop` is expected to sell at: `slippage_ticks` below it."""
    return ticks.shift(stop, on, -slippage_ticks)


def stop_hit_at_open(open_price: float, stop_price: float) -> bool:
    """A resting sell-stop triggers in the opening auction when the open is at or below it."""
    return open_price <= stop_price


__all__ = [
    "CORE",
    "FULL",
    "TACTICAL",
    "GapAction",
    "buy_estimate",
    "gap_action",
    "passes_needed",
    "sell_estimate",
    "stage_to_open",
    "stop_hit_at_open",
    "target_after",
]
