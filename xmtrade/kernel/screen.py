"""Screening runs: a config in, the kernel's daily NAV, trades and sweep metrics out, with the
precomputed arrays shared by every combination of a sweep; and the parity check of a
kernel run against the backtrader run of the same config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit

from xmtrade.kernel.cache import PrecomputeCache, SectionIds
from xmtrade.kernel.kernel import (
    OK,
    STATUS,
    T_ENTRY_J,
    T_ENTRY_PRICE,
    T_EXIT_J,
    T_EXIT_PRICE,
    T_FEES,
    T_NAV_AT_ENTRY,
    T_REASON,
    T_SHARES,
    T_STAGE,
    run_kernel,
)
from xmtrade.kernel.precompute import (
    Market,
    Unsupported,
    atr_micro,
    build_fundamentals,
    build_market,
    entry_arrays,
    history_micro,
    reason_name,
    stop_levels,
    swing_micro,
)

if TYPE_CHECKING:
    import pandas as pd

    from xmtrade.backtest import BacktestResult
    from xmtrade.config import AppConfig

# metrics the kernel cannot compute (they count decision records it does not write)
NOT_SCREENED = frozenset({"stale_decisions"})
GAP_RULES = {"skip": 0, "reanchor": 1, "keep": 2}
BREAKER_RESETS = {"at_fire": 0, "none": 1, "after_sessions": 2}  # the kernel's RESET_*
NAV_TOLERANCE = 0.005  # HK$: a NAV that differs by a cent is a difference


@dataclass(frozen=True)
class KernelRun:
    """One kernel run: status, NAV per session, trade rows."""

    status: int
    at: date | None  # the session of a status other than OK
    dates: list[date]
    nav: np.ndarray
    trades_i: np.ndarray
    trades_f: np.ndarray
    config: AppConfig
    periods_per_year: float
    risk_free: np.ndarray

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def why(self) -> str:
        return f"{STATUS[self.status]} on {self.at}"

    def trades(self) -> list[tuple[Any, ...]]:
        """(stage, entry date, entry price, shares, exit date, exit price, reason, fees) of
        each trade, in the order the tranches opened."""
        rows = []
        for r in range(self.trades_i.shape[0]):
            ti, tf = self.trades_i[r], self.trades_f[r]
            exit_j = int(ti[T_EXIT_J])
            rows.append(
                (
                    int(ti[T_STAGE]),
                    self.dates[int(ti[T_ENTRY_J])],
                    float(tf[T_ENTRY_PRICE]),
                    int(ti[T_SHARES]),
                    None if exit_j < 0 else self.dates[exit_j],
                    None if exit_j < 0 else float(tf[T_EXIT_PRICE]),
                    reason_name(int(ti[T_REASON])),
                    int(ti[T_FEES]) / 100,
                )
            )
        return rows

    def metrics(self) -> dict[str, Any]:
        """The sweep's metrics of this run, by `figures.ranked_figures` as the backtest's."""
        from xmtrade.reports.figures import ranked_figures

        cfg = self.config
        nav = self.nav
        initial = cfg.backtest.initial_nav
        final = float(nav[-1])
        mean, vol, downside, mdd, _ = _nav_stats(nav, float(initial), self.risk_free)
        n_closed, n_wins, gross_win, gross_loss, breaches, fees = _trade_stats(
            self.trades_i, self.trades_f, cfg.sizing.risk_per_trade_pct
        )
        figures = ranked_figures(
            initial=initial,
            final=final,
            years=(self.dates[-1] - self.dates[0]).days / 365.25,
            periods=self.periods_per_year,
            mean_excess=mean,
            vol=vol,
            downside=downside,
            mdd=mdd,
            closed=n_closed,
            open_tranches=int(self.trades_i.shape[0] - n_closed),
            wins=n_wins,
            gross_win=gross_win,
            gross_loss=gross_loss,
            exposure=_exposure(self.trades_i, len(nav)),
        )
        return {
            **figures,
            "final_nav": round(final, 2),
            "cap_breaches": int(breaches),
            "stale_decisions": None,
            "fees_total": round(fees / 100, 2),
            "sessions": len(nav),
        }

    def returns(self) -> np.ndarray:
        previous = np.concatenate(([self.config.backtest.initial_nav], self.nav[:-1]))
        result: np.ndarray = self.nav / previous - 1.0
        return result


@njit(cache=True)
def _nav_stats(nav: np.ndarray, initial: float, risk_free: np.ndarray) -> tuple[float, ...]:
    """(mean excess return, volatility (ddof 1), downside deviation, max drawdown, 0) of a
    daily NAV, as `figures.summarize` computes them."""
    n = nav.shape[0]
    total = 0.0
    excess_total = 0.0
    downside = 0.0
    previous = initial
    peak = nav[0]
    mdd = 0.0
    returns = np.empty(n)
    for j in range(n):
        r = nav[j] / previous - 1.0
        returns[j] = r
        total += r
        e = r - risk_free[j]
        excess_total += e
        if e < 0:
            downside += e * e
        previous = nav[j]
        if nav[j] > peak:
            peak = nav[j]
        mdd = min(mdd, nav[j] / peak - 1.0)
    mean = total / n
    var = 0.0
    for j in range(n):
        var += (returns[j] - mean) ** 2
    vol = math.sqrt(var / (n - 1)) if n > 1 else 0.0
    return excess_total / n, vol, math.sqrt(downside / n), mdd, 0.0


@njit(cache=True)
def _exposure(ti: np.ndarray, n: int) -> float:
    """The share of sessions that close with shares held."""
    held = np.zeros(n + 1, dtype=np.int64)
    for r in range(ti.shape[0]):
        held[ti[r, T_ENTRY_J]] += 1
        held[ti[r, T_EXIT_J] if ti[r, T_EXIT_J] >= 0 else n] -= 1
    count = 0
    live = 0
    for j in range(n):
        live += held[j]
        if live > 0:
            count += 1
    return count / n


@njit(cache=True)
def _trade_stats(
    ti: np.ndarray, tf: np.ndarray, cap_pct: float
) -> tuple[int, int, float, float, int, int]:
    """(closed trades, winners, gross win, gross loss, cap breaches, fees in cents)."""
    closed = wins = breaches = fees = 0
    gross_win = gross_loss = 0.0
    for r in range(ti.shape[0]):
        fees += ti[r, T_FEES]
        if ti[r, T_EXIT_J] < 0:
            continue
        closed += 1
        gross = (tf[r, T_EXIT_PRICE] - tf[r, T_ENTRY_PRICE]) * ti[r, T_SHARES]
        pnl = round(gross - ti[r, T_FEES] / 100, 2)
        if pnl > 0:
            wins += 1
            gross_win += pnl
        else:
            gross_loss -= pnl
        if pnl < -cap_pct / 100 * round(tf[r, T_NAV_AT_ENTRY], 2):
            breaches += 1
    return closed, wins, gross_win, gross_loss, breaches, fees


class Screener:
    """Kernel runs over one price history. Each precomputed input is built once per key of
    what it depends on and kept in a byte-bounded LRU (`PrecomputeCache`): the window, the
    market arrays (spread tables, charges, cash), the RSI and divergence per indicator
    setting, the stop levels per stop setting, the fundamental states per fundamentals
    setting. The thresholds (RSI oversold and overbought, the entry's `require`) are applied
    per run, and every other number is a kernel parameter, so sweeping them costs kernel
    time only."""

    def __init__(
        self, bars: pd.DataFrame, facts: dict[str, Any] | None = None, budget: int | None = None
    ) -> None:
        self.bars = bars
        self.facts = facts or {}
        self.cache = PrecomputeCache(budget)
        self._id = SectionIds()

    def _get(self, key: Any, make: Any) -> Any:
        return self.cache.get(key, make)

    def run(
        self,
        cfg: AppConfig,
        start: date | None = None,
        end: date | None = None,
        signals: pd.DataFrame | None = None,
    ) -> KernelRun:
        """The kernel run of `cfg` over [start, end] (on `signals` when given, as
        `run_backtest` takes them); raises `Unsupported` for a config it cannot mirror."""
        import pandas as pd

        from xmtrade.backtest import cash_rate, resolve_window, risk_free, sessions_per_year
        from xmtrade.sweep.work import _calendar

        window_key = (start, end, cfg.backtest.start, cfg.backtest.end)

        def window_of() -> tuple[Any, ...]:
            first, last = resolve_window(cfg, self.bars, start, end)
            history = self.bars.loc[: pd.Timestamp(last)]
            return first, last, history, int(history.index.searchsorted(pd.Timestamp(first)))

        first, last, history, first_index = self._get(("window", window_key), window_of)
        calendar = _calendar(cfg)
        window = (first, last)
        market_key = (window, self._id(cfg.market), self._id(cfg.costs), self._id(cfg.cash))
        market = self._get(
            ("market", market_key),
            lambda: build_market(cfg, history.iloc[first_index:], calendar),
        )
        if signals is None:
            sig = cfg.signals
            rsi = self._get(
                ("rsi", sig.rsi.period, window), lambda: _rsi(cfg, history, first_index)
            )
            divergence = self._get(
                ("divergence", self._id(sig.macd), self._id(sig.divergence), window),
                lambda: _divergence(cfg, history, first_index),
            )
            entry, overbought = entry_signals(
                rsi,
                divergence,
                cfg.signals.rsi.oversold,
                math.nan if cfg.exits.rsi_overbought is None else cfg.exits.rsi_overbought,
                cfg.entry.require == "all",
            )
        else:
            entry, overbought = entry_arrays(cfg, signals.loc[: pd.Timestamp(last)], first_index)
        stops = self._stops(cfg, history, first_index, market, market_key, last)
        fundamentals_key = (
            self._id(cfg.fundamentals),
            self._id(cfg.gate),
            self._id(cfg.risk.rules),
            cfg.risk.on_unknown,
            self._id(cfg.valuation),
            market_key,
        )
        funda = self._get(
            ("fundamentals", fundamentals_key),
            lambda: build_fundamentals(cfg, self._timeline(cfg, calendar), market),
        )
        iparams, fparams = _params(cfg)
        n = len(market.dates)
        nav = np.zeros(n, dtype=np.float64)
        trades_i = np.zeros((n + 1, 6), dtype=np.int64)
        trades_f = np.zeros((n + 1, 5), dtype=np.float64)
        m, f = market, funda
        status, at, rows = run_kernel(
            m.open, m.high, m.low, m.close, m.no_trading, m.ordinal, m.table_today,
            m.table_next, m.regime_today, m.regime_next, m.lower, m.upper, m.tick, m.bands,
            m.rates, m.per_trade, m.minimum, m.maximum, m.modes, m.cash_rate, m.days,
            entry, overbought, stops, f.streak, f.action, f.line_demand, f.line_reason,
            f.report, f.usable_from, f.ps_above, iparams, fparams, nav, trades_i, trades_f,
        )  # fmt: skip
        extra = self._get(
            ("stats", market_key),
            lambda: (
                sessions_per_year(calendar, first, last),
                risk_free(history.index[first_index:], cash_rate(cfg)).to_numpy(dtype=float),
            ),
        )
        return KernelRun(
            status=int(status),
            at=None if status == OK else market.dates[min(int(at), n - 1)],
            dates=market.dates,
            nav=nav,
            trades_i=trades_i[:rows].copy(),
            trades_f=trades_f[:rows].copy(),
            config=cfg,
            periods_per_year=extra[0],
            risk_free=extra[1],
        )

    def _stops(
        self,
        cfg: AppConfig,
        history: pd.DataFrame,
        first_index: int,
        market: Market,
        market_key: Any,
        last: date,
    ) -> np.ndarray:
        """The stop levels of `cfg.stop` (keyed by the stop section and the market), from the
        history's prices and the ATR or swing lows of its period or `k`, each kept once."""
        stop = cfg.stop

        def build() -> np.ndarray:
            prices = self._get(("prices_micro", last), lambda: history_micro(history))
            atr = swing = None
            if stop.method in ("atr", "lowest_low_atr"):
                atr = self._get(
                    ("atr", stop.atr_period, last), lambda: atr_micro(history, stop.atr_period)
                )
            if stop.method == "swing_low":
                swing = self._get(
                    ("swing", stop.swing_k, last), lambda: swing_micro(history, stop.swing_k)
                )
            return stop_levels(cfg, prices, atr, swing, first_index, market)

        levels: np.ndarray = self._get(("stops", self._id(stop), market_key), build)
        return levels

    def _timeline(self, cfg: AppConfig, calendar: Any) -> Any:
        from data_feeds.fundamentals import PointInTimeFacts
        from strategies.fundamental_state import FundamentalTimeline
        from xmtrade.backtest import load_fundamentals

        facts = self.facts.get(str(cfg.fundamentals.file))
        if facts is None:
            return load_fundamentals(cfg, calendar)
        return FundamentalTimeline(
            PointInTimeFacts(facts, calendar, cfg.fundamentals.decision_time), cfg
        )


def _rsi(cfg: AppConfig, history: pd.DataFrame, first_index: int) -> np.ndarray:
    """The RSI of each traded session (`signals.rsi_series`, the backtest's column)."""
    from strategies.signals import rsi_series

    return rsi_series(history, cfg.signals.rsi.period)[first_index:].copy()


def _divergence(cfg: AppConfig, history: pd.DataFrame, first_index: int) -> np.ndarray:
    """The MACD divergence of each traded session (`signals.divergence_series`)."""
    from strategies.signals import divergence_series

    sig = cfg.signals
    fire = divergence_series(
        history,
        macd_fast=sig.macd.fast,
        macd_slow=sig.macd.slow,
        macd_signal=sig.macd.signal,
        divergence_lookback=sig.divergence.lookback,
        swing_k=sig.divergence.swing_k,
    )
    return fire[first_index:].copy()


@njit(cache=True)
def entry_signals(
    rsi: np.ndarray, divergence: np.ndarray, oversold: float, overbought: float, both: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(entry signal, RSI overbought) of each session, as `compute_signals` and
    `combine_entry` make them: RSI below `oversold` (NaN: no), with the divergence (`both`)
    or either; RSI above `overbought` (NaN: the exit is off)."""
    n = rsi.shape[0]
    entry = np.zeros(n, dtype=np.bool_)
    high = np.zeros(n, dtype=np.bool_)
    for j in range(n):
        low = rsi[j] < oversold
        entry[j] = (low and divergence[j]) if both else (low or divergence[j])
        high[j] = rsi[j] > overbought
    return entry, high


def _params(cfg: AppConfig) -> tuple[np.ndarray, np.ndarray]:
    """The config's numbers in the kernel's parameter arrays."""
    breaker = cfg.risk.drawdown_breaker
    exits = cfg.exits
    stages = cfg.stages
    weights = cfg.sizing.target_weight_pct
    if cfg.costs.slippage_ticks < 0:
        raise Unsupported("negative slippage")
    iparams = np.array(
        [
            cfg.costs.slippage_ticks,
            cfg.instrument.board_lot,
            stages.max_stage,
            stages.core_after_passes,
            stages.full_after_passes,
            1 if stages.add_on == "announcement" else 0,
            stages.min_sessions_between_tranches,
            1 if stages.one_step_per_report else 0,
            GAP_RULES[cfg.entry.gap_rule],
            0 if breaker is None else 1,
            0 if breaker is None else breaker.cooldown_sessions,
            1 if breaker is not None and breaker.basis == "nav" else 0,
            0 if exits.rsi_overbought is None else 1,
            -1 if exits.max_holding_sessions is None else exits.max_holding_sessions,
            1 if exits.trailing_stop else 0,
            0 if breaker is None else BREAKER_RESETS[breaker.reset_mode],
            0 if breaker is None else breaker.reset_sessions,
        ],
        dtype=np.int64,
    )
    fparams = np.array(
        [
            weights.tactical,
            weights.core,
            weights.full,
            cfg.sizing.max_weight_pct,
            cfg.sizing.risk_per_trade_pct,
            0.0 if breaker is None else breaker.max_drawdown_pct,
            float(cfg.backtest.initial_nav),
        ],
        dtype=np.float64,
    )
    return iparams, fparams


def first_difference(run: KernelRun, result: BacktestResult) -> str | None:
    """Where a kernel run and the backtrader run of the same config first differ (the daily
    NAV by a cent, or a trade), in words; None when they agree."""
    nav = result.equity["nav"].to_numpy(dtype=float)
    if len(nav) != len(run.nav):
        return f"{len(run.nav)} sessions in the kernel, {len(nav)} in backtrader"
    off = np.flatnonzero(np.abs(nav - run.nav) >= NAV_TOLERANCE)
    nav_at = int(off[0]) if len(off) else None
    theirs = _backtrader_trades(result)
    ours = run.trades()
    trade_at = None
    for k in range(max(len(ours), len(theirs))):
        a = ours[k] if k < len(ours) else None
        b = theirs[k] if k < len(theirs) else None
        if a is None or b is None or not _same_trade(a, b):
            trade_at = k
            break
    if nav_at is None and trade_at is None:
        return None
    nav_day = run.dates[nav_at] if nav_at is not None else None
    if trade_at is not None:
        a = ours[trade_at] if trade_at < len(ours) else None
        b = theirs[trade_at] if trade_at < len(theirs) else None
        day = min(d for d in (a and a[1], b and b[1], nav_day) if d is not None)
        return f"first differing session {day}: trade {trade_at + 1} kernel {a} backtrader {b}"
    return (
        f"first differing session {nav_day}: NAV kernel {run.nav[nav_at]:.2f} "
        f"backtrader {nav[nav_at]:.2f}"
    )


def _backtrader_trades(result: BacktestResult) -> list[tuple[Any, ...]]:
    rows = []
    for t in result.trades.to_dict("records"):
        exit_date = t["exit_date"]
        rows.append(
            (
                int(t["stage"]),
                t["entry_date"],
                float(t["entry_price"]),
                int(t["shares"]),
                None if exit_date is None or exit_date != exit_date else exit_date,
                None if t["exit_price"] is None or t["exit_price"] != t["exit_price"]
                else float(t["exit_price"]),
                str(t["exit_reason"]),
                round(float(t["fees"]), 2),
            )
        )  # fmt: skip
    return rows


def _same_trade(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    for x, y in zip(a, b, strict=True):
        if isinstance(x, float) and isinstance(y, float):
            if abs(x - y) > 1e-9:
                return False
        elif x != y:
            return False
    return True


__all__ = ["NOT_SCREENED", "KernelRun", "Screener", "Unsupported", "first_difference"]
