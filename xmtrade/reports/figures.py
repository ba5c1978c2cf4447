"""The headline figures of a run (summary.json's top level, the sweep's ranked metrics) and
the JSON form of its decisions. The fuller statistics are in xmtrade/reports/stats.py, the
terminal's tables in xmtrade/reports/terminal.py, the run folder in
xmtrade/reports/run_folder.py."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from xmtrade import __version__
from xmtrade.backtest import BacktestResult


def max_drawdown(values: pd.Series) -> float:
    """The worst fall from a running peak, as a negative fraction (0 when it never fell)."""
    if values.empty:
        return 0.0
    return float((values / values.cummax() - 1.0).min())


# the figures of `sweep_figures` that open a summary, in its order
_HEAD = (
    "sessions", "initial_nav", "final_nav", "total_return", "cagr", "annual_volatility",
    "sharpe", "sortino", "max_drawdown", "calmar", "n_trades", "open_tranches", "win_rate",
    "profit_factor", "exposure",
)  # fmt: skip


def ranked_figures(
    *,
    initial: float,
    final: float,
    years: float,
    periods: float,
    mean_excess: float,
    vol: float,
    downside: float,
    mdd: float,
    closed: int,
    open_tranches: int,
    wins: int,
    gross_win: float,
    gross_loss: float,
    exposure: float,
) -> dict[str, Any]:
    """The return, risk and trade figures a sweep ranks by, from a run's NAV and trade
    statistics: one definition for the backtest's summary and the kernel's screening runs."""
    cagr = (final / initial) ** (1 / years) - 1.0 if years > 0 and final > 0 else None
    root = math.sqrt(periods)
    sharpe = mean_excess / vol * root if vol > 0 else None
    sortino = mean_excess / downside * root if downside > 0 else None
    calmar = cagr / abs(mdd) if cagr is not None and mdd < 0 else None
    return {
        "total_return": _ratio(final / initial - 1.0),
        "cagr": _ratio(cagr),
        "annual_volatility": _ratio(vol * root),
        "sharpe": _ratio(sharpe),
        "sortino": _ratio(sortino),
        "max_drawdown": _ratio(mdd),
        "calmar": _ratio(calmar),
        "n_trades": closed,
        "open_tranches": open_tranches,
        "win_rate": _ratio(wins / closed) if closed else None,
        "profit_factor": _ratio(gross_win / gross_loss) if gross_loss > 0 else None,
        "exposure": _ratio(exposure),
    }


def sweep_figures(result: BacktestResult) -> dict[str, Any]:
    """The figures of a run that a sweep ranks by (the first part of `summarize`), on plain
    arrays: what a sweep pays per run instead of the whole summary."""
    cfg = result.config
    nav = result.equity["nav"].to_numpy(dtype=float)
    initial = cfg.backtest.initial_nav
    final = float(nav[-1])
    returns = nav / np.concatenate(([initial], nav[:-1])) - 1.0
    periods = result.periods_per_year
    excess = returns - result.risk_free.to_numpy(dtype=float)
    trades = result.trades
    open_trade = (trades["exit_reason"] == "open").to_numpy()
    pnl = trades["pnl"].to_numpy(dtype=float)[~open_trade]
    figures = ranked_figures(
        initial=initial,
        final=final,
        years=(result.end - result.start).days / 365.25,
        periods=periods,
        mean_excess=float(excess.mean()),
        vol=float(returns.std(ddof=1)) if len(returns) > 1 else 0.0,
        downside=float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2))) if len(excess) else 0.0,
        mdd=float((nav / np.maximum.accumulate(nav) - 1.0).min()),
        closed=len(pnl),
        open_tranches=int(open_trade.sum()),
        wins=int((pnl > 0).sum()),
        gross_win=float(pnl[pnl > 0].sum()),
        gross_loss=float(-pnl[pnl <= 0].sum()),
        exposure=float((result.equity["shares"].to_numpy() > 0).mean()),
    )
    fills = result.fills
    fees_by_kind = {
        kind: _money(fills[kind].to_numpy(dtype=float).sum()) for kind in result.fee_kinds
    }
    return {
        "sessions": len(nav),
        "initial_nav": _money(initial),
        "final_nav": _money(final),
        **figures,
        "fees_paid": {"total": _money(sum(fees_by_kind.values())), "by_kind": fees_by_kind},
        "cap_breaches": int(trades["cap_breach"].to_numpy()[~open_trade].sum()),
        "stale_decisions": sum(
            1 for d in result.decisions if (d.get("fundamentals") or {}).get("stale")
        ),
        "periods_per_year": round(periods, 4),
    }


def summarize(result: BacktestResult) -> dict[str, Any]:
    """Every statistic of the run, as plain JSON-ready values."""
    cfg = result.config
    equity = result.equity
    figures = sweep_figures(result)
    trades = result.trades
    closed = trades[trades["exit_reason"] != "open"]
    bench = result.benchmark
    exits = closed["exit_reason"].value_counts().to_dict()
    decisions = result.decisions
    line_columns = sorted(c for c in equity.columns if c.startswith("line"))
    alarms: dict[str, dict[str, int]] = {}
    for column in line_columns:
        status = equity[column].fillna("unknown")
        in_alarm = status == "alarm"
        alarms[column] = {
            "alarms": int((in_alarm & ~in_alarm.shift(1, fill_value=False)).sum()),
            "sessions_in_alarm": int(in_alarm.sum()),
            "sessions_unknown": int((status == "unknown").sum()),
        }
    stages = equity["stage"].value_counts().to_dict()
    newest = [d for d in decisions if d.get("action") == "fundamentals"]
    last_report = newest[-1]["newest_report"] if newest else None

    return {
        "xmtrade_version": __version__,
        "symbol": cfg.instrument.symbol,
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        **{k: figures[k] for k in _HEAD},
        "exits_by_reason": {str(k): int(v) for k, v in sorted(exits.items())},
        "fees_paid": figures["fees_paid"],
        "cap_breaches": figures["cap_breaches"],
        "tranches_by_stage": {
            str(k): int(v) for k, v in sorted(trades["stage"].value_counts().to_dict().items())
        },
        "sessions_by_stage": {str(s): int(stages.get(s, 0)) for s in range(4)},
        "line_alarms": alarms,
        "stale_decisions": figures["stale_decisions"],
        "pre_open_skips": _pre_open_skips(decisions),
        "interest_on_cash": _money(float(equity["interest"].sum()))
        if "interest" in equity
        else 0.0,
        "periods_per_year": figures["periods_per_year"],
        "last_report": None
        if last_report is None
        else {
            "period": last_report["period"],
            "announced": last_report["announced"],
            "age_days_at_end": (result.end - _as_date(last_report["announced"])).days,
            "stale": (result.end - _as_date(last_report["announced"])).days
            > cfg.fundamentals.stale_after_days,
        },
        "benchmark_total_return": _ratio(float(bench.iloc[-1] / bench.iloc[0] - 1.0)),
        "benchmark_max_drawdown": _ratio(max_drawdown(bench)),
        "config_hash": cfg.config_hash(),
        "facts_digest": cfg.facts_digest(),
    }


def _pre_open_skips(decisions: list[dict[str, Any]]) -> dict[str, int]:
    """Entries the pre-opening check did not buy, by why: a gap at or below the stop, a held
    stop hit at the same open, or too small at the open."""
    counts = {"gap": 0, "stop_hit": 0, "size": 0}
    for d in decisions:
        if d.get("action") == "pre_open_check" and d["check"] != "buy":
            counts[str(d["check"]).removeprefix("skip_")] += 1
    return counts


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _ratio(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def _money(value: float) -> float:
    return round(float(value), 2)


def json_default(value: Any) -> Any:
    """JSON for the dates and numpy values of summaries and decisions."""
    if isinstance(value, date | datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def decision_line(decision: dict[str, Any]) -> str:
    """One decision as its line of decisions.jsonl (the paper ledger stores the same text)."""
    return json.dumps(decision, default=json_default)
