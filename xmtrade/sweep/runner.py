"""A sweep from its grid to ranked rows: one config per combination (each validated before
anything runs), batches of tasks through an executor with a progress bar, the rows ranked
by the metric with the minimum-trades filter, and the overfitting guards of the winner."""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xmtrade.errors import ConfigError
from xmtrade.interrupts import checkpoint
from xmtrade.sweep.overfitting import TrialSeries, deflated_sharpe, pbo_from_blocks, trial_series
from xmtrade.sweep.work import (
    LOWER_IS_BETTER,
    METRICS,
    Outcome,
    RunFunction,
    SharedData,
    Task,
    fundamentals_key,
    is_number,
    signals_key,
)

if TYPE_CHECKING:
    from xmtrade.config import AppConfig, ConfigLayers
    from xmtrade.sweep.executors import Executor
    from xmtrade.sweep.grid import Grid
    from xmtrade.sweep.progress import Progress

MAX_BATCH = 8  # tasks per batch sent to a worker


def check_metric(metric: str) -> str:
    """The metric to rank by, or a one-line error listing the choices."""
    if metric not in METRICS:
        raise ConfigError(
            "--metric", None, f"unknown metric '{metric}' (expected one of: {', '.join(METRICS)})"
        )
    return metric


def build_configs(layers: ConfigLayers, grid: Grid) -> list[AppConfig]:
    """Every combination's config, validated before anything runs (the base once, then each
    distinct section a combination touches: `combos.CombinationBuilder`): the first bad one
    is a one-line error naming the grid file and the field."""
    from xmtrade.sweep.combos import CombinationBuilder

    builder = CombinationBuilder(layers, grid.source)
    configs = [builder.build(combo) for combo in grid.combinations]
    symbols = {c.instrument.symbol for c in configs}
    if len(symbols) > 1:
        raise ConfigError(
            grid.source, "instrument.symbol", "a sweep runs on one price series; do not vary it"
        )
    return configs


def read_shared(bars: Any, configs: Iterable[AppConfig]) -> SharedData:
    """The prices and each distinct facts file of the configs, read once for every worker."""
    from data_feeds.fundamentals import read_facts

    files = {str(c.fundamentals.file) for c in configs}
    return SharedData(bars=bars, facts={f: read_facts(Path(f)) for f in sorted(files)})


