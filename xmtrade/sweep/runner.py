"""A sweep from its grid to ranked rows: one config per combination (each validated before
anything runs), batches of tasks through an executor with a progress bar, the rows ranked
by the metric with the minimum-trades filter, and the overfitting guards of the winner."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xmtrade.errors import ConfigError
from xmtrade.interrupts import checkpoint
from xmtrade.sweep.overfitting import block_sums, deflated_sharpe, moments, pbo_from_blocks
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
    """Every combination's config, validated before anything runs: the first bad one is a
    one-line error naming the grid file and the field."""
    known: dict[str, dict[Any, Any]] = {}
    configs = [
        _share_sections(layers.build(combo, overrides_source=grid.source), known)
        for combo in grid.combinations
    ]
    symbols = {c.instrument.symbol for c in configs}
    if len(symbols) > 1:
        raise ConfigError(
            grid.source, "instrument.symbol", "a sweep runs on one price series; do not vary it"
        )
    return configs


def _share_sections(cfg: AppConfig, known: dict[str, dict[Any, Any]]) -> AppConfig:
    """`cfg` with each section that equals one of an earlier config the same object (a
    combination changes a few fields; a config is about 45 KB, so a big sweep would
    otherwise hold gigabytes of equal copies). The values are those validated by `build`."""
    sections: dict[str, Any] = {}
    for name in type(cfg).model_fields:
        section = getattr(cfg, name)
        pool = known.setdefault(name, {})
        try:
            section = pool.setdefault(section, section)
        except TypeError:  # a section holding a mapping is not hashable: compare
            section = next((v for v in pool.values() if v == section), section)
            pool.setdefault(id(section), section)
        sections[name] = section
    return type(cfg).model_construct(_fields_set=cfg.model_fields_set, **sections)


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
) -> tuple[list[Outcome], bool]:
    """Run every task; return the outcomes (completion order) and whether Ctrl-C or SIGTERM
    stopped it.

    On a stop the executor is stopped at once (its workers killed, never left behind); the
    outcomes finished so far are kept. Any other failure stops it too, then is raised."""
    outcomes: list[Outcome] = []
    interrupted = False
    try:
        for batch in executor.run(shared, make_batches(tasks, executor.workers), run):
            for outcome in batch:
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
            failed = sum(1 for o in batch if o.error is not None)
            progress.advance(len(batch), failed=failed, note=note() if note else "")
            checkpoint()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        interrupted = _stop(executor) or interrupted
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
    """One combination's run: its parameters and metrics, or the reason it failed."""

    index: int  # position of the combination in the grid
    params: dict[str, Any]
    metrics: dict[str, Any] | None
    returns: np.ndarray | None
    config_hash: str | None
    error: str | None
    seconds: float

    def value(self, metric: str) -> float | None:
        if self.metrics is None:
            return None
        value: Any = self.metrics.get(metric)
        return float(value) if is_number(value) else None


def to_row(outcome: Outcome, params: Mapping[str, Any], index: int) -> Row:
    """A row from a run's outcome and its combination."""
    return Row(
        index=index,
        params=dict(params),
        metrics=outcome.metrics,
        returns=outcome.returns,
        config_hash=outcome.config_hash,
        error=outcome.error,
        seconds=outcome.seconds,
    )


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


def rank(rows: Sequence[Row], metric: str, min_trades: int) -> list[Row]:
    """Rows best first: eligible rows by the metric, then those with too few trades (by the
    metric), then rows without the metric, then failed runs; ties keep grid order."""
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0

    def key(row: Row) -> tuple[int, float, int]:
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

    return sorted(rows, key=key)


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
    completed = [r for r in rows if r.metrics is not None and r.returns is not None]
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
    if best is not None and best.returns is not None and best_sharpe is not None:
        skew, kurt = moments(best.returns)
        dsr = deflated_sharpe(
            sharpe=best_sharpe / root,
            trial_sharpes=trial_sharpes,
            trials=len(completed),
            skewness=skew,
            kurtosis=kurt,
            observations=len(best.returns),
        )
        report["deflated_sharpe"] = dsr.as_dict(periods_per_year)
    lengths = {len(r.returns) for r in completed if r.returns is not None}
    sessions = next(iter(lengths)) if len(lengths) == 1 else 0
    if len(completed) >= 2 and sessions >= 2 * pbo_splits:
        # each trial's block sums, not one sessions x trials matrix (memory of big searches)
        sums = [block_sums(r.returns, pbo_splits) for r in completed if r.returns is not None]
        s1 = np.column_stack([a for a, _ in sums])
        s2 = np.column_stack([b for _, b in sums])
        count = np.array([len(b) for b in np.array_split(np.arange(sessions), pbo_splits)])
        pbo = pbo_from_blocks(s1, s2, count.astype(float))
        report["pbo"] = pbo.as_dict() if pbo is not None else None
    return report


def window_tasks(
    configs: Sequence[AppConfig], start: date | None, end: date | None, tag: Any = None
) -> list[Task]:
    """One task per config over one window; keys are (tag, combination index)."""
    return [Task((tag, i), cfg, start, end) for i, cfg in enumerate(configs)]
