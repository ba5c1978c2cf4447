"""One backtest per combination, with everything that does not change shared across runs.

A worker gets the prices and the facts once (`SharedData`) and then runs batches of tasks.
It keeps, per process, what a run would otherwise rebuild:

- the session calendar, per (calendar code, ad-hoc closures);
- the signals (`signals_for`), per distinct `signals.*` and `exits.rsi_overbought`;
- the fundamental timeline (`load_fundamentals`), per distinct `fundamentals.*`, `gate.*`,
  `risk.rules` and `risk.on_unknown`.

So each distinct indicator setting is computed once per worker process, and tasks are
batched by setting so that it is usually once per sweep. Results are those of `run_backtest`
on the same inputs: the caches only skip recomputation.
"""

from __future__ import annotations

import json
import math
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from xmtrade.config import SWEEP_METRICS
from xmtrade.errors import UserInputError

if TYPE_CHECKING:
    import pandas as pd

    from data_feeds.calendar import SessionCalendar
    from data_feeds.fundamentals import Fact
    from strategies.fundamental_state import FundamentalTimeline
    from xmtrade.backtest import BacktestResult
    from xmtrade.config import AppConfig

# The statistics a sweep keeps for each run: keys of `figures.sweep_figures`, then the total
# fees and the session count (nested or renamed there).
EXTRA_METRICS = ("fees_total", "sessions")
METRICS = SWEEP_METRICS
SUMMARY_METRICS = tuple(m for m in METRICS if m not in EXTRA_METRICS)
# Metrics where less is better; for every other metric, more is better.
LOWER_IS_BETTER = frozenset({"annual_volatility", "fees_total", "cap_breaches", "stale_decisions"})

_CACHE_SIZE = 16  # signal frames and fundamental timelines kept per worker process


@dataclass(frozen=True)
class SharedData:
    """What every run of a sweep reads: the prices and the facts files, sent once per worker."""

    bars: pd.DataFrame
    facts: dict[str, list[Fact]]  # facts file path (as the configs name it) -> its facts
    token: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class Task:
    """One run: a combination's config over a window."""

    key: Any  # the caller's identifier, returned with the outcome
    config: AppConfig
    start: date | None
    end: date | None


@dataclass(frozen=True)
class Outcome:
    """What one run left: its summary metrics and daily returns, or why it failed."""

    key: Any
    metrics: dict[str, Any] | None
    returns: np.ndarray | None  # daily NAV returns over the traded sessions
    config_hash: str | None
    error: str | None
    seconds: float


RunFunction = Callable[["SharedData", "Task"], Outcome]


def run_one(shared: SharedData, task: Task) -> Outcome:
    """Run one task, catching a failure into the outcome (the sweep goes on)."""
    from xmtrade.backtest import collector_paused

    began = time.perf_counter()
    with collector_paused():  # the run's garbage is mostly freed by reference counting
        return _run(shared, task, began)


def backtest_task(shared: SharedData, task: Task) -> BacktestResult:
    """The backtrader run of one task, on this process's shared calendar, signals and
    fundamentals."""
    from xmtrade.backtest import run_backtest

    cfg = task.config
    calendar = _calendar(cfg)
    return run_backtest(
        cfg,
        shared.bars,
        calendar,
        start=task.start,
        end=task.end,
        signals=_signals(shared, cfg),
        fundamentals=_fundamentals(shared, cfg, calendar),
    )


def _run(shared: SharedData, task: Task, began: float) -> Outcome:
    try:
        result = backtest_task(shared, task)
    except Exception as exc:  # a failing run is reported in its row; the sweep goes on
        return Outcome(task.key, None, None, None, _reason(exc), time.perf_counter() - began)
    return outcome_of(task, result, began)


def outcome_of(task: Task, result: BacktestResult, began: float) -> Outcome:
    """A backtest's outcome: the sweep's metrics (`sweep_figures`, not the whole summary) and
    the daily NAV returns."""
    from xmtrade.reports.figures import sweep_figures

    cfg = task.config
    try:
        figures = sweep_figures(result)
    except Exception as exc:  # a failing run is reported in its row; the sweep goes on
        return Outcome(task.key, None, None, None, _reason(exc), time.perf_counter() - began)
    nav = result.equity["nav"].to_numpy(dtype=float)
    previous = np.concatenate(([cfg.backtest.initial_nav], nav[:-1]))
    metrics = {k: figures[k] for k in SUMMARY_METRICS}
    metrics["fees_total"] = figures["fees_paid"]["total"]
    metrics["sessions"] = figures["sessions"]
    return Outcome(
        task.key,
        metrics,
        nav / previous - 1.0,
        cfg.config_hash(),
        None,
        time.perf_counter() - began,
    )


