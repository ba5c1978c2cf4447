"""Screen, then confirm: `--engine kernel` (the default) screens every combination in the
compiled kernel and re-runs the best `--confirm N` in backtrader; its rows and best.yaml equal
`--engine backtrader`'s; a confirmed run that differs stops the sweep naming the combination
and the session; a combination the kernel cannot mirror runs in backtrader. And the optuna
search mode of the grid file: errors, and a study resumed where it stopped."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from xmtrade.cli import main
from xmtrade.config import ConfigLayers
from xmtrade.kernel import screen
from xmtrade.kernel.precompute import Unsupported
from xmtrade.sweep.executors import SerialExecutor
from xmtrade.sweep.grid import parse_grid
from xmtrade.sweep.screening import KernelMismatch
from xmtrade.sweep.search import run_study
from xmtrade.sweep.sweep import run_sweep

REPO = Path(__file__).resolve().parents[3]
STAGE1 = str(REPO / "configs" / "stage1_only.yaml")
WINDOW = ["--start", "2020-01-02", "--end", "2023-12-29"]
GRID = (
    "signals.rsi.oversold: [30, 36, 40]\nstop.lookback: [10, 20]\n"
    "exits.max_holding_sessions: [20, 63]\n"
)


def _sweep(home: Path, out: Path, grid: Path, *extra: str) -> int:
    args = ["sweep", "--data-dir", str(home), "-c", STAGE1, "--grid", str(grid)]
    return main([*args, "--out", str(out), "--no-progress", "--jobs", "1", *WINDOW, *extra])


@pytest.mark.slow
def test_kernel_sweep_equals_the_backtrader_sweep(home: Path, tmp_path: Path) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    assert _sweep(home, tmp_path / "k", grid, "--confirm", "3") == 0
    assert _sweep(home, tmp_path / "b", grid, "--engine", "backtrader") == 0
    kernel = pd.read_csv(tmp_path / "k" / "results.csv").set_index("combination")
    backtrader = pd.read_csv(tmp_path / "b" / "results.csv").set_index("combination")
    skip = {"seconds", "stale_decisions", "config_hash"}  # not computed by the kernel
    columns = [c for c in kernel.columns if c not in skip]
    pd.testing.assert_frame_equal(kernel[columns], backtrader.loc[kernel.index, columns])
    best = (tmp_path / "k" / "best.yaml").read_text().replace(str(tmp_path / "k"), "OUT")
    assert best == (tmp_path / "b" / "best.yaml").read_text().replace(str(tmp_path / "b"), "OUT")
    meta = json.loads((tmp_path / "k" / "sweep.json").read_text())
    assert meta["engine"] == "kernel" and len(meta["confirmed"]) == 3
    top = kernel.sort_values("rank").index[:3].tolist()
    assert sorted(meta["confirmed"]) == sorted(top)
    confirmed = kernel.loc[top]
    assert confirmed["config_hash"].notna().all()  # the reported rows are backtrader's
    assert (confirmed["config_hash"] == backtrader.loc[top, "config_hash"]).all()


def _run(home: Path, tmp_path: Path, layers: ConfigLayers, **kwargs: Any) -> Any:
    from data_feeds.cache import PriceCache
    from xmtrade.home import prices_dir

    bars = PriceCache(prices_dir(home)).load("1810.HK")
    grid = parse_grid({"signals.rsi.oversold": [30, 40], "stop.lookback": [10, 20]}, "g.yaml", 99)
    return run_sweep(
        layers=layers,
        base_files=[STAGE1],
        grid=grid,
        bars=bars,
        out=tmp_path / "out",
        executor=SerialExecutor(),
        metric="sharpe",
        min_trades=0,
        pbo_splits=4,
        start=pd.Timestamp("2021-01-04").date(),
        end=pd.Timestamp("2022-12-30").date(),
        show_progress=False,
        engine="kernel",
        **kwargs,
    )


@pytest.mark.slow
def test_a_confirmed_run_that_differs_stops_the_sweep(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = screen.first_difference

    def differs(run: Any, result: Any) -> str | None:
        assert real(run, result) is None
        return "first differing session 2021-03-04: NAV kernel 1.00 backtrader 2.00"

    monkeypatch.setattr(screen, "first_difference", differs)
    with pytest.raises(KernelMismatch) as stopped:
        _run(home, tmp_path, ConfigLayers([Path(STAGE1)]), confirm=1)
    line = stopped.value.line()
    assert line.startswith("sweep: combination ")
    assert "first differing session 2021-03-04" in line and "stopped" in line
    meta = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert meta["status"] == "failed" and meta["error"] == line
    assert not (tmp_path / "out" / "best.yaml").exists()


@pytest.mark.slow
def test_a_config_the_kernel_cannot_mirror_runs_in_backtrader(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = screen.Screener.run

    def refuse(self: Any, cfg: Any, *args: Any, **kwargs: Any) -> Any:
        if cfg.stop.lookback == 20:
            raise Unsupported("not mirrored")
        return real(self, cfg, *args, **kwargs)

    monkeypatch.setattr(screen.Screener, "run", refuse)
    result = _run(home, tmp_path, ConfigLayers([Path(STAGE1)]), confirm=0)
    meta = json.loads((result.folder / "sweep.json").read_text())
    by_lookback = {r.index + 1: r.params["stop.lookback"] for r in result.ranked}
    assert sorted(meta["confirmed"]) == sorted(k for k, v in by_lookback.items() if v == 20)
    assert all(r.metrics is not None for r in result.ranked)


def test_bad_confirm_and_search_keys(
    home: Path, tmp_path: Path, fails: Callable[[list[str]], str]
) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("stop.lookback: [10, 20]\n")
    data = ["--data-dir", str(home)]
    assert "--confirm" in fails(["sweep", *data, "--grid", str(grid), "--confirm", "-1"])
    for text, key in (
        ("search: annealing\ntrials: 5\nstop.lookback: [10, 20]\n", "search"),
        ("search: tpe\ntrials: 0\nstop.lookback: [10, 20]\n", "trials"),
        ("search: tpe\ntrials: 5\nsample: {count: 3}\nstop.lookback: [10, 20]\n", "sample"),
        ("search: grid\ntrials: 5\nstop.lookback: {randint: [10, 20]}\n", "stop.lookback"),
    ):
        grid.write_text(text)
        assert f"{grid}: {key}: " in fails(["sweep", *data, "--grid", str(grid)])


@pytest.mark.parametrize("method", ["tpe", "cmaes", "random", "grid"])
def test_a_study_resumes_where_it_stopped(tmp_path: Path, method: str) -> None:
    spec: dict[str, Any] = {
        "search": method,
        "trials": 5,
        "seed": 3,
        "signals.rsi.oversold": [25, 30, 35] if method == "grid" else {"uniform": [20, 40]},
        "stop.lookback": [10, 20, 30],
    }
    told: list[dict[str, Any]] = []

    def objective(params: dict[str, Any]) -> float | None:
        told.append(params)
        return None if params["stop.lookback"] == 30 else float(params["signals.rsi.oversold"])

    storage = tmp_path / "studies" / "s.journal"
    first, stopped = run_study(parse_grid(spec, "g.yaml", 100), storage, "s", objective, False)
    assert not stopped and len(told) == 5 and storage.exists()
    spec["trials"] = 8
    more, _ = run_study(parse_grid(spec, "g.yaml", 100), storage, "s", objective, False)
    assert len(told) == 8  # three more trials asked, the first five kept
    assert more[: len(first)] == first and len(more) >= len(first)
    again, _ = run_study(parse_grid(spec, "g.yaml", 100), storage, "s", objective, False)
    assert len(told) == 8 and again == more  # nothing left to ask


def test_a_trial_waiting_in_the_study_is_still_asked_first(tmp_path: Path) -> None:
    """The journal answers "no waiting trials" at once only for a study that holds none."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = tmp_path / "s.journal"
    study = optuna.create_study(
        study_name="s",
        storage=JournalStorage(JournalFileBackend(str(storage))),
        direction="maximize",
    )
    study.enqueue_trial({"signals.rsi.oversold": 33.0, "stop.lookback": 17})
    spec = {
        "search": "random",
        "trials": 3,
        "seed": 1,
        "signals.rsi.oversold": {"uniform": [20, 40]},
        "stop.lookback": {"randint": [10, 30]},
    }
    told: list[dict[str, Any]] = []

    def objective(params: dict[str, Any]) -> float:
        told.append(params)
        return 1.0

    combos, _ = run_study(parse_grid(spec, "g.yaml", 100), storage, "s", objective, False)
    assert told[0] == {"signals.rsi.oversold": 33.0, "stop.lookback": 17}
    assert len(told) == 3 and len(set(map(str, combos))) == 3


