"""The fuller statistics of a run, kept in summary.json beside `figures.summarize`'s: drawdown
periods, yearly and monthly returns, trade figures, weights, the benchmark's own figures and
a weight-matched benchmark.

Computed here with pandas rather than imported from quantstats or empyrical-reloaded: both
are maintained, but importing either costs about a second (empyrical-reloaded loads
scipy.stats and yfinance, quantstats matplotlib and seaborn) on every backtest, more than the
chart that `--report none` saves, for five textbook formulas. The tests check every figure
against empyrical-reloaded and against the run's own equity.csv and trades.csv."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from xmtrade.backtest import BacktestResult

LONGEST_DRAWDOWNS = 5


def daily_returns(nav: pd.Series, initial: float) -> pd.Series:
    """Session returns of a NAV series, the first one measured from `initial`."""
    previous = nav.shift(1)
    previous.iloc[0] = initial
    return (nav / previous - 1.0).astype(float)


def drawdown_periods(nav: pd.Series) -> list[dict[str, Any]]:
    """Every fall below a running peak: the peak's date, the trough, the session it was made
    good (None while still under water), its depth and its length in sessions and days."""
    peak = nav.cummax()
    under = nav < peak
    periods: list[dict[str, Any]] = []
    dates = nav.index
    n = 0
    while n < len(nav):
        if not under.iloc[n]:
            n += 1
            continue
        start = n - 1 if n > 0 else 0
        end = n
        while end < len(nav) and under.iloc[end]:
            end += 1
        span = nav.iloc[start:end]
        trough = dates[start + int(span.to_numpy().argmin())]
        recovered = dates[end] if end < len(nav) else None
        last = recovered if recovered is not None else dates[-1]
        periods.append(
            {
                "peak": dates[start].date().isoformat(),
                "trough": trough.date().isoformat(),
                "recovered": None if recovered is None else recovered.date().isoformat(),
                "depth": _ratio(float(span.min() / nav.iloc[start] - 1.0)),
                "sessions": int((end if recovered is not None else len(nav) - 1) - start),
                "days": int((last - dates[start]).days),
            }
        )
        n = end
    return periods


def longest_drawdowns(nav: pd.Series, count: int = LONGEST_DRAWDOWNS) -> list[dict[str, Any]]:
    """The `count` longest drawdown periods, longest first."""
    periods = drawdown_periods(nav)
    return sorted(periods, key=lambda p: (-p["days"], p["peak"]))[:count]


def period_returns(returns: pd.Series) -> tuple[dict[str, float | None], dict[str, Any]]:
    """Compounded returns of each calendar year, and of each month keyed by year."""
    growth = 1.0 + returns
    index = pd.DatetimeIndex(returns.index)
    yearly = growth.groupby(index.year).prod() - 1.0
    monthly = growth.groupby([index.year, index.month]).prod() - 1.0
    years = {str(y): _ratio(float(v)) for y, v in zip(yearly.index, yearly.to_numpy(), strict=True)}
    months: dict[str, dict[str, float | None]] = {}
    for key, value in zip(monthly.index, monthly.to_numpy(), strict=True):
        year, month = key
        months.setdefault(str(year), {})[f"{int(month):02d}"] = _ratio(float(value))
    return years, months


def series_figures(
    returns: pd.Series, risk_free_per_session: float | np.ndarray, per_year: float
) -> dict[str, Any]:
    """Total return, CAGR, volatility, Sharpe and maximum drawdown of a session-return
    series, annualised over `per_year` sessions; the risk-free return per session is a
    number or one value per session."""
    values = returns.to_numpy(dtype=float)
    if len(values) < 2:
        return {
            "total_return": None,
            "cagr": None,
            "annual_volatility": None,
            "sharpe": None,
            "max_drawdown": None,
        }
    growth = np.cumprod(1.0 + values)
    final = float(growth[-1])
    sd = float(values.std(ddof=1))
    excess = values - risk_free_per_session
    peaks = np.maximum.accumulate(np.concatenate([[1.0], growth]))[1:]
    index = pd.DatetimeIndex(returns.index)
    years = (index[-1] - index[0]).days / 365.25
    return {
        "total_return": _ratio(final - 1.0),
        # by calendar time and Sharpe on the raw volatility, as `figures.summarize` does
        "cagr": _ratio(final ** (1 / years) - 1.0) if final > 0 and years > 0 else None,
        "annual_volatility": _ratio(sd * math.sqrt(per_year)),
        "sharpe": _ratio(float(excess.mean()) / sd * math.sqrt(per_year)) if sd > 0 else None,
        "max_drawdown": _ratio(float(min(0.0, (growth / peaks - 1.0).min()))),
    }


def trade_figures(trades: pd.DataFrame, last_close: float) -> dict[str, Any]:
    """Average win and loss, expectancy, best and worst, holding time; open positions' P&L."""
    closed = trades[trades["exit_reason"] != "open"]
    pnl = closed["pnl"].astype(float)
    wins, losses = pnl[pnl > 0], pnl[pnl <= 0]
    held_days = (pd.to_datetime(closed["exit_date"]) - pd.to_datetime(closed["entry_date"])).dt.days
    best = closed.iloc[int(pnl.to_numpy().argmax())] if len(closed) else None
    worst = closed.iloc[int(pnl.to_numpy().argmin())] if len(closed) else None
    still_open = trades[trades["exit_reason"] == "open"]
    open_pnl = float(
        (still_open["shares"] * (last_close - still_open["entry_price"].astype(float))).sum()
    )
    return {
        "closed": len(closed),
        "wins": len(wins),
        "losses": len(losses),
        "average_win": _money(wins.mean()) if len(wins) else None,
        "average_loss": _money(losses.mean()) if len(losses) else None,
        "average_win_pct_nav": _pct(closed.loc[wins.index, "pnl_pct_nav"].mean())
        if len(wins)
        else None,
        "average_loss_pct_nav": _pct(closed.loc[losses.index, "pnl_pct_nav"].mean())
        if len(losses)
        else None,
        "expectancy": _money(pnl.mean()) if len(pnl) else None,
        "expectancy_pct_nav": _pct(closed["pnl_pct_nav"].mean()) if len(pnl) else None,
        "best": None if best is None else _trade_brief(best),
        "worst": None if worst is None else _trade_brief(worst),
        "average_sessions_held": _ratio(float(closed["sessions_held"].mean()))
        if len(closed)
        else None,
        "average_days_held": _ratio(float(held_days.mean())) if len(closed) else None,
        "open_positions": {
            "tranches": len(still_open),
            "shares": int(still_open["shares"].sum()),
            "last_close": round(float(last_close), 4),
            "unrealised_pnl": _money(open_pnl),
        },
    }


