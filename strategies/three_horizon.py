"""The three-horizon strategy for 1810.HK as a backtrader Strategy.

Every decision is made after the close of session *t* on data up to *t*; market orders fill at
the next open, protective stops rest in the market from the session after the entry fill.
This module trades stage 1 (tactical): an entry on an RSI-oversold or MACD-divergence signal,
sized by the target weight and the 2% rule, protected by a stop, closed by the stop, RSI
overbought, or the holding-period limit. Every decision leaves a record with its numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import backtrader as bt
import numpy as np
import pandas as pd

from risk.sizing import size_tranche
from risk.stops import protective_stop

if TYPE_CHECKING:
    from risk.ticks import TickRules
    from xmtrade.config import AppConfig
    from xmtrade.costs import HkCostModel

TACTICAL = 1


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

    @property
    def is_open(self) -> bool:
        return self.entry_date is not None and self.exit_date is None

    @property
    def cap_breach(self) -> bool:
        """True when the realised loss exceeded the per-trade cap (a gap through the stop)."""
        pnl = self.pnl
        return pnl is not None and pnl < -self.risk_cap_pct / 100 * self.nav_at_entry

    @property
    def pnl(self) -> float | None:
        if self.exit_price is None or self.entry_price is None:
            return None
        gross = (self.exit_price - self.entry_price) * self.shares
        return round(gross - self.entry_fees - self.exit_fees, 2)


@dataclass
class RunRecords:
    """What a run leaves behind, in plain Python, for the engine to write out."""

    decisions: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    equity: list[dict[str, Any]] = field(default_factory=list)
    tranches: list[Tranche] = field(default_factory=list)


class BarsWithFlags(bt.feeds.PandasData):
    """OHLCV plus the `no_trading` flag of placeholder bars."""

    lines = ("no_trading",)
    params = (("no_trading", "no_trading"), ("openinterest", None))


class ThreeHorizonStrategy(bt.Strategy):
    """Stage-1 (tactical) trading of the three-horizon plan."""

    params = (("inputs", None),)

    def __init__(self) -> None:
        inputs: StrategyInputs = self.p.inputs
        self.inputs = inputs
        self.cfg = inputs.config
        self.records = RunRecords()
        sig = inputs.signals
        self._dates: list[date] = [ts.date() for ts in inputs.bars.index]
        self._close = inputs.bars["close"].to_numpy(dtype=float)
        self._low = inputs.bars["low"].to_numpy(dtype=float)
        self._no_trading = inputs.bars["no_trading"].to_numpy(dtype=bool)
        self._rsi = sig["rsi"].to_numpy(dtype=float)
        self._macd = sig["macd"].to_numpy(dtype=float)
        self._macd_signal = sig["macd_signal"].to_numpy(dtype=float)
        self._oversold = sig["rsi_oversold"].to_numpy(dtype=bool)
        self._overbought = sig["rsi_overbought"].to_numpy(dtype=bool)
        self._divergence = sig["divergence"].to_numpy(dtype=bool)
        self._signals = sig
        self._order_role: dict[int, tuple[Tranche, str]] = {}
        self._next_id = 1

    # ------------------------------------------------------------------ helpers

    def _i(self) -> int:
        return self.inputs.first_index + len(self) - 1

    def _open_tranches(self) -> list[Tranche]:
        return [t for t in self.records.tranches if t.is_open]

    def _pending_entries(self) -> list[Tranche]:
        return [t for t in self.records.tranches if t.entry_date is None and t.entry_order]

    def _signal_snapshot(self, i: int) -> dict[str, Any]:
        snap: dict[str, Any] = {
            "rsi": _num(self._rsi[i]),
            "macd": _num(self._macd[i]),
            "macd_signal": _num(self._macd_signal[i]),
            "rsi_oversold": bool(self._oversold[i]),
            "macd_divergence": bool(self._divergence[i]),
        }
        if self._divergence[i]:
            row = self._signals.iloc[i]
            snap["divergence"] = {
                "low1_date": _day(row["div_low1_date"]),
                "low1_price": _num(row["div_low1_price"]),
                "low1_macd": _num(row["div_low1_macd"]),
                "low2_date": _day(row["div_low2_date"]),
                "low2_price": _num(row["div_low2_price"]),
                "low2_macd": _num(row["div_low2_macd"]),
            }
        return snap

    def _entry_reason(self, i: int) -> str | None:
        fired = []
        if self._oversold[i]:
            fired.append(
                f"rsi_oversold (RSI {self._rsi[i]:.2f} < {self.cfg.signals.rsi.oversold:g})"
            )
        if self._divergence[i]:
            row = self._signals.iloc[i]
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
        if not fired:
            return None
        if self.cfg.entry.require == "all" and len(fired) < 2:
            return None
        return " + ".join(fired)

    def _stop_level(self, i: int, on: date) -> Any:
        stop_cfg = self.cfg.stop
        first = max(0, i - stop_cfg.lookback + 1)
        return protective_stop(
            lows=list(self._low[first : i + 1]),
            lookback=stop_cfg.lookback,
            buffer_ticks=stop_cfg.buffer_ticks,
            fixed_price=stop_cfg.fixed_price,
            on=on,
            ticks=self.inputs.ticks,
        )

    def _decide(self, record: dict[str, Any]) -> None:
        self.records.decisions.append(record)

    # ------------------------------------------------------------------ the session loop

    def next(self) -> None:
        i = self._i()
        today = self._dates[i]
        self._record_equity(today)
        if self._no_trading[i]:
            return
        tomorrow = self.inputs.next_session(today)
        for tranche in self._open_tranches():
            tranche.sessions_held += 1
            self._manage_open(tranche, i, today, tomorrow)
        self._consider_entry(i, today, tomorrow)

    def _record_equity(self, today: date) -> None:
        nav = float(self.broker.getvalue())
        cash = float(self.broker.getcash())
        position_value = nav - cash
        self.records.equity.append(
            {
                "date": today,
                "nav": nav,
                "cash": cash,
                "position_value": position_value,
                "shares": int(self.position.size),
                "weight": position_value / nav if nav else 0.0,
            }
        )

    def _manage_open(self, tranche: Tranche, i: int, today: date, tomorrow: date) -> None:
        if tranche.pending_exit_reason:
            return
        exits = self.cfg.exits
        reason = None
        if exits.rsi_overbought is not None and self._overbought[i]:
            reason = "rsi_overbought"
            detail = f"RSI {self._rsi[i]:.2f} > {exits.rsi_overbought:g}"
        elif (
            exits.max_holding_sessions is not None
            and tranche.sessions_held >= exits.max_holding_sessions
        ):
            reason = "time_exit"
            detail = f"held {tranche.sessions_held} sessions >= {exits.max_holding_sessions}"
        if reason:
            self._exit(tranche, reason, detail, i, today, tomorrow)
            return
        self._maintain_stop(tranche, i, today, tomorrow)

    def _maintain_stop(self, tranche: Tranche, i: int, today: date, tomorrow: date) -> None:
        ticks = self.inputs.ticks
        current = tranche.stop_price
        assert current is not None
        wanted = ticks.round_down(current, tomorrow)
        basis = "initial stop"
        if self.cfg.exits.trailing_stop and self.cfg.stop.fixed_price is None:
            level = self._stop_level(i, tomorrow)
            if level.price > wanted:
                wanted, basis = level.price, f"trailing: {level.basis}"
        if tranche.stop_order is not None and wanted == current:
            return
        if tranche.stop_order is not None:
            self.cancel(tranche.stop_order)
        order = self.sell(size=tranche.shares, exectype=bt.Order.Stop, price=wanted)
        self._order_role[order.ref] = (tranche, "stop")
        tranche.stop_order = order
        self._decide(
            {
                "date": today,
                "action": "place_stop" if current == wanted else "raise_stop",
                "tranche": tranche.id,
                "stage": tranche.stage,
                "stop": {"from": current, "to": wanted, "basis": basis, "rests_from": tomorrow},
                "close": float(self._close[i]),
            }
        )
        tranche.stop_price = wanted

    def _exit(
        self, tranche: Tranche, reason: str, detail: str, i: int, today: date, tomorrow: date
    ) -> None:
        if tranche.stop_order is not None:
            self.cancel(tranche.stop_order)
            tranche.stop_order = None
        order = self.sell(size=tranche.shares, exectype=bt.Order.Market)
        self._order_role[order.ref] = (tranche, "exit")
        tranche.exit_order = order
        tranche.pending_exit_reason = reason
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

    def _consider_entry(self, i: int, today: date, tomorrow: date) -> None:
        reason = self._entry_reason(i)
        if reason is None:
            return
        base = {
            "date": today,
            "stage": TACTICAL,
            "reason": reason,
            "signals": self._signal_snapshot(i),
            "close": float(self._close[i]),
        }
        if self._open_tranches() or self._pending_entries():
            self._decide({**base, "action": "skip", "why": "stage 1 already held or pending"})
            return
        cfg = self.cfg
        ticks = self.inputs.ticks
        nav = float(self.broker.getvalue())
        close = float(self._close[i])
        slip = cfg.costs.slippage_ticks
        entry_price = ticks.shift(ticks.round_up(close, tomorrow), tomorrow, slip)
        stop = self._stop_level(i, tomorrow)
        exit_at_stop = ticks.shift(stop.price, tomorrow, -slip) if stop.price > 0 else stop.price

        def round_trip(entry_value: float, exit_value: float) -> float:
            return self.inputs.costs.round_trip(tomorrow, entry_value, exit_value)

        sizing = size_tranche(
            nav=nav,
            position_shares=int(self.position.size),
            price=close,
            entry_price=entry_price,
            stop_price=exit_at_stop,
            target_weight_pct=cfg.sizing.target_weight_pct.tactical,
            max_weight_pct=cfg.sizing.max_weight_pct,
            risk_per_trade_pct=cfg.sizing.risk_per_trade_pct,
            board_lot=cfg.instrument.board_lot,
            round_trip_cost=round_trip,
        )
        record = {
            **base,
            "nav": nav,
            "stop": {
                "price": stop.price,
                "basis": stop.basis,
                "lowest_low": stop.lowest_low,
                "exit_estimate_with_slippage": exit_at_stop,
            },
            "entry_estimate": {"close": close, "with_slippage": entry_price},
            "sizing": sizing.as_dict(),
        }
        if sizing.shares <= 0:
            self._decide({**record, "action": "skip", "why": sizing.reason})
            return
        tranche = Tranche(
            id=self._next_id,
            stage=TACTICAL,
            decided=today,
            entry_reason=reason,
            planned_stop=stop.price,
            planned_shares=sizing.shares,
            planned_risk_pct_nav=sizing.planned_risk_pct_nav,
            risk_cap_pct=cfg.sizing.risk_per_trade_pct,
            nav_at_entry=nav,
        )
        self._next_id += 1
        order = self.buy(size=sizing.shares, exectype=bt.Order.Market)
        tranche.entry_order = order
        self._order_role[order.ref] = (tranche, "entry")
        self.records.tranches.append(tranche)
        self._decide(
            {
                **record,
                "action": "enter",
                "tranche": tranche.id,
                "order": {
                    "side": "buy",
                    "type": "market",
                    "shares": sizing.shares,
                    "fills_on": tomorrow,
                },
            }
        )

    # ------------------------------------------------------------------ fills

    def notify_order(self, order: bt.Order) -> None:
        role = self._order_role.get(order.ref)
        if role is None or order.status in (order.Submitted, order.Accepted):
            return
        tranche, kind = role
        if order.status == order.Completed:
            self._on_fill(order, tranche, kind)
        elif order.status in (order.Margin, order.Rejected):
            self._decide(
                {
                    "date": self._dates[self._i()],
                    "action": "order_rejected",
                    "tranche": tranche.id,
                    "order": kind,
                    "status": order.getstatusname(),
                }
            )
            if kind == "entry":
                tranche.entry_order = None
                self.records.tranches.remove(tranche)

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
                **{name: amount for name, amount in charges.by_kind.items()},
                "commission": charges.commission,
                "fees": charges.total,
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
            return
        tranche.exit_date = on
        tranche.exit_price = price
        tranche.exit_fees = charges.total
        if kind == "stop":
            raised = (
                tranche.initial_stop is not None
                and (tranche.stop_price or 0) > tranche.initial_stop
            )
            tranche.exit_reason = "trailing_stop" if raised else "stop"
        else:
            tranche.exit_reason = tranche.pending_exit_reason
        tranche.stop_order = None
        tranche.exit_order = None


def _num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else round(number, 6)


def _day(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or pd.isna(value):
        return None
    return pd.Timestamp(value).date().isoformat()
