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


def plot_run(result: BacktestResult, path: Path, summary: dict[str, Any] | None = None) -> None:
    """Draw the chart of a run into `path`: price with trades (and the last year close up when
    it has trades), the risk lines when configured, equity against buy and hold on one axis
    rebased to 100, and the strategy's drawdown with its longest spells marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    equity = result.equity
    close = result.bars["close"]
    lines = sorted(c for c in equity.columns if c.startswith("line"))
    recent = _recent_window(result)
    panels: list[tuple[str, float]] = [("price", 3.0)]
    if recent is not None:
        panels.append(("recent", 2.2))
    if lines:
        panels.append(("lines", 0.25 + 0.25 * len(lines)))
    panels += [("equity", 2.0), ("drawdown", 1.1)]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(13, 2.2 + 2.3 * sum(h for _, h in panels) / 2),
        gridspec_kw={"height_ratios": [h for _, h in panels]},
    )
    ax = dict(zip([name for name, _ in panels], axes, strict=True))
    shared = [ax[name] for name in ("price", "lines", "equity", "drawdown") if name in ax]
    for other in shared[1:]:
        other.sharex(shared[0])
    symbol = result.config.instrument.symbol
    _price_panel(ax["price"], result, close, equity)
    ax["price"].set_title(
        f"{symbol} {result.start} to {result.end}  (config {result.config.config_hash()[:8]})"
    )
    _outside_legend(ax["price"])
    if recent is not None:
        first, last = recent
        _price_panel(ax["recent"], result, close, equity, first, last)
        ax["recent"].set_title(f"close up: {first.date()} to {last.date()}", fontsize=9, loc="left")
    if lines:
        _line_strip(ax["lines"], equity)

    weight = float(equity["weight"].mean())
    initial = result.config.backtest.initial_nav
    strategy = equity["nav"] / initial * 100
    bench = result.benchmark / result.benchmark.iloc[0] * 100
    matched = 100 * (1 + result.benchmark.pct_change().fillna(0.0) * weight).cumprod()
    ax_eq = ax["equity"]
    ax_eq.plot(bench.index, bench.to_numpy(), color="#7f7f7f", lw=0.8, label="buy and hold")
    ax_eq.plot(
        matched.index,
        matched.to_numpy(),
        color="#ff7f0e",
        lw=1.0,
        ls="--",
        label=f"stock at the strategy's average weight ({weight:.2%})",
    )
    ax_eq.plot(strategy.index, strategy.to_numpy(), color="#1f77b4", lw=1.4, label="strategy")
    ax_eq.axhline(100, color="0.4", lw=0.6)
    ax_eq.set_ylabel("growth of 100")
    ax_eq.set_title("equity, one axis, rebased to 100", fontsize=9, loc="left")
    ax_eq.grid(alpha=0.3)
    _outside_legend(ax_eq)

    ax_dd = ax["drawdown"]
    under = (equity["nav"] / equity["nav"].cummax() - 1) * 100
    ax_dd.fill_between(under.index, under.to_numpy(), 0, color="#1f77b4", alpha=0.45, lw=0)
    from xmtrade.reports.stats import longest_drawdowns

    for n, dd in enumerate(longest_drawdowns(equity["nav"], 3), start=1):
        end = pd.Timestamp(dd["recovered"]) if dd["recovered"] else equity.index[-1]
        depth = dd["depth"] * 100
        ax_dd.plot([pd.Timestamp(dd["peak"]), end], [depth, depth], color="#d62728", lw=1.5)
        ax_dd.annotate(
            f"#{n} {dd['days']:,} days" + ("" if dd["recovered"] else ", not recovered"),
            (pd.Timestamp(dd["peak"]), depth),
            xytext=(2, 3),
            textcoords="offset points",
            fontsize=8,
            color="#b91c1c",
        )
    bench_dd = (result.benchmark / result.benchmark.cummax() - 1).min()
    ax_dd.set_ylabel("below peak, %")
    ax_dd.set_title(
        f"strategy drawdown (buy and hold's worst: {bench_dd:.1%}, off this scale)",
        fontsize=9,
        loc="left",
    )
    ax_dd.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


RECENT_DAYS = 365
RECENT_MIN_TRADES = 6


def _recent_window(result: BacktestResult) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The last year of the run, when it holds enough trades to crowd the full-length panel."""
    index = result.equity.index
    last = pd.Timestamp(index[-1])
    first = max(pd.Timestamp(index[0]), last - pd.Timedelta(days=RECENT_DAYS))
    if first <= pd.Timestamp(index[0]):
        return None
    entries = pd.to_datetime(result.trades["entry_date"])
    return (first, last) if int((entries >= first).sum()) >= RECENT_MIN_TRADES else None


