"""Screen, then confirm: every combination runs in the compiled kernel (xmtrade/kernel/), the
best `confirm` of each group (a sweep; a walk-forward training span) run again in backtrader,
and those rows (the ones reported, best.yaml's) are backtrader's.

A confirmed run whose daily NAV differs from the kernel's by a cent, or whose trades differ,
stops the sweep (`KernelMismatch`, one line naming the combination and the first differing
session). A combination the kernel cannot mirror (`Unsupported`, or a status other than OK)
runs in backtrader from the start: the kernel never silently differs.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from xmtrade.errors import UserInputError
from xmtrade.interrupts import checkpoint
from xmtrade.sweep.runner import Row, execute, rank
from xmtrade.sweep.work import Outcome, SharedData, Task, backtest_task, outcome_of

if TYPE_CHECKING:
    from xmtrade.kernel.screen import Screener
    from xmtrade.sweep.executors import Executor
    from xmtrade.sweep.progress import Progress

ENGINES = ("kernel", "backtrader")
DEFAULT_CONFIRM = 20
MISMATCH = "kernel and backtrader differ: "
FALLBACK = "the kernel cannot mirror this combination"  # a screened task for backtrader
SCREEN_CHUNK = 256  # most tasks in one chunk sent to a screening worker
_SCREENERS: dict[str, Screener] = {}  # per process: the screener of a SharedData token


class KernelMismatch(UserInputError):
    """A confirmed run differs from its kernel run: the sweep stops."""


def screener_for(shared: SharedData) -> Screener:
    """This process's screener of `shared` (its arrays are built once per setting)."""
    from xmtrade.kernel.screen import Screener

    found = _SCREENERS.get(shared.token)
    if found is None:
        _SCREENERS.clear()
        found = _SCREENERS[shared.token] = Screener(shared.bars, shared.facts)
    return found


def screen_one(shared: SharedData, task: Task) -> Outcome | None:
    """The kernel's outcome of one task; None when the kernel cannot mirror it."""
    from xmtrade.kernel.precompute import Unsupported

    began = time.perf_counter()
    try:
        run = screener_for(shared).run(task.config, task.start, task.end)
    except Unsupported:
        return None
    except UserInputError:
        return None  # backtrader reports the problem in the row
    if not run.ok:
        return None
    return Outcome(
        task.key,
        run.metrics(),
        run.returns(),
        None,  # a screened row carries no config hash (hashing costs more than the run)
        None,
        time.perf_counter() - began,
    )


def confirm_one(shared: SharedData, task: Task) -> Outcome:
    """The backtrader run of a screened task, checked against the kernel run: a difference
    comes back as an error starting with `MISMATCH`."""
    from xmtrade.kernel.screen import first_difference

    began = time.perf_counter()
    try:
        result = backtest_task(shared, task)
    except Exception as exc:
        return Outcome(task.key, None, None, None, f"{MISMATCH}backtrader failed: {exc}", 0.0)
    run = screener_for(shared).run(task.config, task.start, task.end)
    difference = first_difference(run, result)
    if difference is not None:
        return Outcome(task.key, None, None, None, MISMATCH + difference, 0.0)
    return outcome_of(task, result, began)


def screen_then_confirm(
    tasks: Sequence[Task],
    shared: SharedData,
    executor_factory: Callable[[], Executor],
    progress: Progress,
    metric: str,
    min_trades: int,
    confirm: int,
    on_outcome: Callable[[Outcome], None] | None = None,
    describe: Callable[[Any], str] = str,
    make_progress: Callable[[int, str], Progress] | None = None,
) -> tuple[dict[Any, Outcome], set[Any], bool]:
    """Screen every task in the kernel, run the ones it cannot mirror in backtrader, then
    confirm the best `confirm` kernel rows of each group (a task key's first element).

    Returns the outcomes by key (confirmed ones replaced by backtrader's; without their
    daily returns, which only `on_outcome` sees), the keys whose outcome is backtrader's, and
    whether Ctrl-C stopped it."""
    outcomes: dict[Any, Outcome] = {}
    from_backtrader: set[Any] = set()
    fallback: list[Task] = []

    def screened(outcome: Outcome, task: Task | None = None) -> None:
        if outcome.error == FALLBACK:
            fallback.append(task or by_key[outcome.key])
            return
        if on_outcome is not None:
            on_outcome(outcome)
        outcomes[outcome.key] = _without_returns(outcome)

    by_key = {t.key: t for t in tasks}
    from xmtrade.sweep.executors import SerialExecutor

    executor = executor_factory()
    if not isinstance(executor, SerialExecutor) and len(tasks) > 1:  # a pool, or Dask
        interrupted = _screen_in_chunks(tasks, shared, executor, progress, screened)
    else:
        interrupted = _screen_here(tasks, shared, progress, screened)
    if fallback and not interrupted:
        done, interrupted = execute(fallback, shared, executor_factory(), progress)
        for outcome in done:
            outcomes[outcome.key] = _without_returns(outcome)
            from_backtrader.add(outcome.key)
            if on_outcome is not None:
                on_outcome(outcome)
    else:
        progress.finish()
    if interrupted or confirm <= 0:
        return outcomes, from_backtrader, interrupted
    chosen = _to_confirm(tasks, outcomes, from_backtrader, metric, min_trades, confirm)
    if not chosen:
        return outcomes, from_backtrader, interrupted
    checking = (make_progress or _quiet)(len(chosen), "confirming in backtrader")
    done, interrupted = execute(chosen, shared, executor_factory(), checking, run=confirm_one)
    for outcome in done:
        if outcome.error is not None and outcome.error.startswith(MISMATCH):
            raise KernelMismatch(
                "sweep", describe(outcome.key), outcome.error + " (the sweep is stopped)"
            )
        outcomes[outcome.key] = _without_returns(outcome)
        from_backtrader.add(outcome.key)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes, from_backtrader, interrupted


