"""What a search's study storage costs a trial, apart from the runs.

Not a test: a measurement, printed as a table. The study of `xmtrade sweep` on a
`search: random` grid (five fields: two uniform, two integers, a choice) with an objective
that costs nothing, so that what is timed is optuna's sampler and the storage only:

1. optuna's in-memory storage: the floor, what a study costs with no file at all;
2. the search's own storage (`xmtrade.sweep.search.run_study`: the journal written in
   batches, see `xmtrade/sweep/search_journal.py`);
3. optuna's journal file as the search used it before (an fsync per operation).

The storage's cost a trial is (2) minus (1). The journals go to --dir (default: a temporary
folder on the disk of the data directory's usual place, the user's home).

    python bench/bench_search_storage.py                 # 1,000 trials
    python bench/bench_search_storage.py --trials 10000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SPACE: dict[str, Any] = {
    "signals.rsi.oversold": {"uniform": [20, 40]},
    "signals.rsi.period": {"randint": [7, 28]},
    "exits.rsi_overbought": {"uniform": [60, 85]},
    "stop.lookback": {"randint": [5, 60]},
    "exits.trailing_stop": [True, False],
}


def _objective(params: dict[str, Any]) -> float:
    return float(params["signals.rsi.oversold"])


def in_memory(grid: Any, path: Path) -> None:
    """optuna with no storage file."""
    import optuna

    from xmtrade.sweep import search

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=grid.seed))
    for _ in range(grid.trials):
        trial = study.ask()
        params = {axis.path: search._suggest(trial, axis) for axis in grid.axes}
        study.tell(trial, _objective(params))


def batched(grid: Any, path: Path) -> None:
    """The search's storage."""
    from xmtrade.sweep.search import run_study

    run_study(grid, path, "bench", _objective, False)


def per_operation(grid: Any, path: Path) -> None:
    """optuna's journal file, an fsync per operation."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    from xmtrade.sweep import search

    journal = search._journal_class()(JournalFileBackend(str(path)))
    journal.none_waiting = True
    study = optuna.create_study(
        study_name="bench", storage=journal, sampler=optuna.samplers.RandomSampler(seed=1)
    )
    for _ in range(grid.trials):
        trial = study.ask()
        params = {axis.path: search._suggest(trial, axis) for axis in grid.axes}
        study.tell(trial, _objective(params))


def main() -> None:
    """Time the three storages and print a table."""
    import optuna

    from xmtrade.sweep.grid import parse_grid

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--dir", type=Path, default=None, help="where the journals go")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    grid = parse_grid({"search": "random", "trials": args.trials, "seed": 1, **SPACE}, "g", 10**7)
    folder = Path(tempfile.mkdtemp(prefix="bench-search-", dir=args.dir or Path.home()))
    cases: list[tuple[str, Callable[[Any, Path], None]]] = [
        ("optuna in memory (the floor)", in_memory),
        ("xmtrade's batched journal", batched),
        ("optuna journal, fsync per operation", per_operation),
    ]
    try:
        print(f"{args.trials:,} trials, journals in {folder}")
        print(f"{'storage':38s} {'wall ms/trial':>14s} {'CPU ms/trial':>13s}")
        for n, (name, run) in enumerate(cases):
            wall, cpu = time.perf_counter(), time.process_time()
            run(grid, folder / f"{n}.journal")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"{name:38s} {1000 * wall / args.trials:14.3f} {1000 * cpu / args.trials:13.3f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
