"""`run_sweep`: every combination of a grid over one window, ranked, with the winner written
as a config overlay and the overfitting guards computed."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xmtrade.interrupts import checkpoint, critical, outputs_complete
from xmtrade.sweep.output import (
    SWEEP_MARKER,
    ResultsLog,
    overlay_text,
    plot_heatmap,
    prepare_folder,
    write_table,
)
from xmtrade.sweep.owner import Owner
from xmtrade.sweep.partial import PARTIAL_RESULTS, RunFolder, Stopped
from xmtrade.sweep.progress import Progress
from xmtrade.sweep.resume import OUTCOMES, RETURNS, OutcomeLog, matching, prices_digest
from xmtrade.sweep.runner import (
    Curves,
    Row,
    best_of,
    build_configs,
    execute,
    overfitting,
    rank,
    read_shared,
    status,
    to_row,
)
from xmtrade.sweep.work import LOWER_IS_BETTER, Outcome, RunFunction, Task

if TYPE_CHECKING:
    import pandas as pd

    from xmtrade.config import AppConfig, ConfigLayers
    from xmtrade.sweep.executors import Executor
    from xmtrade.sweep.grid import Grid


@dataclass(frozen=True)
class SweepResult:
    """A finished (or interrupted) sweep."""

    folder: Path
    ranked: list[Row]
    best: Row | None
    total: int
    interrupted: bool
    report: dict[str, Any]
    seconds: float

    @property
    def results_csv(self) -> Path:
        """results.csv, or results.partial.csv when the sweep was stopped."""
        return self.folder / (PARTIAL_RESULTS if self.interrupted else "results.csv")


def _combination(grid: Grid, index: int) -> str:
    """A combination in words, for a one-line message."""
    values = ", ".join(f"{k}={v}" for k, v in grid.combinations[index].items())
    return f"combination {index + 1} ({values})"


def check_sweep(
    layers: ConfigLayers,
    grid: Grid,
    bars: pd.DataFrame,
    start: date | None,
    end: date | None,
) -> list[AppConfig]:
    """Every combination's config, validated, and the window checked against the data: any
    problem is a one-line error before anything runs."""
    import pandas as pd

    from xmtrade.backtest import resolve_window
    from xmtrade.config import LOOKBACK_KEYS, require_history

    configs = build_configs(layers, grid)
    base = layers.build()
    _, last = resolve_window(base, bars, start, end)
    sessions = int(bars.index.searchsorted(pd.Timestamp(last), side="right"))
    sources = {k: grid.source if k in grid.paths else base.source_of(k) for k in LOOKBACK_KEYS}
    for index, cfg in enumerate(configs):  # a lookback longer than the history never trades
        require_history(cfg, sessions, last, f"{_combination(grid, index)}: ", sources)
    return configs


def run_sweep(
    *,
    layers: ConfigLayers,
    base_files: Sequence[str],
    grid: Grid,
    bars: pd.DataFrame,
    out: Path,
    executor: Executor,
    metric: str,
    min_trades: int,
    pbo_splits: int,
    start: date | None = None,
    end: date | None = None,
    show_progress: bool = True,
    run: RunFunction | None = None,
    configs: Sequence[AppConfig] | None = None,
    formats: frozenset[str] = frozenset({"html", "png"}),
    engine: str = "backtrader",
    confirm: int = 20,
    settings: Mapping[str, Any] | None = None,
    resume: Mapping[int, tuple[dict[str, Any], Outcome]] | None = None,
) -> SweepResult:
    """Run every combination of `grid` (layered over `layers`) on `bars` over [start, end].

    `configs` are the combinations' configs when `check_sweep` already built them; `formats`
    the reports to draw (html: report.html, png: heatmap.png). With `engine` kernel, every
    combination is screened in the compiled kernel and the best `confirm` are run again in
    backtrader (xmtrade/sweep/screening.py).

    `settings` are what `xmtrade sweep --resume` needs to run the sweep again (kept in
    sweep.json); `resume` the outcomes a stopped or killed sweep in `out` kept
    (`resume.read_outcomes`): with the backtrader engine only the other combinations run."""
    if configs is None:
        configs = check_sweep(layers, grid, bars, start, end)
    base = layers.build()
    shared = read_shared(bars, configs)
    created = not out.exists()
    folder = out if resume is not None else prepare_folder(out)
    reused: dict[int, Outcome] = {}
    if resume is not None and engine == "backtrader":
        reused = matching(out, resume, grid.combinations, configs)
    paths = grid.paths
    meta: dict[str, Any] = {
        "kind": "sweep",
        "status": "running",
        "grid": grid.source,
        "config_layers": ["defaults", *base_files],
        "parameters": paths,
        "varying": grid.varying,
        "combinations": len(configs),
        "repeated_combinations_dropped": grid.duplicates,
        "sampled": None
        if grid.sample_count is None
        else {"count": grid.sample_count, "seed": grid.seed, "distinct": len(configs)},
        "metric": metric,
        "min_trades": min_trades,
        "window": {"start": start, "end": end},
        "executor": executor.description,
        "engine": engine,
        "owner": Owner.me().as_dict(),
        "prices": prices_digest(bars),
        "resume": dict(settings or {}),
    }
    from xmtrade.reports.sweep_page import LEADERS, default_value, is_default

    defaults = {p: default_value(base, p) for p in paths}
    # a confirmed run replaces its screened row; only the page's curves keep their returns
    curves = Curves(metric, min_trades, LEADERS, lambda row: is_default(row, defaults))
    by_index = curves.rows
    confirmed: set[Any] = set()
    leader: list[float] = []  # the best eligible value so far, for the progress line
    outputs = RunFolder(folder, created, SWEEP_MARKER, meta, resumed=resume is not None)
    log: ResultsLog | None = None
    kept: list[OutcomeLog] = []

    def collect(outcome: Outcome) -> None:
        _, index = outcome.key
        row = to_row(outcome, grid.combinations[index], index, pbo_splits)
        curves.add(row)
        if log is not None:
            log.add(row)
        if kept and index not in reused:
            kept[0].add(index, grid.combinations[index], outcome)
        value = row.value(metric)
        if value is not None and status(row, metric, min_trades) == "ok":
            lower = metric in LOWER_IS_BETTER
            if not leader or (value < leader[0] if lower else value > leader[0]):
                leader[:] = [value]

    def note() -> str:
        from xmtrade.reports.terminal import metric as shown

        return f"best {metric} {shown(metric, leader[0])}" if leader else ""

    tasks = [Task((None, i), cfg, start, end) for i, cfg in enumerate(configs) if i not in reused]
    began = time.monotonic()
    tally: list[Any] = []
    from xmtrade.backtest import resolve_window, sessions_per_year
    from xmtrade.config import session_calendar

    first, last = resolve_window(base, bars, start, end)
    per_year = sessions_per_year(session_calendar(base), first, last)

    def count() -> dict[str, Any]:
        """Rank the finished rows; what sweep.json says about them."""
        seconds = time.monotonic() - began
        rows = [by_index[i] for i in sorted(by_index)]
        ranked = rank(rows, metric, min_trades)
        best = best_of(ranked, metric, min_trades)
        report = overfitting(rows, best, per_year, pbo_splits)
        tally[:] = [ranked, best, report, seconds]
        return {
            "runs_finished": len(rows),
            "runs_in_backtrader": len(rows) if engine == "backtrader" else len(confirmed),
            "confirmed": sorted(key[1] + 1 for key in confirmed),
            "runs_eligible": sum(1 for r in rows if status(r, metric, min_trades) == "ok"),
            "seconds": round(seconds, 3),
            "runs_per_second": round(len(rows) / seconds, 3) if seconds > 0 else None,
            "best": None
            if best is None
            else {
                "combination": best.index + 1,
                "parameters": best.params,
                "metrics": best.metrics,
                "config_hash": best.config_hash,
            },
            "overfitting": report,
        }

    def keep() -> dict[str, Any]:
        """A stopped sweep: every finished row, ranked, in results.partial.csv."""
        if log is not None:
            log.close()
        for outcome_log in kept:
            outcome_log.close()
        summary = count()
        write_table(folder / PARTIAL_RESULTS, tally[0], paths, metric, min_trades)
        return summary

    with outputs.guard(keep):
        outputs.write_marker()
        log = ResultsLog(folder / PARTIAL_RESULTS, paths, metric, min_trades)
        if engine == "backtrader":  # the kernel's screening is redone on a resume
            kept.append(OutcomeLog(folder, resume=bool(reused)))
        for index in sorted(reused):
            collect(reused[index])
        progress = Progress(len(tasks), enabled=show_progress)
        if engine == "kernel":
            from xmtrade.sweep.screening import screen_then_confirm

            _, done, interrupted = screen_then_confirm(
                tasks,
                shared,
                lambda: executor,
                progress,
                metric,
                min_trades,
                confirm,
                on_outcome=collect,
                describe=lambda key: _combination(grid, key[1]),
                make_progress=lambda n, label: Progress(n, label=label, enabled=show_progress),
            )
            confirmed.update(done)
        else:
            _, interrupted = execute(
                tasks, shared, executor, progress, run=run, on_outcome=collect, note=note
            )
        log.close()
        for outcome_log in kept:
            outcome_log.close()
        if interrupted:
            raise Stopped
        summary = count()
        ranked, best = tally[0], tally[1]
        write_table(folder / "results.csv", ranked, paths, metric, min_trades)
        if best is not None:
            window = {"start": start, "end": end}
            given = (settings or {}).get("data_dir_given")
            home = Path(given) if given else None
            text = overlay_text(
                best, metric, base_files, grid.source, window, folder / "best.yaml", home
            )
            (folder / "best.yaml").write_text(text, encoding="utf-8")
        varying = grid.varying
        if "png" in formats and len(varying) == 2 and by_index:
            plot_heatmap(
                folder / "heatmap.png",
                ranked,
                varying[0],
                varying[1],
                metric,
                min_trades,
                best,
                {p: defaults[p] for p in varying},
            )
        if "html" in formats:
            from xmtrade.reports.sweep_page import write_sweep_page

            dates = bars.loc[str(first) : str(last)].index
            finished = {**meta, **summary, "status": "finished"}
            write_sweep_page(folder / "report.html", finished, ranked, best, base, list(dates))
        checkpoint()
        with critical():  # finished once sweep.json says so
            outputs.write_marker(status="finished", **summary)
            for name in (PARTIAL_RESULTS, OUTCOMES, RETURNS):
                (folder / name).unlink(missing_ok=True)
        outputs_complete()
    ranked, best, report, seconds = tally
    total = len(tasks) + len(reused)
    return SweepResult(folder, ranked, best, total, outputs.stopped, report, seconds)
