"""Tranches and the plain records a run leaves behind."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

STAGE_NAMES = {1: "tactical", 2: "core", 3: "full"}


@dataclass
class Tranche:
    """One trade of one stage: its own entry, stop and reason."""

    id: int
    stage: int
    decided: date
    entry_reason: str
    planned_stop: float
    planned_shares: int
    planned_risk_pct_nav: float
    risk_cap_pct: float
    nav_at_entry: float
    entry_date: date | None = None
    entry_price: float | None = None
    shares: int = 0
    stop_price: float | None = None
    initial_stop: float | None = None
    entry_fees: float = 0.0
    sessions_held: int = 0
    exit_date: date | None = None
    exit_price: float | None = None
    exit_reason: str | None = None
    exit_fees: float = 0.0
    pending_exit_reason: str | None = None
    entry_order: Any = None
    stop_order: Any = None
    exit_order: Any = None
    awaiting_open: bool = False  # decided, waiting for the pre-opening check of the next open
    planned_entry: float = 0.0  # the buy estimate at the decision close (with slippage)
    target_weight_pct: float = 0.0  # the position's weight target once this tranche is in
    stop_method: str = "lowest_low"
    step_report: str | None = None  # the quarterly report an add of stage 2 or 3 rests on
    risk_at_fill_pct_nav: float | None = None  # the 2% rule's loss at the real fill price

    @property
    def is_open(self) -> bool:
        return self.entry_date is not None and self.exit_date is None

    @property
    def is_pending_entry(self) -> bool:
        return self.entry_date is None and (self.awaiting_open or self.entry_order is not None)

    @property
    def realised_risk_pct_nav(self) -> float | None:
        """The realised loss as a percent of the NAV at entry (negative: a gain); None while
        open. Set beside the planned risk in trades.csv."""
        pnl = self.pnl
        if pnl is None or not self.nav_at_entry:
            return None
        return -pnl / self.nav_at_entry * 100

    @property
    def pnl(self) -> float | None:
        """Realised P&L after every fee of both legs; None while open."""
        if self.exit_price is None or self.entry_price is None:
            return None
        gross = (self.exit_price - self.entry_price) * self.shares
        return round(gross - self.entry_fees - self.exit_fees, 2)

    @property
    def cap_breach(self) -> bool:
        """True when the realised loss exceeded the per-trade cap (a gap through the stop)."""
        pnl = self.pnl
        return pnl is not None and pnl < -self.risk_cap_pct / 100 * self.nav_at_entry


@dataclass
class RunRecords:
    """What a run leaves behind, in plain Python, for the engine to write out."""

    decisions: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    equity: list[dict[str, Any]] = field(default_factory=list)
    tranches: list[Tranche] = field(default_factory=list)
