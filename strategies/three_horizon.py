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

Every decision leaves a record with the numbers behind it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import backtrader as bt
import numpy as np
import pandas as pd

from risk.sizing import size_tranche
from risk.stops import StopInputs, StopLevel, StopRule, stop_level
from strategies.bars_feed import session_dates
from strategies.preopen import HeldStop, check_at_open
from strategies.rules import (
    breaker_check,
    buy_estimate,
    passes_needed,
    sell_estimate,
    stage_to_open,
    target_after,
)
from strategies.signals import combine_entry
from strategies.swings import swing_low_events
from strategies.tranches import STAGE_NAMES, RunRecords, Tranche
from xmtrade.broker import bar_date

if TYPE_CHECKING:
    from risk.ticks import TickRules
    from strategies.fundamental_state import FundamentalState, FundamentalTimeline
    from xmtrade.config import AppConfig
    from xmtrade.costs import HkCostModel

TACTICAL, CORE, FULL = 1, 2, 3
DIVERGENCE_DETAIL_COLUMNS = (
    "div_low1_date",
    "div_low1_price",
    "div_low1_macd",
    "div_low2_date",
    "div_low2_price",
    "div_low2_macd",
)


@dataclass(frozen=True)
class StrategyInputs:
    """Everything the strategy reads besides the live feed; built once per run by the engine."""

    config: AppConfig
    bars: pd.DataFrame  # the full history up to the last traded session (indicator warm-up)
    signals: pd.DataFrame  # compute_signals() on `bars`, same index
    first_index: int  # position in `bars` of the first traded session
    next_session: Callable[[date], date]
    ticks: TickRules
    costs: HkCostModel
    fundamentals: FundamentalTimeline
    hkd_per_rmb: Callable[[date], float]


@dataclass(frozen=True)
class Demand:
    """A portfolio-level order of the day: trim back to stage 1, or exit everything."""

    action: str  # "trim" or "exit"
    reason: str  # the exit reason code written on each tranche sold
    detail: dict[str, Any]