def _trade_brief(trade: pd.Series) -> dict[str, Any]:
    return {
        "id": int(trade["id"]),
        "entry_date": str(trade["entry_date"])[:10],
        "exit_date": str(trade["exit_date"])[:10],
        "pnl": _money(trade["pnl"]),
        "pnl_pct_nav": _pct(trade["pnl_pct_nav"]),
        "exit_reason": str(trade["exit_reason"]),
    }


def statistics(result: BacktestResult) -> dict[str, Any]:
    """The fuller statistics of a run (the `statistics` section of summary.json)."""
    cfg = result.config
    equity = result.equity
    nav = equity["nav"].astype(float)
    initial = float(cfg.backtest.initial_nav)
    index = pd.DatetimeIndex(equity.index)
    # the backtest's own annualisation and risk-free series (the calendar's sessions a year,
    # the dated cash rate), so these figures agree with summarize's Sharpe and Sortino
    per_year = float(result.periods_per_year)
    risk_free = result.risk_free.reindex(index, fill_value=0.0).to_numpy(dtype=float)
    returns = pd.Series(daily_returns(nav, initial).to_numpy(), index=index)
    closes = result.benchmark.astype(float)
    bench_returns = pd.Series(closes.pct_change().fillna(0.0).to_numpy(), index=index)
    weight = equity["weight"].astype(float)
    invested = weight[weight > 0]
    average_weight = float(weight.mean())
    matched_returns = bench_returns * average_weight
    years, months = period_returns(returns)
    bench_years, bench_months = period_returns(bench_returns)
    periods = drawdown_periods(nav)
    current = periods[-1] if periods and periods[-1]["recovered"] is None else None
    peak_date = index[int(nav.to_numpy().argmax())]
    return {
        "sessions_per_year": round(per_year, 4),
        "risk_free_per_session_mean": _ratio(float(risk_free.mean())) if len(risk_free) else 0.0,
        "drawdowns": {
            "count": len(periods),
            "longest": longest_drawdowns(nav),
            "current": current,
            "peak_nav": _money(nav.max()),
            "peak_date": peak_date.date().isoformat(),
        },
        "yearly_returns": years,
        "monthly_returns": months,
        "trades": trade_figures(result.trades, float(closes.iloc[-1])),
        "weight": {
            "average": _ratio(average_weight),
            "average_when_invested": _ratio(float(invested.mean())) if len(invested) else None,
            "maximum": _ratio(float(weight.max())),
            "time_in_market": _ratio(float((equity["shares"] > 0).mean())),
        },
        "strategy": series_figures(returns, risk_free, per_year),
        "benchmark": {
            **series_figures(bench_returns, risk_free, per_year),
            "yearly_returns": bench_years,
            "monthly_returns": bench_months,
        },
        "weight_matched_benchmark": {
            "weight": _ratio(average_weight),
            "note": "the stock held at the strategy's average weight, rebalanced every "
            "session, the rest in cash",
            **series_figures(matched_returns, risk_free, per_year),
        },
    }


def _ratio(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def _pct(value: Any) -> float | None:
    """trades.csv keeps P&L as a percentage of NAV: kept as a fraction here like every
    other ratio of summary.json."""
    return _ratio(float(value) / 100.0)


def _money(value: Any) -> float:
    return round(float(value), 2)


def run_summary(result: BacktestResult) -> dict[str, Any]:
    """summary.json of a run folder: `figures.summarize`'s figures and, under `statistics`,
    the fuller ones of this module."""
    from xmtrade.reports.figures import summarize

    summary = summarize(result)
    summary["statistics"] = statistics(result)
    return summary
