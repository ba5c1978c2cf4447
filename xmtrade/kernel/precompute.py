"""What a run's trading does not change, as arrays for the kernel, built by the backtest's own
code: the bars of the window, the entry and exit signals (`signals_for`), the stop level of
every session (`risk.stops.stop_level` on the strategy's own ATR and swing lows), the
fundamental state of every session (`FundamentalTimeline.at`: gate streak, risk-line demand,
report key, the P/S ceiling test), the spread table and the charges in force on each session
and on the next, and the cash rate.

Each array is built once per distinct setting and shared by every combination that has it.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xmtrade.kernel.arith import MICRO, RATE_SCALE, ROUND_CENT, ROUND_UP_DOLLAR

if TYPE_CHECKING:
    from data_feeds.calendar import SessionCalendar
    from strategies.fundamental_state import FundamentalTimeline
    from xmtrade.config import AppConfig

ACTIONS = {None: 0, "block": 1, "trim": 2, "exit": 3}
# exit reasons of a trade, in the kernel's codes
REASONS = ["open", "stop", "trailing_stop", "rsi_overbought", "time_exit", "drawdown_breaker",
           "take_profit_ps"]  # fmt: skip
LINE_REASON_BASE = 10  # line n, action a (exit 0, trim 1): code 10 + 2n + a


def reason_name(code: int) -> str:
    """The exit reason of a kernel code (as trades.csv writes it)."""
    if code >= LINE_REASON_BASE:
        n, a = divmod(code - LINE_REASON_BASE, 2)
        return f"line{n}_{'exit' if a == 0 else 'trim'}"
    return REASONS[code]


class Unsupported(Exception):
    """A config the kernel cannot mirror exactly: the run goes to backtrader."""


@dataclass(frozen=True)
class Market:
    """The window's bars and what each session's date puts in force (ticks, charges, cash)."""

    dates: list[date]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    no_trading: np.ndarray
    ordinal: np.ndarray  # date.toordinal() of each session
    table_today: np.ndarray  # spread table index in force on the session
    table_next: np.ndarray  # ... on the next calendar session (where a decision's stop rests)
    next_ordinal: np.ndarray  # date.toordinal() of that next session
    regime_today: np.ndarray  # charge regime index on the session
    regime_next: np.ndarray
    lower: np.ndarray  # spread tables in micro-HK$: [table, band]
    upper: np.ndarray
    tick: np.ndarray
    bands: np.ndarray
    rates: np.ndarray  # [regime, kind]: rate_pct x RATE_SCALE, -1 when not in force
    per_trade: np.ndarray  # cents, -1 none
    minimum: np.ndarray
    maximum: np.ndarray
    modes: np.ndarray  # [kind]: ROUND_CENT or ROUND_UP_DOLLAR
    cash_rate: np.ndarray  # rate_pct in force on the previous session
    days: np.ndarray  # calendar days since the previous session (0 for the first)


def _scaled(value: float, scale: int, what: str) -> int:
    scaled = round(value * scale)
    if abs(scaled - value * scale) > 1e-6 * max(1.0, abs(value * scale)):
        raise Unsupported(f"{what} {value} has more decimals than the kernel keeps")
    return int(scaled)


def tick_arrays(tables: Sequence[Any]) -> tuple[np.ndarray, ...]:
    """The spread tables (sorted by `effective`) in micro-HK$: lower, upper and tick of each
    [table, band], and each table's band count."""
    width = max(len(t.bands) for t in tables)
    lower = np.zeros((len(tables), width), dtype=np.int64)
    upper = np.zeros_like(lower)
    tick = np.ones_like(lower)
    for t, table in enumerate(tables):
        for b, band in enumerate(table.bands):
            lower[t, b] = _scaled(band.lower, MICRO, "tick band lower")
            upper[t, b] = _scaled(band.upper, MICRO, "tick band upper")
            tick[t, b] = _scaled(band.tick, MICRO, "tick size")
    bands = np.array([len(t.bands) for t in tables], dtype=np.int64)
    return lower, upper, tick, bands


