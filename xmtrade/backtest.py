"""The backtest runner: real bars in, every fill, trade, decision and NAV out."""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import backtrader as bt
import pandas as pd

from data_feeds.calendar import SessionCalendar
from data_feeds.errors import DataError
from data_feeds.fundamentals import PointInTimeFacts, read_facts
from risk.ticks import TickRules
from strategies.bars_feed import BarsWithFlags
from strategies.fundamental_state import FundamentalTimeline
from strategies.signals import compute_signals
from strategies.three_horizon import StrategyInputs, ThreeHorizonStrategy
from strategies.tranches import RunRecords, Tranche
from xmtrade.broker import HkBroker, HkCommission
from xmtrade.config import AppConfig, require_history
from xmtrade.costs import HkCostModel
from xmtrade.errors import ConfigError


@dataclass(frozen=True)
class BacktestResult:
    """One run's outputs as frames, ready for the report writer."""

    config: AppConfig
    start: date
    end: date
    equity: pd.DataFrame
    trades: pd.DataFrame
    fills: pd.DataFrame
    decisions: list[dict[str, Any]]
    benchmark: pd.Series  # buy-and-hold close over the same sessions
    bars: pd.DataFrame  # the traded sessions
    fee_kinds: list[str]
    open_orders: list[dict[str, Any]]  # orders still working after the last session
    periods_per_year: float  # the calendar's sessions a year over the years of the run
    risk_free: pd.Series  # per session: the cash rate's return since the previous session
    page_sections: str = ""  # HTML the report page shows first (a paper account's sections)


def resolve_window(
    cfg: AppConfig, bars: pd.DataFrame, start: date | None, end: date | None
) -> tuple[date, date]:
    """The first and last traded sessions: CLI dates, else config dates, else the data's range."""
    if bars.empty:
        raise DataError("prices", None, "no bars to backtest")
    first_bar, last_bar = bars.index[0].date(), bars.index[-1].date()
    # where each date was set: the command line, else the config file that set it
    start_at = ("command line", "--start") if start else _set_in(cfg, "backtest.start")
    end_at = ("command line", "--end") if end else _set_in(cfg, "backtest.end")
    start = start or cfg.backtest.start
    end = end or cfg.backtest.end
    covers = f"the data covers {first_bar} to {last_bar}"
    if start and start > last_bar:
        raise DataError(*start_at, f"no bars on or after {start}; {covers}")
    if end and end < first_bar:
        raise DataError(*end_at, f"no bars on or before {end}; {covers}")
    start = start or first_bar
    end = end or last_bar
    if end < start:
        raise ConfigError("backtest window", "end", f"{end} is before start {start}")
    in_range = bars.loc[pd.Timestamp(start) : pd.Timestamp(end)]
    if in_range.empty:
        raise DataError(
            "backtest window",
            None,
            f"no bars between {start} and {end}; {covers}",
        )
    last_traded = in_range.index[-1]
    require_history(
        cfg, int(bars.index.searchsorted(last_traded, side="right")), last_traded.date()
    )
    return in_range.index[0].date(), last_traded.date()


def _set_in(cfg: AppConfig, key: str) -> tuple[str, str]:
    return cfg.source_of(key), key


def load_fundamentals(cfg: AppConfig, calendar: SessionCalendar) -> FundamentalTimeline:
    """The point-in-time fundamentals of the config's facts file."""
    facts = read_facts(cfg.fundamentals.file)
    pit = PointInTimeFacts(facts, calendar, cfg.fundamentals.decision_time)
    return FundamentalTimeline(pit, cfg)


def fx_rate(cfg: AppConfig) -> Callable[[date], float]:
    """HKD per RMB on a date, from the config's dated rates."""
    periods = sorted(cfg.valuation.hkd_per_rmb, key=lambda p: p.start)

    @functools.lru_cache(maxsize=4096)
    def rate(on: date) -> float:
        in_force = [p.rate for p in periods if p.start <= on]
        return in_force[-1] if in_force else periods[0].rate

    return rate


def cash_rate(cfg: AppConfig) -> Callable[[date], float]:
    """The annual interest rate on cash (percent) in force on a date, from `cash.rate`; the
    same series is the risk-free rate of the statistics."""
    periods = cfg.cash.rate

    @functools.lru_cache(maxsize=4096)
    def rate(on: date) -> float:
        in_force = [p.rate_pct for p in periods if p.start <= on]
        return in_force[-1] if in_force else 0.0

    return rate


def market_models(cfg: AppConfig) -> tuple[TickRules, HkCostModel]:
    """The tick rules and cost model of `cfg`, shared by every run with the same market and
    cost settings (both are stateless; sharing keeps their memoised arithmetic warm)."""
    key = (cfg.market.model_dump_json(), cfg.costs.model_dump_json())
    models = _MARKET_MODELS.get(key)
    if models is None:
        if len(_MARKET_MODELS) >= 8:
            _MARKET_MODELS.clear()
        models = TickRules(cfg.market.tick_tables), HkCostModel(cfg.market, cfg.costs)
        _MARKET_MODELS[key] = models
    return models


