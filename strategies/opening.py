"""Opening tranches: which stage opens on a decision, its plan at the close, and the
pre-opening check at the next open that turns the plan into an order (STRATEGY §2, §5.1).
"""

from __future__ import annotations

import functools
from datetime import date
from typing import TYPE_CHECKING, Any

import backtrader as bt

from risk.sizing import size_tranche
from strategies.preopen import HeldStop, check_at_open
from strategies.rules import (
    CORE,
    FULL,
    TACTICAL,
    buy_estimate,
    passes_needed,
    sell_estimate,
    stage_to_open,
    target_after,
)
from strategies.tranche_book import TrancheBook, report_key
from strategies.tranches import STAGE_NAMES, Tranche
from xmtrade.broker import bar_date

if TYPE_CHECKING:
    from strategies.fundamental_state import FundamentalState


class Opening(TrancheBook):
    """The opening half of the strategy: decisions to open at a close, checks at the open."""

    # ------------------------------------------------------------------ opening tranches

    def _uses_fundamentals(self) -> bool:
        cfg = self.cfg
        return (
            bool(cfg.risk.rules)
            or cfg.stages.max_stage > TACTICAL
            or (cfg.valuation.ps_ceiling is not None)
        )

    def _context(self, today: date, state: FundamentalState) -> dict[str, Any] | None:
        """What the decision knew of the fundamentals; None when the config uses none."""
        if not self._uses_fundamentals():
            return None
        return state.context(today, self.cfg.fundamentals.stale_after_days)

    def _consider_opening(
        self, i: int, today: date, tomorrow: date, state: FundamentalState
    ) -> None:
        signal = self._entry_signal(i)
        stages = self.cfg.stages
        held = self._stages_held()
        stage = stage_to_open(held, min(stages.max_stage, FULL))
        if stages.add_on == "announcement":
            newest = state.newest
            add_trigger = newest is not None and newest.usable_from > self._last_decision_day
        else:
            add_trigger = signal is not None
        self._last_decision_day = today
        if stage is None:
            if signal is not None:
                why = f"position is fully built: stages {sorted(held)} held"
                self._skip(i, today, state, signal, max(held, default=0) + 1, why)
            return
        if stage == TACTICAL:
            if signal is None:
                return
            why_not = None
        else:
            needed = passes_needed(stage, stages.core_after_passes, stages.full_after_passes)
            if state.streak < needed or not add_trigger:
                if signal is not None:
                    why = (
                        f"stage {stage} needs {needed} consecutive passing reports, "
                        f"have {state.streak}"
                    )
                    self._skip(i, today, state, signal, stage, why)
                return
            why_not = (
                self._one_step_blocks(stage, state)
                or self._ps_blocks(i, today, state)
                or self._too_soon(i, stage)
            )
        why_not = why_not or self._opening_blocked(i, state, stage)
        if why_not is not None:
            self._skip(i, today, state, signal, stage, why_not)
            return
        self._open(i, today, tomorrow, state, stage, signal)

    def _one_step_blocks(self, stage: int, state: FundamentalState) -> str | None:
        """stages.one_step_per_report: an add of stage 2 or 3 needs a report newer than the
        one the last add rested on."""
        if not self.cfg.stages.one_step_per_report:
            return None
        report = report_key(state)
        if report is not None and report == self._last_step_report:
            return (
                f"stage {stage} waits for the next quarterly report: the last add rested on "
                f"{report} (stages.one_step_per_report)"
            )
        return None

    def _too_soon(self, i: int, stage: int) -> str | None:
        gap = self.cfg.stages.min_sessions_between_tranches
        waited = i - self._last_opened_index
        if waited < gap:
            return f"stage {stage} waits {gap} sessions after the last tranche, {waited} so far"
        return None

    def _opening_blocked(self, i: int, state: FundamentalState, stage: int) -> str | None:
        if self._pending_entries() or any(t.pending_exit_reason for t in self._open_tranches()):
            return "an order of the position is still pending"
        breaker = self._breaker.blocks(i) if self._breaker is not None else None
        if breaker is not None:
            return breaker
        # trim trims back to stage 1 and does not block stage 1 (STRATEGY §5.2)
        if state.action is not None and not (state.action == "trim" and stage == TACTICAL):
            alarms = [f"line{n} {s.status}" for n, s in state.lines.items() if s.status != "ok"]
            return f"risk lines say {state.action} ({', '.join(alarms)})"
        return None

    def _ps_blocks(self, i: int, today: date, state: FundamentalState) -> str | None:
        ceiling = self.cfg.valuation.ps_ceiling
        ps = self._ps_ratio(i, today, state)
        if ceiling is not None and ps is not None and ps > ceiling:
            return f"P/S {ps:.2f} above the ceiling {ceiling:g}"
        return None

    def _skip(
        self,
        i: int,
        today: date,
        state: FundamentalState,
        signal: str | None,
        stage: int,
        why: str,
    ) -> None:
        self._decide(
            {
                "date": today,
                "action": "skip",
                "stage": stage,
                "why": why,
                "signal": signal,
                "signals": self._signal_snapshot(i),
                "close": float(self._close[i]),
                "fundamentals": self._context(today, state),
            }
        )

    def _open(
        self,
        i: int,
        today: date,
        tomorrow: date,
        state: FundamentalState,
        stage: int,
        signal: str | None,
    ) -> None:
        cfg = self.cfg
        ticks = self.inputs.ticks
        nav = float(self.broker.getvalue())
        close = float(self._close[i])
        slip = cfg.costs.slippage_ticks
        entry_price = buy_estimate(close, tomorrow, ticks, slip)
        stop = self._stop_level(i, tomorrow)
        exit_at_stop = sell_estimate(stop.price, tomorrow, ticks, slip)
        target = target_after(self._stages_held(), stage, self._targets)
        sizing = size_tranche(
            nav=nav,
            position_shares=int(self.position.size),
            price=close,
            entry_price=entry_price,
            stop_price=exit_at_stop,
            target_weight_pct=target,
            max_weight_pct=cfg.sizing.max_weight_pct,
            risk_per_trade_pct=cfg.sizing.risk_per_trade_pct,
            board_lot=cfg.instrument.board_lot,
            round_trip_cost=functools.partial(self.inputs.costs.round_trip, tomorrow),
        )
        reason = self._opening_reason(stage, state, signal)
        record = {
            "date": today,
            "stage": stage,
            "reason": reason,
            "signals": self._signal_snapshot(i),
            "close": close,
            "nav": nav,
            "stop": {**stop.as_dict(), "exit_estimate_with_slippage": exit_at_stop},
            "entry_estimate": {"close": close, "with_slippage": entry_price},
            "sizing": sizing.as_dict(),
            "fundamentals": self._context(today, state),
        }
        if sizing.shares <= 0:
            self._decide({**record, "action": "skip", "why": sizing.reason})
            return
        tranche = Tranche(
            id=self._next_id,
            stage=stage,
            decided=today,
            entry_reason=reason,
            planned_stop=stop.price,
            planned_shares=sizing.shares,
            planned_risk_pct_nav=sizing.planned_risk_pct_nav,
            risk_cap_pct=cfg.sizing.risk_per_trade_pct,
            nav_at_entry=nav,
            awaiting_open=True,
            planned_entry=entry_price,
            target_weight_pct=target,
            stop_method=stop.method,
            step_report=None if stage == TACTICAL else report_key(state),
        )
        self._next_id += 1
        self._last_opened_index = i
        self.records.tranches.append(tranche)
        self._live.append(tranche)
        self._decide(
            {
                **record,
                "action": "enter" if stage == TACTICAL else "add",
                "tranche": tranche.id,
                "order": {
                    "side": "buy",
                    "type": "market",
                    "shares": sizing.shares,
                    "fills_on": tomorrow,
                    "checked_at_open": True,
                },
            }
        )

    @property
    def _targets(self) -> dict[int, float]:
        weights = self.cfg.sizing.target_weight_pct
        return {TACTICAL: weights.tactical, CORE: weights.core, FULL: weights.full}

    # ------------------------------------------------------------------ the pre-opening check

    def _pre_open(self) -> None:
        """Called by the broker at each open before any order is matched: each planned
        entry is checked against the open (strategies/preopen.py) and only then ordered."""
        planned = [t for t in self._live if t.awaiting_open] if self._live else []
        if not planned or self.data.no_trading[0]:
            return  # a placeholder bar shows no open: planned entries wait for a real one
        on = bar_date(self.data)
        open_price = float(self.data.open[0])
        cfg = self.cfg
        held_stops = [
            HeldStop(t.id, t.stage, float(t.stop_price))
            for t in self._held()
            if t.stop_order is not None and t.stop_price is not None
        ]
        cash = float(self.broker.getcash())
        for tranche in planned:
            check = check_at_open(
                on=on,
                open_price=open_price,
                planned_stop=tranche.planned_stop,
                planned_entry=tranche.planned_entry,
                planned_shares=tranche.planned_shares,
                cash=cash,
                position_shares=int(self.position.size),
                held_stops=held_stops,
                gap_rule=cfg.entry.gap_rule,
                target_weight_pct=tranche.target_weight_pct,
                max_weight_pct=cfg.sizing.max_weight_pct,
                risk_per_trade_pct=cfg.sizing.risk_per_trade_pct,
                board_lot=cfg.instrument.board_lot,
                slippage_ticks=cfg.costs.slippage_ticks,
                ticks=self.inputs.ticks,
                round_trip=functools.partial(self.inputs.costs.round_trip, on),
            )
            self._decide(
                {
                    "date": on,
                    "action": "pre_open_check",
                    "tranche": tranche.id,
                    "stage": tranche.stage,
                    "check": check.action,
                    "gap_rule": cfg.entry.gap_rule if check.gap != "buy" else None,
                    "why": check.why,
                    **check.detail,
                }
            )
            tranche.awaiting_open = False
            if check.action != "buy":
                self.records.tranches.remove(tranche)
                self._live.remove(tranche)
                continue
            sizing = check.detail["sizing_at_open"]
            tranche.planned_stop = check.stop
            tranche.planned_shares = check.shares
            if sizing["shares"] == check.shares:
                tranche.planned_risk_pct_nav = sizing["planned_risk_pct_nav"]
            else:  # fewer shares than the at-open size: the loss at the stop of those shares
                nav_at_open = check.detail["nav_at_open"]
                per_share = sizing["entry_price"] - sizing["stop_price"]
                cost = self.inputs.costs.round_trip(
                    on,
                    sizing["entry_price"] * check.shares,
                    sizing["stop_price"] * check.shares,
                )
                tranche.planned_risk_pct_nav = (
                    (per_share * check.shares + cost) / nav_at_open * 100 if nav_at_open else 0.0
                )
            tranche.nav_at_entry = check.detail["nav_at_open"]
            order = self.buy(
                size=check.shares, exectype=bt.Order.Market, price=sizing["entry_price"]
            )
            tranche.entry_order = order
            self._order_role[order.ref] = (tranche, "entry")

    def _drop_planned(self, tranche: Tranche, today: date, status: str) -> None:
        """Cancel an entry not yet ordered (or its order) and record it."""
        if tranche.entry_order is not None:
            self.cancel(tranche.entry_order)
            return
        self._decide(
            {
                "date": today,
                "action": "order_not_filled",
                "tranche": tranche.id,
                "order": "entry",
                "status": status,
            }
        )
        tranche.awaiting_open = False
        self.records.tranches.remove(tranche)
        self._live.remove(tranche)

    def _opening_reason(self, stage: int, state: FundamentalState, signal: str | None) -> str:
        if stage == TACTICAL:
            return signal or ""
        passing = ", ".join(state.streak_reports())
        trigger = f"signal {signal}" if signal else "at the report"
        return (
            f"stage {stage} ({STAGE_NAMES[stage]}): gate passed in {state.streak} consecutive "
            f"reports ({passing}); {trigger}"
        )
