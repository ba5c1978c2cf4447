"""Tranche sizing (STRATEGY §2 and §5.1): target weight, hard cap, 2% rule, board lots.

A tranche buys the smaller of
  (a) by weight: (min(target, cap) - current weight) x NAV / entry price, and
  (b) by risk: the most shares with (entry - stop) x shares + round-trip costs <= risk% x NAV,
both rounded down to whole board lots. Less than one lot means no order.

Every number of the arithmetic is kept in the `SizingDecision`, for the decision log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Literal

from risk.ticks import to_decimal

LimitedBy = Literal["weight", "risk", "cap", "none"]
RoundTripCost = Callable[[float, float], float]

_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class SizingDecision:
    """The size of one tranche and the numbers behind it (HK$, shares, percent of NAV)."""

    nav: float
    price: float
    entry_price: float
    stop_price: float
    position_shares: int
    board_lot: int
    current_weight_pct: float
    target_weight_pct: float
    max_weight_pct: float
    effective_target_pct: float
    risk_per_trade_pct: float
    risk_budget: float
    risk_per_share: float
    shares_by_weight: int
    shares_by_risk: int
    shares: int
    lots: int
    round_trip_cost: float
    planned_loss: float
    planned_risk_pct_nav: float
    limited_by: LimitedBy
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form for the decision log (`dataclasses.asdict`, flat and fast:
        every field is a number or a string)."""
        return {name: getattr(self, name) for name in _DECISION_FIELDS}


_DECISION_FIELDS = tuple(f.name for f in fields(SizingDecision))


def _num(d: Decimal) -> str:
    """A number as written by a person: 5, 2.5, 0.52 (no exponent, no trailing zeros)."""
    return f"{d.normalize():f}"


def _lots_down(shares: Decimal, board_lot: int) -> int:
    """Whole board lots in `shares`, rounded down (never negative)."""
    if shares <= 0:
        return 0
    return int((shares / board_lot).to_integral_value(rounding=ROUND_FLOOR))


def _most_lots(upper: int, fits: Callable[[int], bool]) -> int:
    """The largest lot count in [0, upper] that `fits` (0 is taken to fit), for a `fits` that
    holds up to some count and fails above it (the loss grows with the lots).

    The answer is usually `upper` or just below it (costs are small next to the risk), so the
    search gallops down from `upper` to bracket it, then bisects the bracket.
    """
    if upper <= 0:
        return 0
    if fits(upper):
        return upper
    bad, step = upper, 1  # bad: a count known not to fit
    while True:
        probe = upper - step
        if probe <= 0:
            good = 0
            break
        if fits(probe):
            good = probe
            break
        bad, step = probe, step * 2
    while bad - good > 1:  # good fits, bad does not
        mid = (good + bad) // 2
        if fits(mid):
            good = mid
        else:
            bad = mid
    return good