_MARKET_MODELS: dict[tuple[str, str], tuple[TickRules, HkCostModel]] = {}


@functools.lru_cache(maxsize=65_536)
def _next_session(calendar: SessionCalendar, day: date) -> date:
    """`calendar.next_session`, memoised (a backtest asks for it every session)."""
    return calendar.next_session(day)


def run_backtest(
    cfg: AppConfig,
    bars: pd.DataFrame,
    calendar: SessionCalendar,
    start: date | None = None,
    end: date | None = None,
    signals: pd.DataFrame | None = None,
    fundamentals: FundamentalTimeline | None = None,
) -> BacktestResult:
    """Run the strategy over [start, end] with indicators warmed up on every earlier bar.

    `signals` and `fundamentals` may be given precomputed (as `signals_for` and
    `load_fundamentals` make them) so that sweeps compute each setting once.
    """
    first, last = resolve_window(cfg, bars, start, end)
    history = bars.loc[: pd.Timestamp(last)]
    if signals is None:
        signals = signals_for(cfg, history)
    else:
        signals = signals.loc[: pd.Timestamp(last)]
        if not signals.index.equals(history.index):
            raise ValueError("precomputed signals do not cover the same sessions as the bars")
    first_index = int(history.index.searchsorted(pd.Timestamp(first)))
    traded = history.iloc[first_index:]
    ticks, costs = market_models(cfg)

    cerebro = bt.Cerebro(stdstats=False, preload=True, runonce=True, quicknotify=True)
    feed = BarsWithFlags(dataname=traded)
    cerebro.adddata(feed)
    broker = HkBroker(
        ticks=ticks,
        slippage_ticks=cfg.costs.slippage_ticks,
        cash_rate_pct=cash_rate(cfg),
        feed=feed,
    )
    broker.setcash(cfg.backtest.initial_nav)
    broker.addcommissioninfo(HkCommission(costs, feed))
    cerebro.setbroker(broker)
    inputs = StrategyInputs(
        config=cfg,
        bars=history,
        signals=signals,
        first_index=first_index,
        next_session=functools.partial(_next_session, calendar),
        ticks=ticks,
        costs=costs,
        fundamentals=fundamentals or load_fundamentals(cfg, calendar),
        hkd_per_rmb=fx_rate(cfg),
    )
    cerebro.addstrategy(ThreeHorizonStrategy, inputs=inputs)
    with collector_paused():
        strategy = cerebro.run()[0]
    records: RunRecords = strategy.records
    # Detach the records from the strategy, which backtrader leaves in reference cycles: the
    # result's frames and decisions are then freed as soon as the caller drops them instead
    # of waiting for (and slowing down) the cyclic garbage collector.
    strategy.records = RunRecords()
    fee_kinds = costs.kinds()
    return BacktestResult(
        config=cfg,
        start=first,
        end=last,
        equity=_equity_frame(records),
        trades=_trades_frame(records.tranches),
        fills=_fills_frame(records, fee_kinds),
        decisions=records.decisions,
        benchmark=traded["close"].astype(float),
        bars=traded,
        fee_kinds=fee_kinds,
        open_orders=_open_orders(records.tranches),
        periods_per_year=sessions_per_year(calendar, first, last),
        risk_free=risk_free(traded.index, cash_rate(cfg)),
    )


def sessions_per_year(calendar: SessionCalendar, first: date, last: date) -> float:
    """The exchange calendar's sessions a year, averaged over the calendar years of a run
    (about 246 for Hong Kong, not 252): the annualisation of volatility, Sharpe and Sortino."""
    sessions = calendar.sessions(date(first.year, 1, 1), date(last.year, 12, 31))
    return len(sessions) / (last.year - first.year + 1)


def risk_free(index: pd.Index, rate: Callable[[date], float]) -> pd.Series:
    """The risk-free return of each session: the cash rate in force on the previous session
    over the calendar days since (ACT/365), 0 for the first."""
    days = [ts.date() for ts in index]
    values = [0.0] + [
        rate(before) / 100 * (after - before).days / 365
        for before, after in itertools.pairwise(days)
    ]
    return pd.Series(values, index=index, dtype=float)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the length of one run.

    A run allocates many small objects that live to its end (records, orders); the collector
    would walk them again and again for nothing. Reference counting still frees what is
    dropped; the cycles left over are collected after the run as usual. Results are unchanged.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def signals_for(cfg: AppConfig, bars: pd.DataFrame) -> pd.DataFrame:
    """The entry and exit signals of `cfg` on `bars` (computed once, vectorised)."""
    sig = cfg.signals
    return compute_signals(
        bars,
        rsi_period=sig.rsi.period,
        rsi_oversold=sig.rsi.oversold,
        rsi_overbought=cfg.exits.rsi_overbought,
        macd_fast=sig.macd.fast,
        macd_slow=sig.macd.slow,
        macd_signal=sig.macd.signal,
        divergence_lookback=sig.divergence.lookback,
        swing_k=sig.divergence.swing_k,
    )