def make_batches(tasks: Sequence[Task], workers: int) -> list[list[Task]]:
    """Tasks in batches of the same indicator settings (so each worker computes a setting
    once), small enough to keep every worker busy and the progress bar moving."""
    groups: dict[tuple[str, str], list[Task]] = {}
    for task in tasks:
        key = (signals_key(task.config), fundamentals_key(task.config))
        groups.setdefault(key, []).append(task)
    size = max(1, min(MAX_BATCH, len(tasks) // max(1, workers * 4)))
    return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]


def execute(
    tasks: Sequence[Task],
    shared: SharedData,
    executor: Executor,
    progress: Progress,
    run: RunFunction | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    note: Callable[[], str] | None = None,
    batches: Callable[[Sequence[Task], int], list[list[Task]]] | None = None,
    failed: Callable[[Outcome], bool] | None = None,
    finish: bool = True,
) -> tuple[list[Outcome], bool]:
    """Run every task; return the outcomes (completion order) and whether Ctrl-C or SIGTERM
    stopped it. `batches` cuts the tasks for the workers (default `make_batches`), `failed`
    says which outcomes the progress bar counts as failed (default: those with an error);
    without `finish` the progress bar is left open for more work.

    On a stop the executor is stopped at once (its workers killed, never left behind); the
    outcomes finished so far are kept. Any other failure stops it too, then is raised."""
    outcomes: list[Outcome] = []
    interrupted = False
    cut = batches or make_batches
    is_failed = failed or (lambda o: o.error is not None)
    try:
        for batch in executor.run(shared, cut(tasks, executor.workers), run):
            for outcome in batch:
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
            n_failed = sum(1 for o in batch if is_failed(o))
            progress.advance(len(batch), failed=n_failed, note=note() if note else "")
            checkpoint()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        interrupted = _stop(executor) or interrupted
        if finish:
            with contextlib.suppress(KeyboardInterrupt):
                progress.finish()
    return outcomes, interrupted


def _stop(executor: Executor) -> bool:
    """Stop the executor (every batch has come back, or the sweep is stopping); True when a
    signal arrived meanwhile (the stop is then finished all the same)."""
    stopped = False
    while True:
        try:
            executor.close(cancel=True)
            return stopped
        except KeyboardInterrupt:
            stopped = True


# ---------------------------------------------------------------------- rows and ranking


@dataclass(frozen=True)
class Row:
    """One combination's run: its parameters and metrics, or the reason it failed. `returns`
    (the daily returns) is kept only for the rows a report draws (`Curves`); `trial` holds
    what the overfitting guards need of them for every row."""

    index: int  # position of the combination in the grid
    params: dict[str, Any]
    metrics: dict[str, Any] | None
    returns: np.ndarray | None
    config_hash: str | None
    error: str | None
    seconds: float
    trial: TrialSeries | None = None

    def value(self, metric: str) -> float | None:
        if self.metrics is None:
            return None
        value: Any = self.metrics.get(metric)
        return float(value) if is_number(value) else None

    def series(self, pbo_splits: int) -> TrialSeries | None:
        """What the overfitting guards need of this row's returns (None without them)."""
        if self.trial is not None:
            return self.trial
        return None if self.returns is None else trial_series(self.returns, pbo_splits)


def to_row(
    outcome: Outcome, params: Mapping[str, Any], index: int, pbo_splits: int | None = None
) -> Row:
    """A row from a run's outcome and its combination; with `pbo_splits`, with its returns
    digested for the overfitting guards (`Row.trial`)."""
    trial = None
    if pbo_splits is not None and outcome.returns is not None:
        trial = trial_series(outcome.returns, pbo_splits)
    return Row(
        index=index,
        params=dict(params),
        metrics=outcome.metrics,
        returns=outcome.returns,
        config_hash=outcome.config_hash,
        error=outcome.error,
        seconds=outcome.seconds,
        trial=trial,
    )


class Curves:
    """The rows of a sweep by combination, keeping the daily returns of the best `size` (by
    `rank`) and of the rows `always` picks, and dropping every other row's: a 100,000-trial
    search would otherwise hold 1.5 GB of series no report draws. A row that replaces
    another (a confirmed run) keeps its returns."""

    def __init__(
        self, metric: str, min_trades: int, size: int, always: Callable[[Row], bool]
    ) -> None:
        self.rows: dict[int, Row] = {}
        self._metric, self._min_trades, self._size, self._always = metric, min_trades, size, always
        self._kept: list[tuple[tuple[int, float, int], int]] = []  # worst first

    def add(self, row: Row) -> None:
        replaces = row.index in self.rows
        self.rows[row.index] = row
        if replaces or row.returns is None or self._always(row):
            return
        group, value, index = rank_key(row, self._metric, self._min_trades)
        heapq.heappush(self._kept, ((-group, -value, -index), index))
        if len(self._kept) > self._size:
            _, dropped = heapq.heappop(self._kept)
            self.rows[dropped] = dataclasses.replace(self.rows[dropped], returns=None)


def status(row: Row, metric: str, min_trades: int) -> str:
    """`ok` for a row that may win, else why it may not."""
    if row.error is not None or row.metrics is None:
        return "error"
    if row.value(metric) is None:
        return f"no {metric}"
    trades = int(row.metrics.get("n_trades") or 0)
    if trades < min_trades:
        return f"too few trades ({trades} < {min_trades})"
    return "ok"


def rank_key(row: Row, metric: str, min_trades: int) -> tuple[int, float, int]:
    """A row's place in `rank` (less is better): eligible rows by the metric, then those with
    too few trades, then rows without the metric, then failed runs; ties by grid order."""
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
    state = status(row, metric, min_trades)
    value = row.value(metric)
    if state == "ok":
        group = 0
    elif state.startswith("too few"):
        group = 1
    elif state == "error":
        group = 3
    else:
        group = 2
    return group, sign * value if value is not None else 0.0, row.index


def rank(rows: Sequence[Row], metric: str, min_trades: int) -> list[Row]:
    """Rows best first, by `rank_key`."""
    return sorted(rows, key=lambda row: rank_key(row, metric, min_trades))


def best_of(ranked: Sequence[Row], metric: str, min_trades: int) -> Row | None:
    """The winner: the first eligible row, or None when no row may win."""
    if ranked and status(ranked[0], metric, min_trades) == "ok":
        return ranked[0]
    return None


def overfitting(
    rows: Sequence[Row], best: Row | None, periods_per_year: float, pbo_splits: int
) -> dict[str, Any]:
    """How many combinations were tried, the winner's deflated Sharpe ratio and the PBO."""
    rows = sorted(rows, key=lambda r: r.index)  # grid order: the same whatever finished first
    series = {r.index: r.series(pbo_splits) for r in rows if r.metrics is not None}
    completed = [r for r in rows if series.get(r.index) is not None]
    root = math.sqrt(periods_per_year)
    report: dict[str, Any] = {
        "combinations_tried": len(rows),
        "completed": len(completed),
        "failed": sum(1 for r in rows if r.error is not None),
        "deflated_sharpe": None,
        "pbo": None,
    }
    sharpes = [r.value("sharpe") for r in completed]
    trial_sharpes = [s / root for s in sharpes if s is not None]
    best_sharpe = best.value("sharpe") if best is not None else None
    best_series = series.get(best.index) if best is not None else None
    if best_series is not None and best_sharpe is not None:
        dsr = deflated_sharpe(
            sharpe=best_sharpe / root,
            trial_sharpes=trial_sharpes,
            trials=len(completed),
            skewness=best_series.skewness,
            kurtosis=best_series.kurtosis,
            observations=best_series.observations,
        )
        report["deflated_sharpe"] = dsr.as_dict(periods_per_year)
    trials = [t for r in completed if (t := series[r.index]) is not None]
    lengths = {t.observations for t in trials}
    sessions = next(iter(lengths)) if len(lengths) == 1 else 0
    if len(trials) >= 2 and sessions >= 2 * pbo_splits:
        # each trial's block sums, not one sessions x trials matrix (memory of big searches)
        s1 = np.column_stack([t.sums for t in trials if t.sums is not None])
        s2 = np.column_stack([t.squares for t in trials if t.squares is not None])
        count = np.array([len(b) for b in np.array_split(np.arange(sessions), pbo_splits)])
        pbo = pbo_from_blocks(s1, s2, count.astype(float))
        report["pbo"] = pbo.as_dict() if pbo is not None else None
    return report


def window_tasks(
    configs: Sequence[AppConfig], start: date | None, end: date | None, tag: Any = None
) -> list[Task]:
    """One task per config over one window; keys are (tag, combination index)."""
    return [Task((tag, i), cfg, start, end) for i, cfg in enumerate(configs)]