@pytest.mark.slow
def test_ctrl_c_while_screening_keeps_the_screened_rows(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from xmtrade.sweep import screening

    real = screening.screen_one
    calls: list[Any] = []

    def interrupt(shared: Any, task: Any) -> Any:
        calls.append(task)
        if len(calls) > 5:
            raise KeyboardInterrupt
        return real(shared, task)

    monkeypatch.setattr(screening, "screen_one", interrupt)
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    assert _sweep(home, tmp_path / "k", grid, "--min-trades", "0") == 130
    assert "interrupted after 5 of 12 runs" in capsys.readouterr().err
    table = pd.read_csv(tmp_path / "k" / "results.partial.csv")  # only the partial name is kept
    assert len(table) == 5
    assert json.loads((tmp_path / "k" / "sweep.json").read_text())["status"] == "interrupted"


@pytest.mark.slow
def test_half_cent_interest_does_not_stop_a_sweep(home: Path, tmp_path: Path) -> None:
    """980,025.00 at 2.5% earns 67.125 a day: kernel and backtrader round it alike, so the
    confirmed rows agree and results.csv carries one figure whichever engine ran a row."""
    layer = tmp_path / "cash.yaml"
    layer.write_text(
        "backtest:\n  initial_nav: 980025\n"
        "cash:\n  rate:\n    - {start: 1990-01-01, rate_pct: 2.5}\n"
    )
    grid = tmp_path / "grid.yaml"
    grid.write_text("signals.rsi.oversold: [25, 30, 35, 40]\n")
    args = ["sweep", "--data-dir", str(home), "-c", STAGE1, "-c", str(layer), "--grid", str(grid)]
    args += ["--no-progress", "--jobs", "1", "--start", "2019-03-28", "--end", "2019-12-31"]
    assert main([*args, "--out", str(tmp_path / "k"), "--confirm", "4", "--min-trades", "0"]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--engine", "backtrader"]) == 0
    kernel = pd.read_csv(tmp_path / "k" / "results.csv").set_index("combination")
    backtrader = pd.read_csv(tmp_path / "b" / "results.csv").set_index("combination")
    assert (kernel["final_nav"] == backtrader.loc[kernel.index, "final_nav"]).all()