def build_market(cfg: AppConfig, traded: pd.DataFrame, calendar: SessionCalendar) -> Market:
    """The market arrays of the traded bars under `cfg`'s spread tables, charges, cash rate."""
    from xmtrade.backtest import _next_session, cash_rate

    dates = [ts.date() for ts in traded.index]
    next_dates = [_next_session(calendar, d) for d in dates]
    tables = sorted(cfg.market.tick_tables, key=lambda t: t.effective)
    lower, upper, tick, bands = tick_arrays(tables)

    def table_of(on: date) -> int:
        index = [n for n, t in enumerate(tables) if t.effective <= on]
        if not index:
            raise Unsupported(f"no spread table in force on {on}")
        return index[-1]

    regimes: dict[tuple[Any, ...], int] = {}
    charges = list(cfg.market.charges.items())
    modes = np.array(
        [ROUND_UP_DOLLAR if c.rounding == "up_dollar" else ROUND_CENT for _, c in charges]
        + [ROUND_CENT],
        dtype=np.int64,
    )
    from xmtrade.costs import HkCostModel

    @functools.cache
    def regime_of(on: date) -> int:
        terms: list[tuple[int, int, int, int]] = []
        for name, charge in charges:
            period = HkCostModel.period_on(charge, on)
            if period is None:
                terms.append((-1, -1, -1, -1))
                continue
            terms.append(
                (
                    _scaled(period.rate_pct, RATE_SCALE, f"{name} rate_pct"),
                    _cents(period.per_trade, name),
                    _cents(period.minimum, name),
                    _cents(period.maximum, name),
                )
            )
        terms.append(
            (
                _scaled(cfg.costs.commission_pct, RATE_SCALE, "commission_pct"),
                -1,
                _cents(cfg.costs.commission_min, "commission"),
                -1,
            )
        )
        key = tuple(terms)
        return regimes.setdefault(key, len(regimes))

    regime_today = np.array([regime_of(d) for d in dates], dtype=np.int64)
    regime_next = np.array([regime_of(d) for d in next_dates], dtype=np.int64)
    kinds = len(charges) + 1
    shape = (len(regimes), kinds)
    arrays = [np.full(shape, -1, dtype=np.int64) for _ in range(4)]
    for key, g in regimes.items():
        for k, term in enumerate(key):
            for a, value in zip(arrays, term, strict=True):
                a[g, k] = value
    rate = cash_rate(cfg)
    cash = np.array([0.0] + [rate(d) for d in dates[:-1]], dtype=np.float64)
    days = np.array([0] + [(b - a).days for a, b in itertools.pairwise(dates)])
    return Market(
        dates=dates,
        open=traded["open"].to_numpy(dtype=np.float64),
        high=traded["high"].to_numpy(dtype=np.float64),
        low=traded["low"].to_numpy(dtype=np.float64),
        close=traded["close"].to_numpy(dtype=np.float64),
        no_trading=traded["no_trading"].to_numpy(dtype=np.bool_),
        ordinal=np.array([d.toordinal() for d in dates], dtype=np.int64),
        table_today=np.array([table_of(d) for d in dates], dtype=np.int64),
        table_next=np.array([table_of(d) for d in next_dates], dtype=np.int64),
        next_ordinal=np.array([d.toordinal() for d in next_dates], dtype=np.int64),
        regime_today=regime_today,
        regime_next=regime_next,
        lower=lower,
        upper=upper,
        tick=tick,
        bands=bands,
        rates=arrays[0],
        per_trade=arrays[1],
        minimum=arrays[2],
        maximum=arrays[3],
        modes=modes,
        cash_rate=cash,
        days=days.astype(np.int64),
    )


def _cents(value: float | None, what: str) -> int:
    return -1 if value is None else _scaled(value, 100, f"{what} amount")


@dataclass(frozen=True)
class HistoryMicro:
    """The history's lows and closes in micro-HK$ (`risk.stop_arrays.micro`), what every
    stop setting reads."""

    lows: np.ndarray
    close: np.ndarray


def history_micro(history: pd.DataFrame) -> HistoryMicro:
    """The lows and closes of `history` in micro-HK$ (once per history)."""
    from risk.stop_arrays import micro

    return HistoryMicro(
        micro(history["low"].to_numpy(dtype=float).tolist()),
        micro(history["close"].to_numpy(dtype=float).tolist()),
    )


def atr_micro(history: pd.DataFrame, period: int) -> np.ndarray:
    """The strategy's ATR of each session (`tranche_book.atr_levels`) in micro-HK$, as
    `stop_level` reads it (once per ATR period)."""
    from risk.stop_arrays import known_micro
    from strategies.tranche_book import atr_levels

    return known_micro(atr_levels(history, period))