def screen_task(shared: SharedData, task: Task) -> Outcome:
    """`screen_one` as a worker runs it: a task the kernel cannot mirror comes back marked
    `FALLBACK` (the main process runs it in backtrader)."""
    outcome = screen_one(shared, task)
    if outcome is None:
        return Outcome(task.key, None, None, None, FALLBACK, 0.0)
    return outcome


def screening_key(cfg: Any) -> tuple[Any, ...]:
    """What a combination's precomputed arrays depend on, to group the chunks by (configs
    built by `combos.CombinationBuilder` share equal sections, so identities suffice)."""
    sig = cfg.signals
    return (
        sig.rsi.period,
        id(sig.macd),
        id(sig.divergence),
        id(cfg.stop),
        id(cfg.fundamentals),
        id(cfg.risk),
        id(cfg.market),
        id(cfg.backtest),
    )


def screen_chunks(tasks: Sequence[Task], workers: int) -> list[list[Task]]:
    """The tasks in chunks for the workers: grouped by `screening_key` (a worker builds each
    array once and reuses it), big enough that sending a chunk costs little beside its runs,
    small enough that every worker stays busy and the progress bar moves."""
    groups: dict[tuple[Any, ...], list[Task]] = {}
    for task in tasks:
        groups.setdefault((task.start, task.end, *screening_key(task.config)), []).append(task)
    ordered = [task for group in groups.values() for task in group]
    size = max(1, min(SCREEN_CHUNK, -(-len(ordered) // (workers * 4))))
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def _screen_here(
    tasks: Sequence[Task],
    shared: SharedData,
    progress: Progress,
    screened: Callable[[Outcome, Task | None], None],
) -> bool:
    """Screen every task in this process, in order; True when Ctrl-C stopped it (the tasks
    screened so far are kept)."""
    pending = 0
    interrupted = False
    try:
        for task in tasks:
            outcome = screen_one(shared, task)
            screened(outcome or Outcome(task.key, None, None, None, FALLBACK, 0.0), task)
            pending += 1
            if pending >= 50:
                progress.advance(pending)
                pending = 0
                checkpoint()
    except KeyboardInterrupt:
        interrupted = True
    if pending:
        progress.advance(pending)
    return interrupted


def _screen_in_chunks(
    tasks: Sequence[Task],
    shared: SharedData,
    executor: Executor,
    progress: Progress,
    screened: Callable[[Outcome, Task | None], None],
) -> bool:
    """Screen the tasks in chunks on the executor's workers (each keeps its own screener);
    True when Ctrl-C or SIGTERM stopped it. The first task runs here first: it loads the
    compiled kernel and builds the shared arrays, which forked workers then inherit."""
    first = tasks[0]
    try:
        screened(screen_task(shared, first), first)
    except KeyboardInterrupt:
        return True
    progress.advance(1)
    _, interrupted = execute(
        tasks[1:],
        shared,
        executor,
        progress,
        run=screen_task,
        on_outcome=lambda outcome: screened(outcome, None),
        batches=screen_chunks,
        failed=lambda outcome: outcome.error not in (None, FALLBACK),
        finish=False,
    )
    return interrupted


def _without_returns(outcome: Outcome) -> Outcome:
    """The outcome as kept for ranking: its daily returns go to `on_outcome` only (a big
    search would otherwise hold every run's series twice)."""
    return dataclasses.replace(outcome, returns=None)


def _quiet(total: int, label: str) -> Progress:
    from xmtrade.sweep.progress import Progress

    return Progress(total, label=label, enabled=False)


def _to_confirm(
    tasks: Sequence[Task],
    outcomes: dict[Any, Outcome],
    from_backtrader: set[Any],
    metric: str,
    min_trades: int,
    confirm: int,
) -> list[Task]:
    """The best `confirm` tasks of each group by the kernel's rows (backtrader rows are
    already confirmed and count towards the N)."""
    by_key = {t.key: t for t in tasks}
    order = {t.key: n for n, t in enumerate(tasks)}  # ties keep the grid's order
    groups: dict[Any, list[Row]] = {}
    for key, outcome in outcomes.items():
        row = Row(order[key], {}, outcome.metrics, None, None, outcome.error, 0.0)
        groups.setdefault(_group(key), []).append(row)
    keys = {n: t.key for n, t in enumerate(tasks)}
    chosen: list[Task] = []
    for rows in groups.values():
        for row in rank(rows, metric, min_trades)[:confirm]:
            key = keys[row.index]
            if key not in from_backtrader:
                chosen.append(by_key[key])
    return chosen


def _group(key: Any) -> Any:
    return key[0] if isinstance(key, tuple) else None


__all__ = [
    "DEFAULT_CONFIRM",
    "ENGINES",
    "MISMATCH",
    "KernelMismatch",
    "confirm_one",
    "screen_chunks",
    "screen_one",
    "screen_task",
    "screen_then_confirm",
]