def run_batch(
    shared: SharedData, tasks: Sequence[Task], run: RunFunction | None = None
) -> list[Outcome]:
    """Run tasks in order in this process (what a worker does with one batch)."""
    runner = run or run_one
    return [runner(shared, task) for task in tasks]


def prepare(shared: SharedData, tasks: Sequence[Task]) -> None:
    """Load in this process what the tasks' runs share: the engine's modules, each distinct
    calendar and fundamental timeline (with its state on every session already worked out).
    Called before a pool forks its workers, so that they inherit it instead of each building
    it again."""
    import xmtrade.backtest  # noqa: F401  (backtrader, ta, exchange_calendars)

    sessions = [ts.date() for ts in shared.bars.index]
    seen: set[str] = set()
    looked: set[tuple[int, ...]] = set()
    for task in tasks:
        cfg = task.config  # configs of a sweep share equal sections: skip those seen
        same = (id(cfg.fundamentals), id(cfg.gate), id(cfg.risk), id(cfg.market))
        if same in looked:
            continue
        looked.add(same)
        key = fundamentals_key(task.config)
        if key in seen:
            continue
        seen.add(key)
        timeline = _fundamentals(shared, task.config, _calendar(task.config))
        for day in sessions:
            timeline.at(day)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UserInputError):
        return exc.line()
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{at}"


# ---------------------------------------------------------------------- per-process caches


class _Lru:
    """A small least-recently-used cache, safe to share between threads (Dask workers)."""

    def __init__(self) -> None:
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            value = make()
            self._items[key] = value
            while len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)
            return value


_CALENDARS = _Lru()
_SIGNALS = _Lru()
_TIMELINES = _Lru()


def signals_key(cfg: AppConfig) -> str:
    """What `signals_for` depends on."""
    return json.dumps(
        {
            "signals": cfg.signals.model_dump(mode="json"),
            "rsi_overbought": cfg.exits.rsi_overbought,
        },
        sort_keys=True,
    )


def fundamentals_key(cfg: AppConfig) -> str:
    """What `load_fundamentals` depends on (besides the calendar)."""
    return json.dumps(
        {
            "fundamentals": cfg.fundamentals.model_dump(mode="json"),
            "gate": cfg.gate.model_dump(mode="json"),
            "rules": [r.model_dump(mode="json") for r in cfg.risk.rules],
            "on_unknown": cfg.risk.on_unknown,
            "calendar": _calendar_key(cfg),
        },
        sort_keys=True,
    )


def _calendar_key(cfg: AppConfig) -> tuple[str, tuple[str, ...]]:
    return cfg.market.calendar, tuple(d.isoformat() for d in cfg.market.adhoc_closures)


def _calendar(cfg: AppConfig) -> SessionCalendar:
    from xmtrade.config import session_calendar

    return _CALENDARS.get_or(_calendar_key(cfg), lambda: session_calendar(cfg))


def _signals(shared: SharedData, cfg: AppConfig) -> pd.DataFrame:
    from xmtrade.backtest import signals_for

    return _SIGNALS.get_or((shared.token, signals_key(cfg)), lambda: signals_for(cfg, shared.bars))


def _fundamentals(
    shared: SharedData, cfg: AppConfig, calendar: SessionCalendar
) -> FundamentalTimeline:
    def build() -> FundamentalTimeline:
        from data_feeds.fundamentals import PointInTimeFacts
        from strategies.fundamental_state import FundamentalTimeline

        facts = shared.facts.get(str(cfg.fundamentals.file))
        if facts is None:  # not shipped with the prices: read it here
            from xmtrade.backtest import load_fundamentals

            return load_fundamentals(cfg, calendar)
        pit = PointInTimeFacts(facts, calendar, cfg.fundamentals.decision_time)
        return FundamentalTimeline(pit, cfg)

    return _TIMELINES.get_or((shared.token, fundamentals_key(cfg)), build)


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
