"""Walk-forward validation: choose the best combination on each training span, trade it on
the test span that follows, and stitch the test spans into one out-of-sample equity curve.

Windows are cut on calendar boundaries from the first session: boundary k is
first + train + k x test. Test span k holds the sessions in [boundary k, boundary k+1);
its training span holds the sessions before boundary k, back to boundary k - train
(rolling) or to the first session (`anchored`). So a test span starts at the session after
its training span ends and never overlaps it. The last test span may be cut short by the end
of the data (marked `partial`). Every run warms its indicators up on all the bars before its
span (`run_backtest`'s start/end), so a span sees exactly what it would have seen live.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xmtrade.interrupts import checkpoint, critical, outputs_complete
from xmtrade.reports.figures import max_drawdown
from xmtrade.sweep.output import cell, prepare_folder, write_table
from xmtrade.sweep.owner import Owner
from xmtrade.sweep.partial import RunFolder, Stopped, partial_name
from xmtrade.sweep.progress import Progress
from xmtrade.sweep.runner import (
    Row,
    best_of,
    build_configs,
    execute,
    overfitting,
    rank,
    read_shared,
    to_row,
)
from xmtrade.sweep.windows import Span, Window, make_windows, window_label
from xmtrade.sweep.work import Outcome, RunFunction, Task

if TYPE_CHECKING:
    from xmtrade.config import AppConfig, ConfigLayers
    from xmtrade.sweep.executors import Executor
    from xmtrade.sweep.grid import Grid

MARKER = "walkforward.json"
# a window whose best in-sample Sharpe is below this stays in cash: a combination that did
# not beat cash on its own training span is not deployed
DEFAULT_MIN_TRAIN_SHARPE = 0.0
EFFICIENCY_NA = "n/a: in-sample CAGR ≤ 0"
# how each overall figure is computed, written beside them in walkforward.json
FIGURES_FROM = {
    "out_of_sample": "the stitched out-of-sample curve (every test span chained), except "
    "mean_window_*: the mean of the windows' own out-of-sample figures",
    "in_sample": "the mean of the windows' winners' in-sample figures",
    "walk_forward_efficiency": "stitched out-of-sample CAGR / mean in-sample CAGR, only when "
    "the in-sample CAGR is above 0",
}


def walk_forward_efficiency(
    oos_cagr: float | None, mean_is_cagr: float | None
) -> tuple[float | None, str | None]:
    """(out-of-sample CAGR / mean in-sample CAGR, None) when the in-sample CAGR is above 0;
    (None, why) otherwise: a ratio of two losses reads as a success."""
    if mean_is_cagr is not None and mean_is_cagr <= 0:
        return None, EFFICIENCY_NA
    if oos_cagr is None or mean_is_cagr is None:
        return None, None
    return _ratio(oos_cagr / mean_is_cagr), None


def below_floor(best: Row, min_train_sharpe: float | None) -> bool:
    """The winner's in-sample Sharpe is under the floor (or unknown while there is one)."""
    if min_train_sharpe is None:
        return False
    sharpe = best.value("sharpe")
    return sharpe is None or sharpe < min_train_sharpe


def plan_windows(
    base: AppConfig,
    bars: pd.DataFrame,
    start: date | None,
    end: date | None,
    train: Span,
    test: Span,
    anchored: bool,
) -> list[Window]:
    """The windows over the sessions of `bars` in [start, end] (default: all of them)."""
    from xmtrade.backtest import resolve_window

    first, last = resolve_window(base, bars, start, end)
    sessions = bars.loc[pd.Timestamp(first) : pd.Timestamp(last)].index
    return make_windows(pd.DatetimeIndex(sessions), train, test, anchored)


@dataclass(frozen=True)
class WalkForwardResult:
    folder: Path
    windows: list[Window]
    chosen: list[Row | None]
    tests: list[Row | None]
    overall: dict[str, Any]
    interrupted: bool
    seconds: float
    refused: list[Row | None]  # each window's winner left in cash below the Sharpe floor


