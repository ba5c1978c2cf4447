"""The pre-opening check (STRATEGY §5.1): an entry decided after the close of *t* is looked
at again against the open of *t+1* before it fills.

HKEX's pre-opening session publishes the indicative opening price before the open; a trader
reads it before his order goes into the auction. In order:

1. a held tranche's stop that the open triggers cancels the entry (never a buy and a sell of
   the same stock in the same auction);
2. an open at or below the planned stop applies `entry.gap_rule` (skip, reanchor, keep);
3. the size is checked again at the open: the 2% rule and the total cap at the highest price
   the order can fill at (the open rounded up plus slippage) and the NAV marked at the open;
   the order never grows beyond what was decided at the close.

`check_at_open` is a pure function of numbers so that a screening kernel can mirror it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from risk.sizing import SizingDecision, size_tranche
from risk.stops import reanchored_stop
from risk.ticks import TickRules
from strategies.rules import buy_estimate, gap_action, sell_estimate, stop_hit_at_open


@dataclass(frozen=True)
class HeldStop:
    """A held tranche's resting stop, as the pre-opening check sees it."""

    tranche: int
    stage: int
    price: float


@dataclass(frozen=True)
class OpenCheck:
    """What the pre-opening check decided for one entry, with the numbers behind it."""

    action: str  # "buy", "skip_gap", "skip_stop_hit", "skip_size"
    shares: int
    stop: float
    gap: str  # gap_action: buy, skip, reanchor, keep
    why: str
    detail: dict[str, Any] = field(default_factory=dict)


def check_at_open(
    *,
    on: date,
    open_price: float,
    planned_stop: float,
    planned_entry: float,
    planned_shares: int,
    cash: float,
    position_shares: int,
    held_stops: Sequence[HeldStop],
    gap_rule: str,
    target_weight_pct: float,
    max_weight_pct: float,
    risk_per_trade_pct: float,
    board_lot: int,
    slippage_ticks: int,
    ticks: TickRules,
    round_trip: Callable[[float, float], float],
) -> OpenCheck:
    """The pre-opening check of one planned entry at the open `open_price` of `on`."""
    nav_at_open = cash + position_shares * open_price
    base: dict[str, Any] = {
        "open": open_price,
        "planned_stop": planned_stop,
        "planned_entry": planned_entry,
        "planned_shares": planned_shares,
        "nav_at_open": round(nav_at_open, 2),
    }
    hit = [h for h in held_stops if stop_hit_at_open(open_price, h.price)]
    if hit:
        names = ", ".join(f"tranche {h.tranche} (stage {h.stage}) stop {h.price:g}" for h in hit)
        return OpenCheck(
            "skip_stop_hit",
            0,
            planned_stop,
            "buy",
            f"the open {open_price:g} hits {names}: no buy and sell in the same auction",
            {**base, "stops_hit": [h.tranche for h in hit]},
        )
    gap = gap_action(open_price, planned_stop, gap_rule)
    stop = planned_stop
    if gap == "skip":
        return OpenCheck(
            "skip_gap",
            0,
            planned_stop,
            gap,
            f"the open {open_price:g} is at or below the planned stop {planned_stop:g} "
            "(entry.gap_rule: skip)",
            base,
        )
    if gap == "reanchor":
        stop = reanchored_stop(open_price, planned_entry, planned_stop, on, ticks)
    entry = buy_estimate(open_price, on, ticks, slippage_ticks)
    exit_at_stop = sell_estimate(stop, on, ticks, slippage_ticks) if stop > 0 else 0.0
    sizing: SizingDecision = size_tranche(
        nav=nav_at_open,
        position_shares=position_shares,
        price=open_price,
        entry_price=entry,
        stop_price=exit_at_stop,
        target_weight_pct=target_weight_pct,
        max_weight_pct=max_weight_pct,
        risk_per_trade_pct=risk_per_trade_pct,
        board_lot=board_lot,
        round_trip_cost=round_trip,
    )
    # keep: the stop is at or above the open, so the 2% rule cannot size the order; the
    # cap still holds at the fill
    allowed = sizing.shares_by_weight if gap == "keep" else sizing.shares
    shares = min(planned_shares, allowed)
    detail = {
        **base,
        "stop": stop,
        "entry_estimate": entry,
        "exit_estimate_with_slippage": exit_at_stop,
        "sizing_at_open": sizing.as_dict(),
    }
    if shares <= 0:
        why = sizing.reason if gap != "keep" else "no order: the cap leaves less than one lot"
        return OpenCheck("skip_size", 0, stop, gap, f"at the open: {why}", detail)
    if gap == "reanchor":
        why = (
            f"the open {open_price:g} is at or below the planned stop {planned_stop:g}: stop "
            f"moved to {stop:g} (the planned distance below the open), {shares} shares"
        )
    elif gap == "keep":
        why = (
            f"the open {open_price:g} is at or below the planned stop {planned_stop:g}: "
            f"bought anyway (entry.gap_rule: keep), {shares} shares"
        )
    elif shares < planned_shares:
        why = f"re-sized at the open: {shares} of {planned_shares} shares ({sizing.reason})"
    else:
        why = f"checked at the open: {shares} shares as planned"
    return OpenCheck("buy", shares, stop, gap, why, detail)


__all__ = ["HeldStop", "OpenCheck", "check_at_open"]