class ThreeHorizonStrategy(bt.Strategy):
    """The three-horizon plan: tactical entries, staged adds on the gate, three risk lines."""

    params = (("inputs", None),)

    def __init__(self) -> None:
        inputs: StrategyInputs = self.p.inputs
        self.inputs = inputs
        self.cfg = inputs.config
        self.records = RunRecords()
        sig = inputs.signals
        # Per-session values as Python lists: indexing a list is cheaper than a numpy array,
        # and every use converts or formats the value the same way either way.
        self._dates: list[date] = session_dates(inputs.bars.index)
        self._close: list[float] = inputs.bars["close"].to_numpy(dtype=float).tolist()
        self._low = inputs.bars["low"].to_numpy(dtype=float)
        self._low_values: list[float] = self._low.tolist()
        self._no_trading: list[bool] = inputs.bars["no_trading"].to_numpy(dtype=bool).tolist()
        self._rsi: list[float] = sig["rsi"].to_numpy(dtype=float).tolist()
        self._macd: list[float] = sig["macd"].to_numpy(dtype=float).tolist()
        self._macd_signal: list[float] = sig["macd_signal"].to_numpy(dtype=float).tolist()
        self._oversold: list[bool] = sig["rsi_oversold"].to_numpy(dtype=bool).tolist()
        self._overbought: list[bool] = sig["rsi_overbought"].to_numpy(dtype=bool).tolist()
        self._divergence: list[bool] = sig["divergence"].to_numpy(dtype=bool).tolist()
        entry = combine_entry(sig["rsi_oversold"], sig["divergence"], self.cfg.entry.require)
        self._entry: list[bool] = entry.to_numpy(dtype=bool).tolist()
        self._signals = sig
        self._divergence_columns: dict[str, list[Any]] | None = None
        self._order_role: dict[int, tuple[Tranche, str]] = {}
        # the tranches pending entry or open, in order of creation (a subset of
        # records.tranches kept so that each session does not scan every tranche ever made)
        self._live: list[Tranche] = []
        self._next_id = 1
        self._peak_nav = self.cfg.backtest.initial_nav
        self._cooldown_until = -1
        self._last_decision_day = date.min
        self._last_opened_index = -(10**9)
        self._seen_state: date | None = None
        self._cells_of: FundamentalState | None = None  # the state _line_cells were made of
        self._line_cells: dict[str, str] = {}
        self._last_step_report: str | None = None  # the report the last add of stage 2+ used
        stop_cfg = self.cfg.stop
        self._stop_rule = StopRule(
            method=stop_cfg.method,
            lookback=stop_cfg.lookback,
            buffer_ticks=stop_cfg.buffer_ticks,
            atr_multiple=stop_cfg.atr_multiple,
            fixed_price=stop_cfg.fixed_price,
            fixed_from=stop_cfg.fixed_from,
            fixed_to=stop_cfg.fixed_to,
        )
        self._atr: list[float] | None = None
        self._swing_low: list[float] | None = None
        if stop_cfg.method in ("atr", "lowest_low_atr"):
            self._atr = _atr(inputs.bars, stop_cfg.atr_period)
        if stop_cfg.method == "swing_low":
            self._swing_low = _last_swing_low(inputs.bars, stop_cfg.swing_k)

    def start(self) -> None:
        self.broker.pre_open = self._pre_open

    # ------------------------------------------------------------------ state helpers

    def _i(self) -> int:
        return self.inputs.first_index + len(self) - 1

    def _open_tranches(self) -> list[Tranche]:
        return [t for t in self._live if t.is_open] if self._live else []

    def _held(self) -> list[Tranche]:
        """Open tranches not already on their way out."""
        if not self._live:
            return []
        return [t for t in self._live if t.is_open and t.pending_exit_reason is None]

    def _stage(self) -> int:
        """The highest stage held (0: nothing held)."""
        if not self._live:
            return 0
        return max((t.stage for t in self._held()), default=0)

    def _stages_held(self) -> list[int]:
        return [t.stage for t in self._held()]

    def _pending_entries(self) -> list[Tranche]:
        return [t for t in self._live if t.is_pending_entry] if self._live else []

    def _decide(self, record: dict[str, Any]) -> None:
        self.records.decisions.append(record)

    def _ps_ratio(self, i: int, today: date, state: FundamentalState) -> float | None:
        per_share = state.revenue_per_share_rmb
        if per_share is None or per_share <= 0:
            return None
        return float(self._close[i]) / (per_share * self.inputs.hkd_per_rmb(today))

    # ------------------------------------------------------------------ signals

    def _signal_snapshot(self, i: int) -> dict[str, Any]:
        snap: dict[str, Any] = {
            "rsi": _num(self._rsi[i]),
            "macd": _num(self._macd[i]),
            "macd_signal": _num(self._macd_signal[i]),
            "rsi_oversold": bool(self._oversold[i]),
            "macd_divergence": bool(self._divergence[i]),
        }
        if self._divergence[i]:
            row = self._divergence_row(i)
            snap["divergence"] = {
                "low1_date": _day(row["div_low1_date"]),
                "low1_price": _num(row["div_low1_price"]),
                "low1_macd": _num(row["div_low1_macd"]),
                "low2_date": _day(row["div_low2_date"]),
                "low2_price": _num(row["div_low2_price"]),
                "low2_macd": _num(row["div_low2_macd"]),
            }
        return snap

    def _divergence_row(self, i: int) -> dict[str, Any]:
        """The divergence detail columns of session i (read without a pandas row lookup)."""
        if self._divergence_columns is None:
            self._divergence_columns = {
                c: self._signals[c].tolist() for c in DIVERGENCE_DETAIL_COLUMNS
            }
        return {c: values[i] for c, values in self._divergence_columns.items()}

    def _entry_signal(self, i: int) -> str | None:
        """The entry signal of session i in words, or None when there is none."""
        if not self._entry[i]:
            return None
        fired = []
        if self._oversold[i]:
            oversold = self.cfg.signals.rsi.oversold
            fired.append(f"rsi_oversold (RSI {self._rsi[i]:.2f} < {oversold:g})")
        if self._divergence[i]:
            row = self._divergence_row(i)
            fired.append(
                "macd_divergence (lows {} {:.2f} / {} {:.2f}; MACD {:.3f} / {:.3f})".format(
                    _day(row["div_low1_date"]),
                    row["div_low1_price"],
                    _day(row["div_low2_date"]),
                    row["div_low2_price"],
                    row["div_low1_macd"],
                    row["div_low2_macd"],
                )
            )
        return " + ".join(fired)

    def _stop_level(self, i: int, on: date) -> StopLevel:
        stop_cfg = self.cfg.stop
        first = max(0, i - stop_cfg.lookback + 1)
        inputs = StopInputs(
            lows=self._low_values[first : i + 1],
            close=self._close[i],
            atr=None if self._atr is None else self._atr[i],
            swing_low=None if self._swing_low is None else self._swing_low[i],
        )
        return stop_level(self._stop_rule, inputs, on, self.inputs.ticks)

    def _stop_may_rise(self, i: int, on: date, wanted: float) -> bool:
        """False when the stop rule's level cannot be above `wanted` (a cheap float check
        of what `protective_stop` computes; the rule itself runs whenever this is True)."""
        stop_cfg = self.cfg.stop
        if stop_cfg.method != "lowest_low":
            return True
        window = self._low_values[max(0, i - stop_cfg.lookback + 1) : i + 1]
        if not window or not all(map(math.isfinite, window)):
            return True
        lowest = min(window)
        ticks = self.inputs.ticks
        try:
            price = ticks.shift(ticks.round_down(lowest, on), on, -stop_cfg.buffer_ticks)
        except ValueError:
            return True  # let the rule itself report the problem
        return price > wanted

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
        if self._live:  # with no tranche open or pending, nothing to hold, exit or stop out
            for tranche in self._open_tranches():
                tranche.sessions_held += 1
            demand = self._portfolio_demand(i, today, state)
            if demand is not None:
                self._carry_out(demand, i, today, tomorrow, state)
            self._manage_held(i, today, tomorrow)
        self._consider_opening(i, today, tomorrow, state)

    def _note_new_reports(self, today: date, state: FundamentalState) -> None:
        if state.as_of == self._seen_state:
            return
        self._seen_state = state.as_of
        newest = state.newest
        self._decide(
            {
                "date": today,
                "action": "fundamentals",
                "newest_report": None if newest is None else newest.as_dict(),
                "consecutive_passes": state.streak,
                "passing_reports": state.streak_reports(),
                "lines": {f"line{n}": s.as_dict() for n, s in state.lines.items()},
                "lines_action": state.action,
                "revenue_per_share_rmb": _num(state.revenue_per_share_rmb),
                "revenue_detail": state.revenue_detail,
            }
        )

    def _record_equity(self, i: int, today: date, state: FundamentalState) -> None:
        broker = self.broker
        nav = float(broker.getvalue())
        cash = float(broker.getcash())
        position_value = nav - cash
        live = self._live
        row: dict[str, Any] = {
            "date": today,
            "nav": nav,
            "cash": cash,
            "position_value": position_value,
            "shares": int(broker.getposition(self.data).size),
            "weight": position_value / nav if nav else 0.0,
            "interest": broker.interest_today,
            "stage": max((t.stage for t in live if t.is_open), default=0) if live else 0,
            "ps_ratio": _num(self._ps_ratio(i, today, state)),
        }
        if state is not self._cells_of:
            self._cells_of = state
            self._line_cells = {f"line{n}": line.status for n, line in state.lines.items()}
        row.update(self._line_cells)
        self.records.equity.append(row)
        if nav > self._peak_nav:
            self._peak_nav = nav

    # ------------------------------------------------------------------ portfolio demands

    def _portfolio_demand(self, i: int, today: date, state: FundamentalState) -> Demand | None:
        held = self._held()
        if not held:
            return None
        nav = float(self.broker.getvalue())
        breaker = self.cfg.risk.drawdown_breaker
        if breaker is not None:
            check = breaker_check(
                nav,
                self._peak_nav,
                breaker.max_drawdown_pct,
                breaker.basis,
                self.cfg.sizing.max_weight_pct,
            )
            if check.fires:
                self._cooldown_until = i + breaker.cooldown_sessions
                detail = {
                    "nav": nav,
                    "peak_nav": self._peak_nav,
                    "drawdown": round(nav / self._peak_nav - 1.0, 6),
                    "basis": breaker.basis,
                    "loss": round(check.loss, 2),
                    "limit": round(check.limit, 2),
                    "of": round(check.base, 2),
                }
                self._peak_nav = nav
                return Demand("exit", "drawdown_breaker", detail)
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
        report = _report_key(state)
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
        if i <= self._cooldown_until:
            return "drawdown breaker cooling down"
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
            step_report=None if stage == TACTICAL else _report_key(state),
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

    # ------------------------------------------------------------------ fills

    def notify_order(self, order: bt.Order) -> None:
        role = self._order_role.get(order.ref)
        if role is None or order.status in (order.Submitted, order.Accepted):
            return
        tranche, kind = role
        if order.status == order.Completed:
            self._on_fill(order, tranche, kind)
        elif order.status in (order.Margin, order.Rejected) or (
            kind == "entry" and order.status == order.Canceled
        ):
            self._decide(
                {
                    "date": self._dates[self._i()],
                    "action": "order_not_filled",
                    "tranche": tranche.id,
                    "order": kind,
                    "status": order.getstatusname(),
                }
            )
            if kind == "entry":
                tranche.entry_order = None
                self.records.tranches.remove(tranche)
                self._live.remove(tranche)

    def _on_fill(self, order: bt.Order, tranche: Tranche, kind: str) -> None:
        on = self.data.datetime.date(0)
        price = float(order.executed.price)
        shares = abs(int(order.executed.size))
        charges = self.inputs.costs.charges(on, price * shares)
        self.records.fills.append(
            {
                "date": on,
                "tranche": tranche.id,
                "stage": tranche.stage,
                "side": "buy" if order.isbuy() else "sell",
                "kind": kind,
                "order_type": "stop" if order.exectype == bt.Order.Stop else "market",
                "order_price": float(order.created.price) if kind == "stop" else None,
                "shares": shares,
                "price": price,
                "value": round(price * shares, 2),
                **charges.by_kind,
                "fees": charges.total,
                "reason": tranche.entry_reason if kind == "entry" else None,
            }
        )
        if kind == "entry":
            tranche.entry_date = on
            tranche.entry_price = price
            tranche.shares = shares
            tranche.entry_fees = charges.total
            tranche.stop_price = tranche.planned_stop
            tranche.initial_stop = tranche.planned_stop
            tranche.entry_order = None
            exit_value = (
                sell_estimate(
                    tranche.planned_stop, on, self.inputs.ticks, self.cfg.costs.slippage_ticks
                )
                * shares
            )
            loss = (
                price * shares
                - exit_value
                + self.inputs.costs.round_trip(on, price * shares, exit_value)
            )
            tranche.risk_at_fill_pct_nav = loss / tranche.nav_at_entry * 100
            if tranche.step_report is not None:
                self._last_step_report = tranche.step_report
            return
        tranche.exit_date = on
        tranche.exit_price = price
        tranche.exit_fees = charges.total
        if kind == "stop":
            initial = tranche.initial_stop
            raised = initial is not None and (tranche.stop_price or 0) > initial
            tranche.exit_reason = "trailing_stop" if raised else "stop"
        else:
            tranche.exit_reason = tranche.pending_exit_reason
        self.records.fills[-1]["reason"] = tranche.exit_reason
        tranche.stop_order = None
        tranche.exit_order = None
        self._live.remove(tranche)


