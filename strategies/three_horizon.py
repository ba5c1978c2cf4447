"""The three-horizon strategy for 1810.HK as a backtrader Strategy.

Every decision is made after the close of session *t* on data up to *t*; market orders fill at
the next open, protective stops rest in the market from the session after the entry fill.

- Stage 1 (tactical) opens on an RSI-oversold or MACD-divergence signal when no risk line is in
  alarm. While the position is at stage 1 it ends on its stop (trailing, if configured), RSI
  overbought, or the holding-period limit.
- Stage 2 (core) and stage 3 (full) are added once the fundamental gate has passed in enough
  consecutive quarterly reports, on the next signal or at the report (`stages.add_on`).
  From stage 2 on, every tranche is held on its protective stop and managed by the lines.
- The risk lines, the P/S ceiling and the drawdown breaker trim back to stage 1 or exit.

Orders decided at a close are not sent at once: at the next open the pre-opening check
(`Opening._pre_open`, strategies/preopen.py) looks at the open and only then places them.

Every decision leaves a record with the numbers behind it. The strategy is split by
responsibility: `TrancheBook` (strategies/tranche_book.py) keeps the state, records and
fills; `Opening` (strategies/opening.py) decides openings and checks them at the open; this
class runs the session loop, the portfolio demands and the held tranches' exits and stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import backtrader as bt

from strategies.opening import Opening
from strategies.rules import CORE, TACTICAL
from strategies.tranche_book import StrategyInputs
from strategies.tranches import Tranche

if TYPE_CHECKING:
    from strategies.fundamental_state import FundamentalState

__all__ = ["Demand", "StrategyInputs", "ThreeHorizonStrategy"]


@dataclass(frozen=True)
class Demand:
    """A portfolio-level order of the day: trim back to stage 1, or exit everything."""

    action: str  # "trim" or "exit"
    reason: str  # the exit reason code written on each tranche sold
    detail: dict[str, Any]


class ThreeHorizonStrategy(Opening):
    """The three-horizon plan: tactical entries, staged adds on the gate, three risk lines."""

    params = (("inputs", None),)

    def start(self) -> None:
        self.broker.pre_open = self._pre_open

    # ------------------------------------------------------------------ the session loop

    def _oncepost(self, dt: float) -> None:
        """backtrader's per-bar step of a strategy without indicators, observers or
        analyzers (what the engine runs): the same calls, without walking the empty lists."""
        if (
            self._oldsync
            or self._lineiterators[bt.LineIterator.IndType]
            or self._lineiterators[bt.LineIterator.ObsType]
            or self.analyzers
        ):
            super()._oncepost(dt)
            return
        self.forward()
        self.lines.datetime[0] = dt
        self._notify()
        minperstatus = self._getminperstatus()
        if minperstatus < 0:
            self.next()
        elif minperstatus == 0:
            self.nextstart()
        else:
            self.prenext()
        self.clear()

    def next(self) -> None:
        i = self._i()
        today = self._dates[i]
        state = self.inputs.fundamentals.at(today)
        if state.as_of != self._seen_state:
            self._note_new_reports(today, state)
        self._record_equity(i, today, state)
        if self._no_trading[i]:
            return
        tomorrow = self.inputs.next_session(today)
        breaker = self._breaker_demand(i, today, state)
        if self._live:  # with no tranche open or pending, nothing to hold, exit or stop out
            for tranche in self._open_tranches():
                tranche.sessions_held += 1
            demand = breaker or self._portfolio_demand(i, today, state)
            if demand is not None:
                self._carry_out(demand, i, today, tomorrow, state)
            self._manage_held(i, today, tomorrow)
        self._consider_opening(i, today, tomorrow, state)

    # ------------------------------------------------------------------ portfolio demands

    def _breaker_demand(self, i: int, today: date, state: FundamentalState) -> Demand | None:
        """The drawdown breaker at this close, flat or not: an exit of the held tranches when
        it stands; a fire with nothing to sell is a decision of its own."""
        if self._breaker is None:
            return None
        verdict = self._breaker.evaluate(i, float(self.broker.getvalue()))
        if not verdict.tripped:
            return None
        if self._held():
            return Demand("exit", "drawdown_breaker", verdict.detail)
        if verdict.fired:
            self._decide(
                {
                    "date": today,
                    "action": "breaker",
                    "reason": "drawdown_breaker",
                    "detail": verdict.detail,
                    "tranches": [],
                    "close": float(self._close[i]),
                    "fundamentals": self._context(today, state),
                }
            )
        return None

    def _portfolio_demand(self, i: int, today: date, state: FundamentalState) -> Demand | None:
        held = self._held()
        if not held:
            return None
        line_demand = self._line_demand(state)
        if line_demand is not None and line_demand.action == "exit":
            return line_demand
        if self._stage() >= CORE:
            if line_demand is not None:
                return line_demand
            ceiling = self.cfg.valuation.ps_ceiling
            ps = self._ps_ratio(i, today, state)
            if ceiling is not None and ps is not None and ps > ceiling:
                detail = {
                    "ps_ratio": round(ps, 4),
                    "ps_ceiling": ceiling,
                    "close": float(self._close[i]),
                    **state.revenue_detail,
                }
                return Demand("trim", "take_profit_ps", detail)
        return None

    def _line_demand(self, state: FundamentalState) -> Demand | None:
        for action in ("exit", "trim"):
            for n, line in state.lines.items():
                if line.status == "alarm" and line.action == action:
                    return Demand(action, f"line{n}_{action}", {f"line{n}": line.as_dict()})
        return None

    def _carry_out(
        self, demand: Demand, i: int, today: date, tomorrow: date, state: FundamentalState
    ) -> None:
        for pending in self._pending_entries():
            self._drop_planned(pending, today, "Canceled")
        targets = [t for t in self._held() if demand.action == "exit" or t.stage >= CORE]
        if not targets:
            return
        self._decide(
            {
                "date": today,
                "action": demand.action,
                "reason": demand.reason,
                "detail": demand.detail,
                "tranches": [t.id for t in targets],
                "close": float(self._close[i]),
                "fundamentals": self._context(today, state),
            }
        )
        for tranche in targets:
            self._sell(tranche, demand.reason, tomorrow)

    # ------------------------------------------------------------------ open tranches

    def _manage_held(self, i: int, today: date, tomorrow: date) -> None:
        tactical_only = self._stage() == TACTICAL
        for tranche in self._held():
            if tactical_only and self._tactical_exit(tranche, i, today, tomorrow):
                continue
            self._maintain_stop(tranche, i, today, tomorrow, trailing=tactical_only)

    def _tactical_exit(self, tranche: Tranche, i: int, today: date, tomorrow: date) -> bool:
        exits = self.cfg.exits
        if exits.rsi_overbought is not None and self._overbought[i]:
            reason = "rsi_overbought"
            detail = f"RSI {self._rsi[i]:.2f} > {exits.rsi_overbought:g}"
        elif (
            exits.max_holding_sessions is not None
            and tranche.sessions_held >= exits.max_holding_sessions
        ):
            reason = "time_exit"
            detail = f"held {tranche.sessions_held} sessions >= {exits.max_holding_sessions}"
        else:
            return False
        self._decide(
            {
                "date": today,
                "action": "exit",
                "tranche": tranche.id,
                "stage": tranche.stage,
                "reason": reason,
                "detail": detail,
                "signals": self._signal_snapshot(i),
                "close": float(self._close[i]),
                "order": {
                    "side": "sell",
                    "type": "market",
                    "shares": tranche.shares,
                    "fills_on": tomorrow,
                },
            }
        )
        self._sell(tranche, reason, tomorrow)
        return True

    def _sell(self, tranche: Tranche, reason: str, tomorrow: date) -> None:
        if tranche.stop_order is not None:
            self.cancel(tranche.stop_order)
            tranche.stop_order = None
        order = self.sell(size=tranche.shares, exectype=bt.Order.Market)
        self._order_role[order.ref] = (tranche, "exit")
        tranche.exit_order = order
        tranche.pending_exit_reason = reason

    def _maintain_stop(
        self, tranche: Tranche, i: int, today: date, tomorrow: date, trailing: bool
    ) -> None:
        current = tranche.stop_price
        if current is None:
            raise RuntimeError(f"tranche {tranche.id} is open without a stop")
        wanted = self.inputs.ticks.round_down(current, tomorrow)
        basis = "initial stop"
        method = self.cfg.stop.method
        if trailing and self.cfg.exits.trailing_stop and self._stop_may_rise(i, tomorrow, wanted):
            level = self._stop_level(i, tomorrow)  # the same method as the initial stop
            if level.price > wanted:
                wanted, basis = level.price, f"trailing: {level.basis}"
        if tranche.stop_order is not None and wanted == current:
            return
        if tranche.stop_order is not None:
            # move the resting stop (same order, same place in the book) instead of
            # cancelling it and placing a new one: the same fills, without a new order
            tranche.stop_order.created.price = wanted
        else:
            order = self.sell(size=tranche.shares, exectype=bt.Order.Stop, price=wanted)
            self._order_role[order.ref] = (tranche, "stop")
            tranche.stop_order = order
        self._decide(
            {
                "date": today,
                "action": "place_stop" if current == wanted else "raise_stop",
                "tranche": tranche.id,
                "stage": tranche.stage,
                "stop": {
                    "from": current,
                    "to": wanted,
                    "method": method,
                    "basis": basis,
                    "rests_from": tomorrow,
                },
                "close": float(self._close[i]),
            }
        )
        tranche.stop_price = wanted