def swing_micro(history: pd.DataFrame, k: int) -> np.ndarray:
    """The last confirmed swing low of each session (`tranche_book.last_swing_lows`) in
    micro-HK$ (once per swing `k`)."""
    from risk.stop_arrays import known_micro
    from strategies.tranche_book import last_swing_lows

    return known_micro(last_swing_lows(history, k))


def stop_levels(
    cfg: AppConfig,
    prices: HistoryMicro,
    atr: np.ndarray | None,
    swing: np.ndarray | None,
    first_index: int,
    market: Market,
) -> np.ndarray:
    """The stop rule's level (micro-HK$) decided at each traded session's close for the next
    session, by `risk.stop_arrays.stop_level_series` (the array twin of `stop_level`); -1
    where `stop_level` raises. `atr` and `swing` are needed only by the methods reading them."""
    from risk.stop_arrays import stop_level_series
    from strategies.tranche_book import stop_rule

    return stop_level_series(
        stop_rule(cfg), prices.lows, prices.close, atr, swing, first_index, market.table_next,
        market.next_ordinal, market.lower, market.upper, market.tick, market.bands,
    )  # fmt: skip


@dataclass(frozen=True)
class Fundamentals:
    """The fundamental state of each traded session, as the strategy reads it."""

    streak: np.ndarray
    action: np.ndarray  # ACTIONS code of what the lines demand together
    line_demand: np.ndarray  # 0 none, 2 trim, 3 exit (the first line in alarm with it)
    line_reason: np.ndarray  # exit reason code of that demand
    report: np.ndarray  # id of the newest report key, -1 none
    usable_from: np.ndarray  # ordinal of the newest report's first usable session
    ps_above: np.ndarray  # the P/S ceiling is exceeded at the close


def build_fundamentals(
    cfg: AppConfig, timeline: FundamentalTimeline, market: Market
) -> Fundamentals:
    """Every session's fundamental arrays from `timeline.at` (the backtest's own states)."""
    from strategies.tranche_book import report_key
    from xmtrade.backtest import fx_rate

    n = len(market.dates)
    streak = np.zeros(n, dtype=np.int64)
    action = np.zeros(n, dtype=np.int64)
    demand = np.zeros(n, dtype=np.int64)
    reason = np.zeros(n, dtype=np.int64)
    report = np.full(n, -1, dtype=np.int64)
    usable = np.full(n, -1, dtype=np.int64)
    ps_above = np.zeros(n, dtype=np.bool_)
    keys: dict[str, int] = {}
    ceiling = cfg.valuation.ps_ceiling
    fx = fx_rate(cfg)
    for j, day in enumerate(market.dates):
        state = timeline.at(day)
        streak[j] = state.streak
        action[j] = ACTIONS[state.action]
        found = False
        for code, name in ((3, "exit"), (2, "trim")):
            for line_no, line in state.lines.items():
                if line.status == "alarm" and line.action == name:
                    demand[j] = code
                    reason[j] = LINE_REASON_BASE + 2 * line_no + (0 if name == "exit" else 1)
                    found = True
                    break
            if found:
                break
        key = report_key(state)
        if key is not None:
            report[j] = keys.setdefault(key, len(keys))
        newest = state.newest
        if newest is not None:
            usable[j] = newest.usable_from.toordinal()
        per_share = state.revenue_per_share_rmb
        if ceiling is not None and per_share is not None and per_share > 0:
            ps = float(market.close[j]) / (per_share * fx(day))
            ps_above[j] = ps > ceiling
    return Fundamentals(streak, action, demand, reason, report, usable, ps_above)


def entry_arrays(cfg: AppConfig, signals: pd.DataFrame, first_index: int) -> tuple[Any, Any]:
    """(entry signal, RSI overbought) of each traded session, as the strategy combines them."""
    from strategies.signals import combine_entry

    entry = combine_entry(signals["rsi_oversold"], signals["divergence"], cfg.entry.require)
    return (
        entry.to_numpy(dtype=np.bool_)[first_index:].copy(),
        signals["rsi_overbought"].to_numpy(dtype=np.bool_)[first_index:].copy(),
    )