def _report_key(state: FundamentalState) -> str | None:
    """The newest quarterly report a decision knows of, as `period announced YYYY-MM-DD`."""
    newest = state.newest
    if newest is None:
        return None
    return f"{newest.period} announced {newest.announced}"


def _atr(bars: pd.DataFrame, period: int) -> list[float]:
    """ATR (Wilder) of every session from `ta`, NaN while it warms up; point in time (the
    value at a session reads nothing after it)."""
    from ta.volatility import AverageTrueRange

    atr = AverageTrueRange(
        high=bars["high"].astype(float),
        low=bars["low"].astype(float),
        close=bars["close"].astype(float),
        window=period,
        fillna=False,
    ).average_true_range()
    values = atr.to_numpy(dtype=float, copy=True)
    values[: period - 1] = np.nan  # ta writes 0 before its first full window
    result: list[float] = values.tolist()
    return result


def _last_swing_low(bars: pd.DataFrame, k: int) -> list[float]:
    """At each session, the low of the last swing low confirmed by its close (k bars late)."""
    low = bars["low"].astype(float)
    events = swing_low_events(low, k)
    known = pd.Series(events["low"].to_numpy(), index=pd.DatetimeIndex(events["known_date"]))
    known = known[~known.index.duplicated(keep="last")]
    result: list[float] = known.reindex(bars.index).ffill().to_numpy(dtype=float).tolist()
    return result


def _num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else round(number, 6)


def _day(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or pd.isna(value):
        return None
    return pd.Timestamp(value).date().isoformat()