def _equity_frame(records: RunRecords) -> pd.DataFrame:
    equity = pd.DataFrame.from_records(records.equity)
    equity["date"] = pd.to_datetime(equity["date"])
    equity = equity.set_index("date")
    peak = equity["nav"].cummax()
    equity["drawdown"] = equity["nav"] / peak - 1.0
    return equity


TRADE_COLUMNS = [
    "id",
    "stage",
    "entry_date",
    "entry_price",
    "shares",
    "stop_price",
    "initial_stop",
    "planned_risk_pct_nav",
    "exit_date",
    "exit_price",
    "exit_reason",
    "pnl",
    "pnl_pct_nav",
    "fees",
    "sessions_held",
    "cap_breach",
    "entry_reason",
]


"""The columns of a trade a paper ledger keeps."""
RISK_COLUMNS = ["stop_method", "risk_at_fill_pct_nav", "realised_risk_pct_nav"]
"""trades.csv's planned and realised risk side by side, after `planned_risk_pct_nav`."""
_AT = TRADE_COLUMNS.index("planned_risk_pct_nav") + 1
TRADES_CSV_COLUMNS = [*TRADE_COLUMNS[:_AT], *RISK_COLUMNS, *TRADE_COLUMNS[_AT:]]


def _trades_frame(tranches: list[Tranche]) -> pd.DataFrame:
    rows = []
    for t in tranches:
        if t.entry_date is None:
            continue
        pnl = t.pnl
        pnl_pct = pnl / t.nav_at_entry * 100 if pnl is not None else None
        rows.append(
            {
                "id": t.id,
                "stage": t.stage,
                "entry_date": t.entry_date,
                "entry_price": t.entry_price,
                "shares": t.shares,
                "stop_price": t.stop_price,
                "initial_stop": t.initial_stop,
                "stop_method": t.stop_method,
                "planned_risk_pct_nav": round(t.planned_risk_pct_nav, 4),
                "risk_at_fill_pct_nav": _round4(t.risk_at_fill_pct_nav),
                "realised_risk_pct_nav": _round4(t.realised_risk_pct_nav),
                "nav_at_entry": round(t.nav_at_entry, 2),
                "exit_date": t.exit_date,
                "exit_price": t.exit_price,
                "exit_reason": t.exit_reason or "open",
                "pnl": pnl,
                "pnl_pct_nav": round(pnl_pct, 4) if pnl_pct is not None else None,
                "fees": round(t.entry_fees + t.exit_fees, 2),
                "sessions_held": t.sessions_held,
                "cap_breach": t.cap_breach,
                "entry_reason": t.entry_reason,
            }
        )
    return pd.DataFrame(rows, columns=TRADES_CSV_COLUMNS)


def _round4(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


FILL_FIELDS = (
    "date",
    "tranche",
    "stage",
    "side",
    "kind",
    "order_type",
    "order_price",
    "shares",
    "price",
    "value",
    "fees",
    "reason",
)
"""The columns of a fill besides its charges; fills.csv puts the charges before the last two."""


def _open_orders(tranches: list[Tranche]) -> list[dict[str, Any]]:
    """The orders working at the end of the run: pending entries and exits, resting stops."""
    orders: list[dict[str, Any]] = []
    for t in tranches:
        base = {"tranche": t.id, "stage": t.stage}
        if t.is_pending_entry:
            orders.append(
                {
                    **base,
                    "kind": "entry",
                    "side": "buy",
                    "type": "market",
                    "shares": t.planned_shares,
                    "price": None,
                    "reason": t.entry_reason,
                }
            )
        elif t.is_open and t.exit_order is not None:
            orders.append(
                {
                    **base,
                    "kind": "exit",
                    "side": "sell",
                    "type": "market",
                    "shares": t.shares,
                    "price": None,
                    "reason": t.pending_exit_reason,
                }
            )
        elif t.is_open and t.stop_order is not None:
            orders.append(
                {
                    **base,
                    "kind": "stop",
                    "side": "sell",
                    "type": "stop",
                    "shares": t.shares,
                    "price": t.stop_price,
                    "reason": "protective stop",
                }
            )
    return orders


def _fills_frame(records: RunRecords, fee_kinds: list[str]) -> pd.DataFrame:
    columns = [*FILL_FIELDS[:-2], *fee_kinds, *FILL_FIELDS[-2:]]
    return pd.DataFrame.from_records(records.fills, columns=columns)
