"""Search beyond grids: an optuna study proposes the combinations.

A grid file with a top-level `search:` key names the sampler, `trials:` how many trials the
study should hold, `seed:` its seed; the other keys are the fields, as in a sampled grid
(`uniform`, `randint`, `choice`, or a list / range, searched as a categorical):

```yaml
search: tpe          # tpe | cmaes | random | grid (grid: lists and ranges only)
trials: 200
seed: 7
signals.rsi.oversold: {uniform: [20, 40]}
stop.lookback: {randint: [10, 40]}
exits.trailing_stop: [true, false]
```

Each trial is screened in the kernel (or run in backtrader with `--engine backtrader`) and
its metric told to the study. The study lives in DATA_DIR/studies/<grid>-<digest>.journal
(optuna's journal file storage, written in batches by one owner: see search_journal), named
by the search space, the config layers, the metric and the window: running the same command
again resumes it up to `trials` trials. Every trial of the study, resumed ones too, then goes
through the sweep as one combination (screened, the best confirmed in backtrader), so every
trial counts in the deflated Sharpe ratio and the PBO.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xmtrade.interrupts import critical
from xmtrade.sweep.grid import UNIFORM_DIGITS

if TYPE_CHECKING:
    from xmtrade.sweep.grid import Axis, Grid


def study_file(data_dir: Path, grid: Grid, key: Mapping[str, Any]) -> tuple[Path, str]:
    """The study's journal file and name: one study per search space, sampler and seed, config
    layers, metric and window (not per `trials`: raising it resumes the study)."""
    space = [[a.path, a.kind, list(a.values)] for a in grid.axes]
    identity = {"space": space, "search": grid.search, "seed": grid.seed, **key}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[
        :12
    ]
    name = f"{Path(grid.source).stem}-{digest}"
    return data_dir / "studies" / f"{name}.journal", name


def run_study(
    grid: Grid,
    storage: Path,
    name: str,
    objective: Callable[[dict[str, Any]], float | None],
    minimise: bool,
    say: Callable[[str], None] | None = None,
) -> tuple[tuple[dict[str, Any], ...], bool]:
    """Ask the study for trials until it holds `grid.trials` finished ones; every trial's
    parameters in order (the resumed ones first) and whether Ctrl-C stopped it. `say` gets
    the one line telling that a dead owner's study was taken over."""
    import optuna

    from xmtrade.sweep.search_journal import StudyOwnership, batched_backend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with StudyOwnership(storage) as ownership:
        if say is not None and ownership.took_over is not None:
            say(
                f"taking over the study {storage.name} from {ownership.took_over.words()}, "
                "which is no longer running (trials it told after its last write are lost)"
            )
        elif say is not None and ownership.stale_lock:
            say(f"removed the stale lock of the study {storage.name} left by a killed search")
        # an append-only journal, written in batches (search_journal): a study killed
        # halfway keeps every trial written before
        backend = batched_backend(storage)
        try:
            return _ask_and_tell(grid, name, objective, minimise, backend)
        finally:
            with critical():  # a second Ctrl-C does not cut the last write
                backend.flush()


def _ask_and_tell(
    grid: Grid,
    name: str,
    objective: Callable[[dict[str, Any]], float | None],
    minimise: bool,
    backend: Any,
) -> tuple[tuple[dict[str, Any], ...], bool]:
    import optuna

    journal = _journal_class()(backend)
    held = 0
    with contextlib.suppress(KeyError):
        held = len(optuna.load_study(study_name=name, storage=journal).trials)
    study = optuna.create_study(
        study_name=name,
        storage=journal,
        sampler=_sampler(grid, held),
        direction="minimize" if minimise else "maximize",
        load_if_exists=True,
    )
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
    waiting = (optuna.trial.TrialState.WAITING,)
    journal.none_waiting = not study.get_trials(deepcopy=False, states=waiting)
    interrupted = False
    target = grid.trials or 0
    done = len(study.get_trials(deepcopy=False, states=finished))
    try:
        while done < target:
            trial = study.ask()
            params = {axis.path: _suggest(trial, axis) for axis in grid.axes}
            value = objective(params)
            if value is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, value)
            backend.told()
            done += 1
    except KeyboardInterrupt:
        interrupted = True
    combos: list[dict[str, Any]] = []
    seen: set[str] = set()
    for past in study.get_trials(deepcopy=False, states=finished):
        params = {axis.path: _value(axis, past.params[axis.path]) for axis in grid.axes}
        key = json.dumps(params, sort_keys=True, default=str)
        if key not in seen:  # a sampler may propose the same combination twice
            seen.add(key)
            combos.append(params)
    return tuple(combos), interrupted


@functools.cache
def _journal_class() -> type:
    from optuna.storages import JournalStorage
    from optuna.trial import TrialState

    class Journal(JournalStorage):
        """optuna's journal storage, answering at once the question every `ask` starts with,
        which trials wait in the queue: a search enqueues none, so once the study is known to
        hold none there are none (optuna scans every trial of the study for them at each ask,
        which makes a 100,000-trial search quadratic: 40 ms an ask at 70,000 trials)."""

        none_waiting = False

        def get_all_trials(
            self, study_id: int, deepcopy: bool = True, states: Any = None
        ) -> list[Any]:
            if self.none_waiting and states is not None and tuple(states) == (TrialState.WAITING,):
                return []
            return list(super().get_all_trials(study_id, deepcopy, states))

    return Journal


def _sampler(grid: Grid, held: int = 0) -> Any:
    """The grid's sampler; for a study resumed with `held` trials, seeded anew from the seed
    and that count (the same seed would propose the study's first trials again)."""
    import optuna

    seed = grid.seed if held == 0 or grid.search == "grid" else _resumed_seed(grid.seed, held)
    if grid.search == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if grid.search == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if grid.search == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    space = {axis.path: list(axis.values) for axis in grid.axes}
    return optuna.samplers.GridSampler(space, seed=seed)


def _resumed_seed(seed: int | None, held: int) -> int:
    digest = hashlib.sha256(f"{seed}:{held}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _suggest(trial: Any, axis: Axis) -> Any:
    if axis.kind == "uniform":
        low, high = axis.values
        return round(trial.suggest_float(axis.path, float(low), float(high)), UNIFORM_DIGITS)
    if axis.kind == "randint":
        low, high = axis.values
        return trial.suggest_int(axis.path, int(low), int(high))
    return trial.suggest_categorical(axis.path, list(axis.values))


def _value(axis: Axis, value: Any) -> Any:
    if axis.kind == "uniform":
        return round(float(value), UNIFORM_DIGITS)
    return value


__all__ = ["run_study", "study_file"]