def size_tranche(
    *,
    nav: float,
    position_shares: int,
    price: float,
    entry_price: float,
    stop_price: float,
    target_weight_pct: float,
    max_weight_pct: float,
    risk_per_trade_pct: float,
    board_lot: int,
    round_trip_cost: RoundTripCost,
) -> SizingDecision:
    """Size a tranche to buy at `entry_price` with a protective stop at `stop_price`.

    `price` values the current position (last close); `round_trip_cost(entry_value,
    exit_value)` is the cost of buying at the entry and selling at the stop, in HK$. Costs
    are not linear (minimums, rounding), so the 2% rule searches whole lots and the answer
    is checked against the inequality exactly. `round_trip_cost` must not decrease as the
    values grow (true of every HKEX charge: rates, minimums, maximums and rounding).
    """
    if board_lot < 1:
        raise ValueError(f"board_lot must be >= 1, got {board_lot}")
    if position_shares < 0:
        raise ValueError(f"position_shares must be >= 0, got {position_shares}")
    nav_d = to_decimal(nav)
    close = to_decimal(price)
    entry = to_decimal(entry_price)
    stop = to_decimal(stop_price)
    target = to_decimal(target_weight_pct)
    cap = to_decimal(max_weight_pct)
    risk_pct = to_decimal(risk_per_trade_pct)
    if entry <= 0 or close <= 0:
        raise ValueError(f"prices must be > 0, got price {price}, entry {entry_price}")

    effective = min(target, cap)
    target_is_cap = cap <= target
    risk_per_share = entry - stop

    def decision(
        *,
        current_pct: Decimal,
        budget: Decimal,
        by_weight: int,
        by_risk: int,
        shares: int,
        cost: Decimal,
        loss: Decimal,
        limited_by: LimitedBy,
        reason: str,
    ) -> SizingDecision:
        return SizingDecision(
            nav=float(nav_d),
            price=float(close),
            entry_price=float(entry),
            stop_price=float(stop),
            position_shares=position_shares,
            board_lot=board_lot,
            current_weight_pct=float(current_pct),
            target_weight_pct=float(target),
            max_weight_pct=float(cap),
            effective_target_pct=float(effective),
            risk_per_trade_pct=float(risk_pct),
            risk_budget=float(budget),
            risk_per_share=float(risk_per_share),
            shares_by_weight=by_weight,
            shares_by_risk=by_risk,
            shares=shares,
            lots=shares // board_lot,
            round_trip_cost=float(cost),
            planned_loss=float(loss),
            planned_risk_pct_nav=float(loss / nav_d * _HUNDRED) if nav_d > 0 else 0.0,
            limited_by=limited_by,
            reason=reason,
        )

    if nav_d <= 0:
        return decision(
            current_pct=Decimal(0),
            budget=Decimal(0),
            by_weight=0,
            by_risk=0,
            shares=0,
            cost=Decimal(0),
            loss=Decimal(0),
            limited_by="none",
            reason=f"no order: NAV {_num(nav_d)} is not positive",
        )

    current_pct = Decimal(position_shares) * close / nav_d * _HUNDRED
    budget = nav_d * risk_pct / _HUNDRED

    # (a) by weight, in HK$ so that no division by NAV blurs a whole number of shares
    room_value = effective * nav_d / _HUNDRED - Decimal(position_shares) * close
    by_weight = _lots_down(room_value / entry, board_lot) * board_lot

    # (b) by risk
    def cost_of(shares: int) -> Decimal:
        if shares == 0:
            return Decimal(0)
        return to_decimal(round_trip_cost(float(entry * shares), float(stop * shares)))

    def loss_of(shares: int) -> Decimal:
        return risk_per_share * shares + cost_of(shares)

    if risk_per_share <= 0:
        return decision(
            current_pct=current_pct,
            budget=budget,
            by_weight=by_weight,
            by_risk=0,
            shares=0,
            cost=Decimal(0),
            loss=Decimal(0),
            limited_by="none",
            reason=f"no order: stop {_num(stop)} is not below entry {_num(entry)}",
        )

    # Without costs the loss is linear, so this many lots is an upper bound.
    by_risk = (
        _most_lots(
            _lots_down(budget / risk_per_share, board_lot),
            lambda lots: loss_of(lots * board_lot) <= budget,
        )
        * board_lot
    )

    shares = min(by_weight, by_risk)
    limited_by: LimitedBy = (
        "risk" if by_risk < by_weight else ("cap" if target_is_cap else "weight")
    )
    weight_name = "the cap" if limited_by == "cap" else "the target weight"

    if shares == 0:
        if limited_by == "risk":
            reason = (
                f"no order: the {_num(risk_pct)}% rule allows less than one lot of {board_lot} "
                f"(budget HK${budget:.2f}, HK${_num(risk_per_share)} a share plus costs)"
            )
        else:
            reason = (
                f"no order: weight {current_pct:.2f}% leaves less than one lot of "
                f"{board_lot} below {weight_name} {_num(effective)}%"
            )
    else:
        reason = (
            f"{shares // board_lot} lots: smaller of by weight ({by_weight // board_lot} lots "
            f"to {weight_name} {_num(effective)}%) and by the {_num(risk_pct)}% rule "
            f"({by_risk // board_lot} lots)"
        )
    return decision(
        current_pct=current_pct,
        budget=budget,
        by_weight=by_weight,
        by_risk=by_risk,
        shares=shares,
        cost=cost_of(shares),
        loss=loss_of(shares),
        limited_by=limited_by,
        reason=reason,
    )


__all__ = ["LimitedBy", "RoundTripCost", "SizingDecision", "size_tranche"]
