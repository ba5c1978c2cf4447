"""The tranche book of the three-horizon strategy: its state, the per-session figures it reads,
the records it leaves, and the fills that move tranches from planned to open to closed.

`ThreeHorizonStrategy` (strategies/three_horizon.py) builds on it through `Opening`
(strategies/opening.py); this class makes no decision of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import backtrader as bt
import numpy as np
import pandas as pd

from risk.breaker import breaker_of
from risk.stops import StopInputs, StopLevel, StopRule, stop_level
from strategies.bars_feed import session_dates
from strategies.rules import sell_estimate
from strategies.signals import combine_entry
from strategies.swings import swing_low_events
from strategies.tranches import RunRecords, Tranche

if TYPE_CHECKING:
    from risk.ticks import TickRules
    from strategies.fundamental_state import FundamentalState, FundamentalTimeline
    from xmtrade.config import AppConfig
    from xmtrade.costs import HkCostModel

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


class TrancheBook(bt.Strategy):
    """State, figures, records and fills of the three-horizon strategy."""

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
        self._breaker = breaker_of(self.cfg)
        self._last_decision_day = date.min
        self._last_opened_index = -(10**9)
        self._seen_state: date | None = None
        self._cells_of: FundamentalState | None = None  # the state _line_cells were made of
        self._line_cells: dict[str, str] = {}
        self._last_step_report: str | None = None  # the report the last add of stage 2+ used
        self._stop_rule, self._atr, self._swing_low = stop_rule_of(self.cfg, inputs.bars)

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
            "rsi": num(self._rsi[i]),
            "macd": num(self._macd[i]),
            "macd_signal": num(self._macd_signal[i]),
            "rsi_oversold": bool(self._oversold[i]),
            "macd_divergence": bool(self._divergence[i]),
        }
        if self._divergence[i]:
            row = self._divergence_row(i)
            snap["divergence"] = {
                "low1_date": _day(row["div_low1_date"]),
                "low1_price": num(row["div_low1_price"]),
                "low1_macd": num(row["div_low1_macd"]),
                "low2_date": _day(row["div_low2_date"]),
                "low2_price": num(row["div_low2_price"]),
                "low2_macd": num(row["div_low2_macd"]),
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

    # ------------------------------------------------------------------ records

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
                "revenue_per_share_rmb": num(state.revenue_per_share_rmb),
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
            "ps_ratio": num(self._ps_ratio(i, today, state)),
        }
        if state is not self._cells_of:
            self._cells_of = state
            self._line_cells = {f"line{n}": line.status for n, line in state.lines.items()}
        row.update(self._line_cells)
        self.records.equity.append(row)
        if self._breaker is not None:
            self._breaker.mark(nav)

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


def report_key(state: FundamentalState) -> str | None:
    """The newest quarterly report a decision knows of, as `period announced YYYY-MM-DD`."""
    newest = state.newest
    if newest is None:
        return None
    return f"{newest.period} announced {newest.announced}"


def stop_rule(cfg: AppConfig) -> StopRule:
    """The config's stop settings as `risk.stops.stop_level` takes them."""
    stop = cfg.stop
    return StopRule(
        method=stop.method,
        lookback=stop.lookback,
        buffer_ticks=stop.buffer_ticks,
        atr_multiple=stop.atr_multiple,
        fixed_price=stop.fixed_price,
        fixed_from=stop.fixed_from,
        fixed_to=stop.fixed_to,
    )


def stop_rule_of(
    cfg: AppConfig, bars: pd.DataFrame
) -> tuple[StopRule, list[float] | None, list[float] | None]:
    """The config's stop rule and the series its method reads at each session of `bars`:
    the ATR (`atr`, `lowest_low_atr`) and the last confirmed swing low (`swing_low`)."""
    stop = cfg.stop
    rule = stop_rule(cfg)
    atr = atr_levels(bars, stop.atr_period) if stop.method in ("atr", "lowest_low_atr") else None
    swing = last_swing_lows(bars, stop.swing_k) if stop.method == "swing_low" else None
    return rule, atr, swing


def atr_levels(bars: pd.DataFrame, period: int) -> list[float]:
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


def last_swing_lows(bars: pd.DataFrame, k: int) -> list[float]:
    """At each session, the low of the last swing low confirmed by its close (k bars late)."""
    low = bars["low"].astype(float)
    events = swing_low_events(low, k)
    known = pd.Series(events["low"].to_numpy(), index=pd.DatetimeIndex(events["known_date"]))
    known = known[~known.index.duplicated(keep="last")]
    result: list[float] = known.reindex(bars.index).ffill().to_numpy(dtype=float).tolist()
    return result


def num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else round(number, 6)


def _day(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or pd.isna(value):
        return None
    return pd.Timestamp(value).date().isoformat()
