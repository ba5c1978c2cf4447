"""chart.png of a run: price with entries, exits and stops; equity against buy and hold;
drawdown. Drawn with matplotlib's Agg backend (backtrader's own plotting needs a screen)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from xmtrade.backtest import BacktestResult


def stop_levels(result: BacktestResult) -> pd.Series:
    """The stop in force on each session (NaN when flat), from the decision log."""
    index = result.equity.index
    levels = pd.Series(float("nan"), index=index)
    active: dict[int, float] = {}
    changes: dict[pd.Timestamp, dict[int, float | None]] = {}
    for d in result.decisions:
        if d.get("action") in ("place_stop", "raise_stop"):
            # a stop decided after the close of `date` rests from the next session
            changes.setdefault(pd.Timestamp(d["stop"]["rests_from"]), {})[d["tranche"]] = d["stop"][
                "to"
            ]
    exits = {}
    for _, trade in result.trades.iterrows():
        if pd.notna(trade["exit_date"]):
            exits[pd.Timestamp(trade["exit_date"])] = int(trade["id"])
    for ts in index:
        for tranche, price in changes.get(ts, {}).items():
            if price is not None:
                active[tranche] = price
        if active:
            levels[ts] = max(active.values())
        if ts in exits:
            active.pop(exits[ts], None)
    return levels


def plot_run(result: BacktestResult, path: Path) -> None:
    """Draw the three-panel chart of a run into `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    equity = result.equity
    close = result.bars["close"]
    fig, (ax_price, ax_equity, ax_dd) = plt.subplots(
        3, 1, figsize=(13, 10), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1]}
    )
    symbol = result.config.instrument.symbol
    ax_price.plot(close.index, close.to_numpy(), color="#333333", lw=0.9, label=f"{symbol} close")
    ax_price.plot(
        equity.index,
        stop_levels(result).to_numpy(),
        color="#d62728",
        lw=1.0,
        drawstyle="steps-post",
        label="protective stop",
    )
    trades = result.trades
    if not trades.empty:
        ax_price.scatter(
            pd.to_datetime(trades["entry_date"]),
            trades["entry_price"],
            marker="^",
            color="#2ca02c",
            s=50,
            zorder=3,
            label="entry",
        )
        closed = trades[trades["exit_date"].notna()]
        ax_price.scatter(
            pd.to_datetime(closed["exit_date"]),
            closed["exit_price"],
            marker="v",
            color="#d62728",
            s=50,
            zorder=3,
            label="exit",
        )
    ax_price.set_ylabel("HK$")
    ax_price.set_title(
        f"{symbol} {result.start} to {result.end}  (config {result.config.config_hash()[:8]})"
    )
    ax_price.legend(loc="upper left", fontsize=8)
    ax_price.grid(alpha=0.3)

    initial = result.config.backtest.initial_nav
    bench = result.benchmark / result.benchmark.iloc[0] * initial
    ax_equity.plot(
        equity.index, equity["nav"].to_numpy(), color="#1f77b4", lw=1.0, label="strategy NAV"
    )
    ax_equity.plot(
        bench.index, bench.to_numpy(), color="#7f7f7f", lw=0.8, label="buy and hold (same capital)"
    )
    ax_equity.set_ylabel("HK$")
    ax_equity.legend(loc="upper left", fontsize=8)
    ax_equity.grid(alpha=0.3)

    bench_dd = bench / bench.cummax() - 1
    ax_dd.fill_between(
        equity.index,
        equity["drawdown"].to_numpy() * 100,
        0,
        color="#1f77b4",
        alpha=0.4,
        label="strategy",
    )
    ax_dd.plot(
        bench_dd.index, bench_dd.to_numpy() * 100, color="#7f7f7f", lw=0.6, label="buy and hold"
    )
    ax_dd.set_ylabel("drawdown %")
    ax_dd.legend(loc="lower left", fontsize=8)
    ax_dd.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
