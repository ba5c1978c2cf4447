"""The runs of an explanation: the plan and each variant in the screening kernel and in
backtrader, side by side in the same worker, through the sweep's executors.

Every row is reported from backtrader, the engine of record. A run whose daily NAV or trades
differ from its kernel run stops the explanation (`KernelMismatch`, one line naming the
variant and the first differing session), as a sweep's confirmation does. A config the
kernel cannot mirror runs in backtrader alone, and its row says so."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from xmtrade.errors import UserInputError
from xmtrade.sweep.work import Outcome, SharedData, Task

if TYPE_CHECKING:
    import pandas as pd

    from xmtrade.config import AppConfig
    from xmtrade.sweep.executors import Executor
    from xmtrade.sweep.progress import Progress

KERNEL_AND_BACKTRADER = "kernel = backtrader"


@dataclass(frozen=True)
class Trade:
    """A tranche as the summary reads it."""

    stage: int
    entry_date: date
    exit_date: date | None
    pnl: float | None  # None while open
    fees: float
    exit_reason: str


@dataclass(frozen=True)
class RunRecord(Outcome):
    """A confirmed run: the sweep's outcome plus what the tables and the page need."""

    dates: tuple[date, ...]
    nav: np.ndarray
    weight: np.ndarray  # position value / NAV at each close
    close: np.ndarray
    risk_free: np.ndarray
    trades: tuple[Trade, ...]
    periods_per_year: float
    engine: str  # KERNEL_AND_BACKTRADER, or why backtrader ran alone


def confirm_run(shared: SharedData, task: Task) -> Outcome:
    """Backtrader's run of a task and the kernel's, compared (in a worker): a `RunRecord`,
    or an outcome whose error starts with the sweep's `MISMATCH`."""
    from xmtrade.kernel.screen import Unsupported, first_difference
    from xmtrade.sweep.screening import MISMATCH, screener_for
    from xmtrade.sweep.work import _reason, backtest_task, outcome_of

    began = time.perf_counter()
    try:
        result = backtest_task(shared, task)
    except Exception as exc:
        return Outcome(task.key, None, None, None, _reason(exc), time.perf_counter() - began)
    engine = KERNEL_AND_BACKTRADER
    try:
        run = screener_for(shared).run(task.config, task.start, task.end)
    except Unsupported as exc:
        engine = f"backtrader only: the kernel does not mirror this config ({exc})"
    except UserInputError as exc:
        engine = f"backtrader only: the kernel refused it ({exc.line()})"
    else:
        if not run.ok:
            engine = f"backtrader only: the kernel stopped ({run.why})"
        else:
            difference = first_difference(run, result)
            if difference is not None:
                return Outcome(task.key, None, None, None, MISMATCH + difference, 0.0)
    base = outcome_of(task, result, began)
    if base.error is not None:
        return base
    equity = result.equity
    trades = tuple(
        Trade(
            stage=int(t["stage"]),
            entry_date=_day(t["entry_date"]),
            exit_date=None if t["exit_reason"] == "open" else _day(t["exit_date"]),
            pnl=None if t["exit_reason"] == "open" else float(t["pnl"]),
            fees=float(t["fees"]),
            exit_reason=str(t["exit_reason"]),
        )
        for t in result.trades.to_dict("records")
    )
    return RunRecord(
        key=base.key,
        metrics=base.metrics,
        returns=base.returns,
        config_hash=base.config_hash,
        error=None,
        seconds=time.perf_counter() - began,
        dates=tuple(ts.date() for ts in equity.index),
        nav=equity["nav"].to_numpy(dtype=float),
        weight=equity["weight"].to_numpy(dtype=float),
        close=result.benchmark.to_numpy(dtype=float),
        risk_free=result.risk_free.to_numpy(dtype=float),
        trades=trades,
        periods_per_year=result.periods_per_year,
        engine=engine,
    )


def _day(value: Any) -> date:
    import pandas as pd

    return value if isinstance(value, date) else pd.Timestamp(value).date()


def run_all(
    names: Sequence[str],
    configs: Sequence[AppConfig],
    bars: pd.DataFrame,
    start: date | None,
    end: date | None,
    executor: Executor,
    progress: Progress,
    on_record: Callable[[RunRecord], None] | None = None,
) -> tuple[dict[str, RunRecord], bool]:
    """Every config run and confirmed; the records by name and whether Ctrl-C stopped it. A
    failed run or a kernel difference is a one-line error. `on_record` sees each confirmed
    run as it comes back (here, while the workers run the others)."""
    from xmtrade.sweep.runner import execute, read_shared
    from xmtrade.sweep.screening import MISMATCH, KernelMismatch, screener_for

    shared = read_shared(bars, configs)
    tasks = [Task(("explain", n), c, start, end) for n, c in zip(names, configs, strict=True)]
    # compiled and precomputed here once, for the forked workers to inherit; a config the
    # kernel cannot run is said by the worker that runs it
    with contextlib.suppress(Exception):
        screener_for(shared).run(configs[0], start, end)

    def arrived(outcome: Outcome) -> None:
        if on_record is not None and isinstance(outcome, RunRecord):
            on_record(outcome)

    done, interrupted = execute(
        tasks, shared, executor, progress, run=confirm_run, on_outcome=arrived
    )
    records: dict[str, RunRecord] = {}
    for outcome in done:
        name = outcome.key[1]
        if outcome.error is not None:
            if outcome.error.startswith(MISMATCH):
                raise KernelMismatch(
                    "explain", f"variant {name}", outcome.error + " (the explanation is stopped)"
                )
            raise UserInputError("explain", f"variant {name}", outcome.error)
        assert isinstance(outcome, RunRecord)
        records[name] = outcome
    return records, interrupted
