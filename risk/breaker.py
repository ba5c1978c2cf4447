"""The portfolio drawdown breaker (STRATEGY §5): evaluated at every close, flat or not.

While the NAV stands `max_drawdown_pct` percent of its base below its peak, the breaker is
tripped: the held tranches are sold and no tranche opens. The session it trips it fires,
which starts `cooldown_sessions` more sessions without new tranches. What its peak does after
it fires is `reset`:

- `at_fire`: the peak restarts from the NAV it fired at (the next drawdown is measured from
  there), so the breaker fires once per fall of the limit;
- `none`: the peak stays the run's highest NAV: the breaker stands until the NAV is back
  within the limit of that peak, which while flat it rarely is (a kill switch);
- `after_sessions N`: the peak stays for N sessions after the fire, then restarts from the
  NAV of that session.

The screening kernel mirrors this state session for session (xmtrade/kernel/kernel.py, the
block "the drawdown breaker"); tests/xmtrade/kernel/test_parity.py holds the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xmtrade.config import AppConfig

RESET_MODES = ("none", "at_fire", "after_sessions")


@dataclass(frozen=True)
class BreakerCheck:
    """The drawdown breaker's numbers on one session."""

    fires: bool  # tripped: the loss reaches the limit
    loss: float  # HK$ below the NAV peak
    limit: float  # HK$ of loss that fires it
    base: float  # what the percentage is of: the NAV peak, or the cap's share of it


def breaker_check(
    nav: float, peak_nav: float, max_drawdown_pct: float, basis: str, max_weight_pct: float
) -> BreakerCheck:
    """The drawdown breaker's test: tripped when the NAV is `max_drawdown_pct` percent of
    `base` below its peak; `base` is the peak (basis nav) or the cap's share of it
    (allocation)."""
    if basis == "nav":
        base = peak_nav
    elif basis == "allocation":
        base = peak_nav * max_weight_pct / 100
    else:
        raise ValueError(f"unknown breaker basis {basis!r}")
    loss = peak_nav - nav
    limit = base * max_drawdown_pct / 100
    return BreakerCheck(fires=loss >= limit and loss > 0, loss=loss, limit=limit, base=base)


@dataclass(frozen=True)
class BreakerVerdict:
    """What the breaker says at one close."""

    tripped: bool  # the NAV is at least the limit below the peak: sell, open nothing
    fired: bool  # it tripped this session after standing clear (the cooldown starts)
    detail: dict[str, Any]  # the numbers, for the decision record


class DrawdownBreaker:
    """The breaker's state through a run: the NAV peak, the cooldown and a pending reset."""

    def __init__(
        self,
        *,
        initial_nav: float,
        max_drawdown_pct: float,
        basis: str,
        max_weight_pct: float,
        cooldown_sessions: int,
        reset_mode: str,
        reset_sessions: int,
    ) -> None:
        if reset_mode not in RESET_MODES:
            raise ValueError(f"unknown breaker reset {reset_mode!r}")
        self.peak = float(initial_nav)
        self.max_drawdown_pct = max_drawdown_pct
        self.basis = basis
        self.max_weight_pct = max_weight_pct
        self.cooldown_sessions = cooldown_sessions
        self.reset_mode = reset_mode
        self.reset_sessions = reset_sessions
        self.cooldown_until = -1  # last session of the cooldown
        self.reset_at = -1  # session whose NAV restarts the peak (after_sessions), -1: none
        self.standing = False  # fired and still tripped (none, after_sessions)
        self.tripped = False  # at the last close evaluated
        self.last = BreakerCheck(fires=False, loss=0.0, limit=0.0, base=0.0)

    @property
    def reset_label(self) -> str:
        """The reset as the config writes it: none, at_fire, after_sessions N."""
        if self.reset_mode == "after_sessions":
            return f"after_sessions {self.reset_sessions}"
        return self.reset_mode

    def mark(self, nav: float) -> None:
        """A close's NAV (every session, a no-trading one too): the peak follows it up."""
        if nav > self.peak:
            self.peak = nav

    def evaluate(self, session: int, nav: float) -> BreakerVerdict:
        """The breaker at the close of `session` (an index of the run's sessions)."""
        if self.reset_at >= 0 and session >= self.reset_at:
            self.peak = nav
            self.reset_at = -1
            self.standing = False
        peak = self.peak
        check = breaker_check(nav, peak, self.max_drawdown_pct, self.basis, self.max_weight_pct)
        fired = check.fires and not self.standing
        if fired:
            self.cooldown_until = session + self.cooldown_sessions
            if self.reset_mode == "at_fire":
                self.peak = nav
            else:
                self.standing = True
                if self.reset_mode == "after_sessions":
                    self.reset_at = session + self.reset_sessions
        elif not check.fires:
            self.standing = False
        self.tripped = check.fires
        self.last = check
        detail = {
            "nav": nav,
            "peak_nav": peak,
            "drawdown": round(nav / peak - 1.0, 6),
            "basis": self.basis,
            "loss": round(check.loss, 2),
            "limit": round(check.limit, 2),
            "of": round(check.base, 2),
            "reset": self.reset_label,
            "peak_after": self.peak,
        }
        return BreakerVerdict(tripped=check.fires, fired=fired, detail=detail)

    def blocks(self, session: int) -> str | None:
        """Why the breaker lets no tranche open at the close of `session` (after `evaluate`),
        or None."""
        if self.tripped:
            return (
                f"drawdown breaker stands: NAV HK${self.last.loss:,.2f} below its peak, "
                f"limit HK${self.last.limit:,.2f} (reset: {self.reset_label})"
            )
        if session <= self.cooldown_until:
            return "drawdown breaker cooling down"
        return None


def breaker_of(cfg: AppConfig) -> DrawdownBreaker | None:
    """The breaker `cfg` configures (risk.drawdown_breaker), or None when it has none."""
    breaker = cfg.risk.drawdown_breaker
    if breaker is None:
        return None
    return DrawdownBreaker(
        initial_nav=cfg.backtest.initial_nav,
        max_drawdown_pct=breaker.max_drawdown_pct,
        basis=breaker.basis,
        max_weight_pct=cfg.sizing.max_weight_pct,
        cooldown_sessions=breaker.cooldown_sessions,
        reset_mode=breaker.reset_mode,
        reset_sessions=breaker.reset_sessions,
    )


__all__ = [
    "RESET_MODES",
    "BreakerCheck",
    "BreakerVerdict",
    "DrawdownBreaker",
    "breaker_check",
    "breaker_of",
]
