"""chart.png of a run: price with entries, exits and stops; equity against buy and hold;
drawdown. Drawn with matplotlib's Agg backend (backtrader's own plotting needs a screen)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    fig, (ax_price, ax_lines, ax_equity, ax_dd) = plt.subplots(
        4, 1, figsize=(13, 12), sharex=True, gridspec_kw={"height_ratios": [3, 0.7, 2, 1]}
    )
    _shade_stages(ax_price, equity)
    _mark_reports(ax_price, result)
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
    _line_strip(ax_lines, equity)

    initial = result.config.backtest.initial_nav
    bench = result.benchmark / result.benchmark.iloc[0] * initial
    ax_equity.plot(
        equity.index,
        equity["nav"].to_numpy(),
        color="#1f77b4",
        lw=1.0,
        label="strategy NAV (left axis)",
    )
    ax_equity.set_ylabel("strategy NAV, HK$", color="#1f77b4")
    ax_bench = ax_equity.twinx()
    ax_bench.plot(
        bench.index,
        bench.to_numpy(),
        color="#7f7f7f",
        lw=0.8,
        label="buy and hold, same capital (right axis)",
    )
    ax_bench.set_ylabel("buy and hold, HK$", color="#7f7f7f")
    handles = ax_equity.get_legend_handles_labels()[0] + ax_bench.get_legend_handles_labels()[0]
    ax_equity.legend(handles=handles, loc="upper left", fontsize=8)
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


STAGE_COLOURS = {1: "#c7e9c0", 2: "#74c476", 3: "#238b45"}
STATUS_COLOURS = {"ok": "#a1d99b", "alarm": "#de2d26", "unknown": "#d9d9d9"}


def runs_of(values: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp, object]]:
    """(first, last, value) of each run of equal values."""
    runs: list[tuple[pd.Timestamp, pd.Timestamp, object]] = []
    start: pd.Timestamp | None = None
    prev: object = None
    index = [pd.Timestamp(ts) for ts in values.index]
    for n, value in enumerate(values.to_numpy()):
        ts = index[n]
        if start is None or value != prev:
            if start is not None:
                runs.append((start, index[n], prev))
            start, prev = ts, value
    if start is not None:
        runs.append((start, index[-1], prev))
    return runs


def _shade_stages(ax: Any, equity: pd.DataFrame) -> None:
    for first, last, stage in runs_of(equity["stage"]):
        if stage in STAGE_COLOURS:
            ax.axvspan(first, last, color=STAGE_COLOURS[int(stage)], alpha=0.45, lw=0)
    for stage, colour in STAGE_COLOURS.items():
        ax.fill_between([], [], color=colour, alpha=0.45, label=f"stage {stage} held")


def _mark_reports(ax: Any, result: BacktestResult) -> None:
    first = True
    for decision in result.decisions:
        if decision.get("action") != "fundamentals" or not decision.get("newest_report"):
            continue
        ax.axvline(
            pd.Timestamp(decision["date"]),
            color="#6a51a3",
            lw=0.6,
            ls=":",
            label="report usable" if first else None,
        )
        first = False


def _line_strip(ax: Any, equity: pd.DataFrame) -> None:
    columns = sorted(c for c in equity.columns if c.startswith("line"))
    if not columns:
        ax.set_yticks([])
        ax.set_title("risk lines: none configured", fontsize=9, loc="left")
        return
    for row, column in enumerate(columns):
        for first, last, status in runs_of(equity[column].fillna("unknown")):
            ax.barh(
                row,
                (last - first).days or 1,
                left=first,
                height=0.8,
                color=STATUS_COLOURS.get(str(status), "#d9d9d9"),
                lw=0,
            )
    ax.set_yticks(range(len(columns)), [c.replace("line", "line ") for c in columns], fontsize=8)
    ax.set_ylim(-0.5, len(columns) - 0.5)
    ax.invert_yaxis()
    handles = [plt_patch(colour, status) for status, colour in STATUS_COLOURS.items()]
    ax.legend(handles=handles, loc="upper left", fontsize=7, ncol=3)
    ax.set_title("risk lines", fontsize=9, loc="left")


def plt_patch(colour: str, label: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(color=colour, label=label)