def run_walkforward(
    *,
    layers: ConfigLayers,
    base_files: Sequence[str],
    grid: Grid,
    bars: pd.DataFrame,
    out: Path,
    executor_factory: Callable[[], Executor],
    train: Span,
    test: Span,
    anchored: bool,
    metric: str,
    min_trades: int,
    pbo_splits: int,
    start: date | None = None,
    end: date | None = None,
    show_progress: bool = True,
    run: RunFunction | None = None,
    formats: frozenset[str] = frozenset({"html", "png"}),
    engine: str = "backtrader",
    confirm: int = 20,
    min_train_sharpe: float | None = DEFAULT_MIN_TRAIN_SHARPE,
) -> WalkForwardResult:
    """Walk forward over the sessions of `bars` in [start, end] (default: all of them), with
    the reports in `formats` (html: report.html, png: walkforward.png).

    With `engine` kernel the training runs are screened in the compiled kernel and the best
    `confirm` of each training span (so every choice) run again in backtrader; the test
    runs are always backtrader's. A window whose winner's in-sample Sharpe is below
    `min_train_sharpe` (None: no floor) stays in cash, like one with no eligible winner."""
    configs = build_configs(layers, grid)
    base = layers.build()
    windows = plan_windows(base, bars, start, end, train, test, anchored)
    shared = read_shared(bars, configs)
    created = not out.exists()
    folder = prepare_folder(out)
    meta: dict[str, Any] = {
        "kind": "walkforward",
        "status": "running",
        "owner": Owner.me().as_dict(),  # a later command tells a killed run from a live one
        "grid": grid.source,
        "config_layers": ["defaults", *base_files],
        "parameters": grid.paths,
        "combinations": len(configs),
        "train": str(train),
        "test": str(test),
        "anchored": anchored,
        "metric": metric,
        "min_trades": min_trades,
        "windows": [w.as_dict() for w in windows],
        "engine": engine,
        "min_train_sharpe": min_train_sharpe,
    }
    began = time.monotonic()
    outputs = RunFolder(folder, created, MARKER, meta)
    by_window: dict[int, dict[int, Row]] = {w.number: {} for w in windows}
    tests: list[Row | None] = [None] * len(windows)
    refused: list[Row | None] = [None] * len(windows)  # winners below the Sharpe floor

    def trained(outcome: Outcome) -> None:
        number, index = outcome.key
        # the training rows keep only what the overfitting guards need of their returns
        row = to_row(outcome, grid.combinations[index], index, pbo_splits)
        by_window[number][index] = dataclasses.replace(row, returns=None)

    def tested(outcome: Outcome) -> None:
        number, index = outcome.key
        tests[number - 1] = to_row(outcome, grid.combinations[index], index)

    from xmtrade.backtest import sessions_per_year
    from xmtrade.config import session_calendar

    calendar = session_calendar(base)

    def choose() -> tuple[list[Row | None], list[dict[str, Any]]]:
        """Each window's winner among its training rows so far, and its overfitting guards."""
        chosen: list[Row | None] = []
        reports: list[dict[str, Any]] = []
        for w in windows:
            ranked = rank(list(by_window[w.number].values()), metric, min_trades)
            best = best_of(ranked, metric, min_trades)
            refused[w.number - 1] = None
            if best is not None and below_floor(best, min_train_sharpe):
                refused[w.number - 1], best = best, None
            chosen.append(best)
            per_year = sessions_per_year(calendar, w.train_start, w.train_end)
            reports.append(overfitting(ranked, best, per_year, pbo_splits))
        return chosen, reports

    result: list[Any] = []

    def tables(finished: bool) -> dict[str, Any]:
        """The training tables, windows and stitched equity (named *.partial.* unless the
        walk-forward finished); what walkforward.json adds."""
        chosen, reports = choose()
        name = (lambda n: n) if finished else partial_name
        (folder / "train").mkdir(exist_ok=True)
        for w in windows:
            ranked = rank(list(by_window[w.number].values()), metric, min_trades)
            table = folder / "train" / name(f"window_{w.number:02d}.csv")
            write_table(table, ranked, grid.paths, metric, min_trades)
        equity_csv = folder / name("oos_equity.csv")
        overall = _stitch(equity_csv, windows, chosen, tests, bars, configs, base, metric)
        overall["windows_below_sharpe_floor"] = sum(1 for r in refused if r is not None)
        _write_windows(
            folder / name("windows.csv"),
            windows,
            chosen,
            tests,
            reports,
            grid.paths,
            metric,
            refused,
            min_train_sharpe,
        )
        seconds = time.monotonic() - began
        result[:] = [chosen, overall, seconds]
        return {
            "seconds": round(seconds, 3),
            "per_window": [
                {
                    **w.as_dict(),
                    "chosen": None if best is None else best.params,
                    "in_sample": None if best is None else best.metrics,
                    "out_of_sample": None if t is None else t.metrics,
                    "overfitting": report,
                    "refused": None
                    if no is None
                    else {"params": no.params, "in_sample": no.metrics},
                }
                for w, best, t, report, no in zip(
                    windows, chosen, tests, reports, refused, strict=True
                )
            ],
            "overall": overall,
        }

    with outputs.guard(lambda: tables(finished=False)):
        outputs.write_marker()
        # 1. every combination on every training span
        train_tasks = [
            Task((w.number, i), cfg, w.train_start, w.train_end)
            for w in windows
            for i, cfg in enumerate(configs)
        ]
        if engine == "kernel":
            from xmtrade.sweep.screening import screen_then_confirm

            _, _, interrupted = screen_then_confirm(
                train_tasks,
                shared,
                executor_factory,
                Progress(len(train_tasks), label="training runs", enabled=show_progress),
                metric,
                min_trades,
                max(1, confirm),  # every window's choice is a backtrader run
                describe=lambda key: (
                    f"window {key[0]}, combination {key[1] + 1} "
                    f"({', '.join(f'{k}={v}' for k, v in grid.combinations[key[1]].items())})"
                ),
                on_outcome=trained,
                make_progress=lambda n, label: Progress(n, label=label, enabled=show_progress),
            )
            if interrupted:
                raise Stopped
        else:
            executor = executor_factory()
            if _run(train_tasks, shared, executor, "training runs", show_progress, run, trained):
                raise Stopped
        # 2. each window's winner on its test span
        chosen, _ = choose()
        test_tasks = [
            Task((w.number, best.index), configs[best.index], w.test_start, w.test_end)
            for w, best in zip(windows, chosen, strict=True)
            if best is not None
        ]
        executor = executor_factory()
        if _run(test_tasks, shared, executor, "test runs", show_progress, run, tested):
            raise Stopped
        summary = tables(finished=True)
        if "png" in formats:
            _plot(
                folder / "walkforward.png",
                folder / "oos_equity.csv",
                windows,
                result[0],
                tests,
                bars,
                base,
                metric,
            )
        if "html" in formats:
            from xmtrade.reports.walkforward_page import write_walkforward_page

            write_walkforward_page(
                folder / "report.html",
                {**meta, **summary, "status": "finished"},
                folder / "oos_equity.csv",
                windows,
                result[0],
                tests,
                bars,
            )
        checkpoint()
        with critical():  # finished once walkforward.json says so
            outputs.write_marker(status="finished", **summary)
        outputs_complete()
    chosen, overall, seconds = result
    return WalkForwardResult(
        folder, windows, chosen, tests, overall, outputs.stopped, seconds, refused
    )