def _price_panel(
    ax: Any,
    result: BacktestResult,
    close: pd.Series,
    equity: pd.DataFrame,
    first: pd.Timestamp | None = None,
    last: pd.Timestamp | None = None,
) -> None:
    def within(frame: Any) -> Any:
        if first is None:
            return frame
        return frame.loc[first:last]

    shown_equity = within(equity)
    _shade_stages(ax, shown_equity)
    _mark_reports(ax, result, first, last)
    shown_close = within(close)
    symbol = result.config.instrument.symbol
    ax.plot(
        shown_close.index, shown_close.to_numpy(), color="#333333", lw=0.9, label=f"{symbol} close"
    )
    stops = within(stop_levels(result))
    ax.plot(
        stops.index,
        stops.to_numpy(),
        color="#d62728",
        lw=1.0,
        drawstyle="steps-post",
        label="protective stop",
    )
    trades = result.trades
    if not trades.empty:
        entry_dates = pd.to_datetime(trades["entry_date"])
        keep = (
            entry_dates.between(first, last)
            if first is not None and last is not None
            else entry_dates.notna()
        )
        ax.scatter(
            entry_dates[keep],
            trades.loc[keep, "entry_price"],
            marker="^",
            color="#2ca02c",
            edgecolors="#124d12",
            linewidths=0.6,
            s=36 if first is None else 60,
            zorder=3,
            label="entry",
        )
        closed = trades[trades["exit_date"].notna()]
        exit_dates = pd.to_datetime(closed["exit_date"])
        keep = (
            exit_dates.between(first, last)
            if first is not None and last is not None
            else exit_dates.notna()
        )
        ax.scatter(
            exit_dates[keep],
            closed.loc[keep, "exit_price"],
            marker="v",
            color="#d62728",
            edgecolors="#5c0f10",
            linewidths=0.6,
            s=36 if first is None else 60,
            zorder=3,
            label="exit",
        )
    ax.set_ylabel("HK$")
    ax.grid(alpha=0.3)
    if first is not None:
        ax.set_xlim(first, last)


def _outside_legend(ax: Any) -> None:
    """The legend to the right of the axes, off the data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)


STAGE_COLOURS = {1: "#fdae61", 2: "#74c476", 3: "#238b45"}
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
            ax.axvspan(first, last, color=STAGE_COLOURS[int(stage)], alpha=0.3, lw=0)
    for stage, colour in STAGE_COLOURS.items():
        ax.fill_between([], [], color=colour, alpha=0.3, label=f"stage {stage} held")


def _mark_reports(
    ax: Any, result: BacktestResult, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> None:
    first = True
    for decision in result.decisions:
        if decision.get("action") != "fundamentals" or not decision.get("newest_report"):
            continue
        day = pd.Timestamp(decision["date"])
        if start is not None and end is not None and not start <= day <= end:
            continue
        ax.axvline(day, color="#6a51a3", lw=0.6, ls=":", label="report usable" if first else None)
        first = False


def _line_strip(ax: Any, equity: pd.DataFrame) -> None:
    columns = sorted(c for c in equity.columns if c.startswith("line"))
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
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, frameon=False
    )
    ax.set_title("risk lines", fontsize=9, loc="left")


def plt_patch(colour: str, label: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(color=colour, label=label)
