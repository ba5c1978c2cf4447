"""Parallel screening: chunks of combinations screened on every worker give the rows of the
serial sweep (the same results.csv, best.yaml and confirmed rows), and the chunks are grouped
by what their precomputed arrays depend on."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest

from xmtrade.cli import main
from xmtrade.config import ConfigLayers
from xmtrade.sweep.grid import parse_grid
from xmtrade.sweep.runner import build_configs, window_tasks
from xmtrade.sweep.screening import screen_chunks, screening_key

WINDOW = ["--start", "2021-01-04", "--end", "2023-12-29"]
GRID = """sample: {count: 40, seed: 9}
signals.rsi.oversold: {uniform: [25, 40]}
signals.rsi.period: {randint: [7, 28]}
exits.rsi_overbought: {uniform: [60, 85]}
stop.method: {choice: [lowest_low, atr, swing_low]}
stop.lookback: {randint: [5, 60]}
exits.trailing_stop: {choice: [true, false]}
"""


def _sweep(home: Path, out: Path, grid: Path, jobs: str) -> None:
    args = ["sweep", "--data-dir", str(home), "--grid", str(grid), "--out", str(out)]
    assert main([*args, "--no-progress", "--jobs", jobs, "--confirm", "3", "--min-trades",
                 "0", "--report", "none", *WINDOW]) == 0  # fmt: skip


@pytest.mark.slow
def test_screening_on_two_workers_equals_the_serial_sweep(home: Path, tmp_path: Path) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    _sweep(home, tmp_path / "serial", grid, "1")
    _sweep(home, tmp_path / "pool", grid, "2")
    serial = pd.read_csv(tmp_path / "serial" / "results.csv").drop(columns="seconds")
    pool = pd.read_csv(tmp_path / "pool" / "results.csv").drop(columns="seconds")
    assert len(serial) == 40
    pd.testing.assert_frame_equal(serial, pool)
    # best.yaml's reproduce line names its own folder; everything else is the same
    best = (tmp_path / "serial" / "best.yaml").read_text()
    assert best.replace(str(tmp_path / "serial"), "DIR") == (
        (tmp_path / "pool" / "best.yaml").read_text().replace(str(tmp_path / "pool"), "DIR")
    )
    confirmed = [json.loads((tmp_path / f / "sweep.json").read_text())["confirmed"]
                 for f in ("serial", "pool")]  # fmt: skip
    assert confirmed[0] == confirmed[1] and len(confirmed[0]) == 3


def test_chunks_hold_every_task_once_grouped_by_their_arrays() -> None:
    spec = {
        "sample": {"count": 300, "seed": 2},
        "signals.rsi.oversold": {"uniform": [20, 40]},
        "signals.rsi.period": {"randint": [10, 12]},
        "stop.lookback": {"choice": [10, 20]},
    }
    configs = build_configs(ConfigLayers(), parse_grid(spec, "g.yaml", 1000))
    tasks = window_tasks(configs, None, None)
    chunks = screen_chunks(tasks, workers=2)
    assert sorted(t.key for chunk in chunks for t in chunk) == sorted(t.key for t in tasks)
    assert 1 < len(chunks) <= 8 * 2  # a few chunks a worker, not one task each
    keys = [screening_key(t.config) for chunk in chunks for t in chunk]
    changes = sum(1 for a, b in itertools.pairwise(keys) if a != b)
    assert changes == len(set(keys)) - 1  # each setting's tasks are contiguous