def _run(
    tasks: list[Task],
    shared: Any,
    executor: Executor,
    label: str,
    show_progress: bool,
    run: RunFunction | None,
    on_outcome: Callable[[Outcome], None],
) -> bool:
    """Run the tasks; True when a signal stopped them."""
    progress = Progress(len(tasks), label=label, enabled=show_progress)
    return execute(tasks, shared, executor, progress, run=run, on_outcome=on_outcome)[1]


def _stitch(
    equity_csv: Path,
    windows: Sequence[Window],
    chosen: Sequence[Row | None],
    tests: Sequence[Row | None],
    bars: pd.DataFrame,
    configs: Sequence[AppConfig],
    base: AppConfig,
    metric: str,
) -> dict[str, Any]:
    """The out-of-sample equity (test spans chained; a window without a winner stays in
    cash), written to `equity_csv`, and the overall in- and out-of-sample figures."""
    frames = []
    for w, best, result in zip(windows, chosen, tests, strict=True):
        sessions = bars.loc[pd.Timestamp(w.test_start) : pd.Timestamp(w.test_end)].index
        if best is not None and result is not None and result.returns is not None:
            returns = result.returns
        else:
            returns = np.zeros(len(sessions))
        frames.append(pd.DataFrame({"window": w.number, "return": returns}, index=sessions))
    equity = pd.concat(frames)
    initial = base.backtest.initial_nav
    equity["nav"] = initial * np.cumprod(1.0 + equity["return"].to_numpy())
    equity.index.name = "date"
    equity.to_csv(equity_csv, float_format="%.10f")

    from xmtrade.backtest import cash_rate, risk_free, sessions_per_year
    from xmtrade.config import session_calendar

    first_day, last_day = equity.index[0].date(), equity.index[-1].date()
    periods = sessions_per_year(session_calendar(base), first_day, last_day)
    returns = equity["return"].to_numpy()
    excess = returns - risk_free(equity.index, cash_rate(base)).to_numpy()
    vol = float(returns.std(ddof=1)) if len(returns) > 1 else 0.0
    years = (last_day - first_day).days / 365.25
    final = float(equity["nav"].iloc[-1])
    cagr = (final / initial) ** (1 / years) - 1 if years > 0 and final > 0 else None
    closes = bars.loc[equity.index, "close"].astype(float)
    in_sample = [r.value(metric) for r in chosen if r is not None]
    in_sample_cagr = [r.value("cagr") for r in chosen if r is not None]
    out_of_sample = [r.value(metric) for r in tests if r is not None]

    def mean(values: Sequence[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return float(np.mean(known)) if known else None

    mean_is_cagr = mean(in_sample_cagr)
    efficiency, efficiency_note = walk_forward_efficiency(cagr, mean_is_cagr)
    return {
        "out_of_sample": {
            "start": first_day,
            "end": last_day,
            "sessions": len(equity),
            "final_nav": round(final, 2),
            "total_return": _ratio(final / initial - 1),
            "cagr": _ratio(cagr),
            "annual_volatility": _ratio(vol * math.sqrt(periods)),
            "sharpe": _ratio(float(excess.mean()) / vol * math.sqrt(periods) if vol > 0 else None),
            "max_drawdown": _ratio(max_drawdown(equity["nav"])),
            "n_trades": int(sum((r.metrics or {}).get("n_trades", 0) for r in tests if r)),
            "benchmark_total_return": _ratio(float(closes.iloc[-1] / closes.iloc[0] - 1)),
            f"mean_window_{metric}": _ratio(mean(out_of_sample)),
        },
        "in_sample": {
            f"mean_window_{metric}": _ratio(mean(in_sample)),
            "mean_window_cagr": _ratio(mean_is_cagr),
        },
        "walk_forward_efficiency": efficiency,
        "walk_forward_efficiency_note": efficiency_note,
        "windows_without_winner": sum(1 for r in chosen if r is None),
        "figures_from": FIGURES_FROM,
    }


def _ratio(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


WINDOW_METRICS = ("total_return", "cagr", "sharpe", "max_drawdown", "n_trades")


def _write_windows(
    path: Path,
    windows: Sequence[Window],
    chosen: Sequence[Row | None],
    tests: Sequence[Row | None],
    reports: Sequence[dict[str, Any]],
    paths: Sequence[str],
    metric: str,
    refused: Sequence[Row | None],
    min_train_sharpe: float | None,
) -> None:
    import csv

    metrics = list(dict.fromkeys([metric, *WINDOW_METRICS]))
    header = [
        "window",
        "train_start",
        "train_end",
        "test_start",
        "test_end",
        "partial",
        "chosen",
        *paths,
        *(f"is_{m}" for m in metrics),
        *(f"oos_{m}" for m in metrics),
        "combinations",
        "deflated_sharpe",
        "pbo",
        "note",
    ]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for w, best, result, report, no in zip(
            windows, chosen, tests, reports, refused, strict=True
        ):
            dsr = (report.get("deflated_sharpe") or {}).get("dsr")
            pbo = (report.get("pbo") or {}).get("pbo")
            note = "" if best is not None else "no eligible combination: stayed in cash"
            if no is not None:
                note = (
                    f"best in-sample Sharpe {cell(no.value('sharpe'))} below the floor "
                    f"{min_train_sharpe:g}: stayed in cash"
                )
            if best is not None and result is not None and result.error:
                note = f"test run failed: {result.error}"
            writer.writerow(
                [
                    w.number,
                    w.train_start,
                    w.train_end,
                    w.test_start,
                    w.test_end,
                    w.partial,
                    "" if best is None else best.index + 1,
                    *(cell(best.params.get(p)) if best else "" for p in paths),
                    *(cell(_metric(best, m)) for m in metrics),
                    *(cell(_metric(result, m)) for m in metrics),
                    report["combinations_tried"],
                    cell(dsr),
                    cell(pbo),
                    note,
                ]
            )


def _metric(row: Row | None, name: str) -> Any:
    return None if row is None or row.metrics is None else row.metrics.get(name)


def _plot(
    path: Path,
    equity_csv: Path,
    windows: Sequence[Window],
    chosen: Sequence[Row | None],
    tests: Sequence[Row | None],
    bars: pd.DataFrame,
    base: AppConfig,
    metric: str,
) -> None:
    """Stitched out-of-sample NAV against buy and hold on one axis rebased to 100, each test
    span labelled, and each window's metric in and out of sample ("cash" / "no trades" where
    a bar would be missing)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    equity = pd.read_csv(equity_csv, index_col="date", parse_dates=["date"])
    closes = bars.loc[equity.index, "close"].astype(float)
    initial = base.backtest.initial_nav
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(12, 7.5), dpi=110, gridspec_kw={"height_ratios": [3, 2]}
    )
    top.plot(
        closes.index, 100 * closes / closes.iloc[0], color="0.55", lw=0.9, label="buy and hold"
    )
    top.plot(
        equity.index,
        100 * equity["nav"] / initial,
        color="tab:blue",
        lw=1.4,
        label="out-of-sample strategy",
    )
    top.axhline(100, color="0.4", lw=0.6)
    for n, (w, best, test) in enumerate(zip(windows, chosen, tests, strict=True)):
        if n % 2 == 0:
            top.axvspan(pd.Timestamp(w.test_start), pd.Timestamp(w.test_end), color="0.93")
        label = window_label(best, test)
        top.annotate(
            f"w{w.number}" + (f"\n{label}" if label else ""),
            (pd.Timestamp(w.test_start), 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -4),
            textcoords="offset points",
            va="top",
            fontsize=8,
            color="#b91c1c" if label else "black",
        )
    top.set_ylabel("growth of 100 (one axis)")
    top.set_title("Walk-forward: each test span traded with its training span's best combination")
    top.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    top.grid(alpha=0.3)
    x = np.arange(len(windows))
    is_values = [(r.value(metric) if r else None) for r in chosen]
    oos_values = [(r.value(metric) if r else None) for r in tests]
    bottom.bar(
        x - 0.2,
        [v or 0.0 for v in is_values],
        0.4,
        label="in sample (training)",
        color="tab:orange",
    )
    bottom.bar(
        x + 0.2, [v or 0.0 for v in oos_values], 0.4, label="out of sample (test)", color="tab:blue"
    )
    for n, (best, test) in enumerate(zip(chosen, tests, strict=True)):
        label = window_label(best, test)
        if label:
            bottom.annotate(
                label,
                (n + 0.2, 0.0),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                fontsize=8,
                color="#b91c1c",
                rotation=90,
                va="bottom",
            )
    bottom.axhline(0, color="0.3", lw=0.8)
    bottom.set_xticks(x, [f"w{w.number}" for w in windows])
    bottom.set_ylabel(metric)
    bottom.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
