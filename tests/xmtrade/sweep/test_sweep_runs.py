"""`xmtrade sweep` end to end: ranked results, the best combination as an overlay that
reproduces its row exactly, the minimum-trades filter, failed runs kept in their rows, the
same results with 1 job and with 2, Ctrl-C keeping the finished rows, and bad input."""

from __future__ import annotations

import io
import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.xmtrade.sweep.rows import series_of
from xmtrade.cli import main
from xmtrade.commands.sweep import _leaders
from xmtrade.config import ConfigLayers
from xmtrade.sweep import work
from xmtrade.sweep.executors import PoolExecutor, SerialExecutor, make_executor
from xmtrade.sweep.grid import parse_grid
from xmtrade.sweep.output import prepare_folder, reserve_folder
from xmtrade.sweep.progress import Progress
from xmtrade.sweep.sweep import run_sweep

REPO = Path(__file__).resolve().parents[3]
STAGE1 = str(REPO / "configs" / "stage1_only.yaml")  # a base layer that trades often
WINDOW = ["--start", "2021-01-04", "--end", "2022-12-30"]
GRID = "signals.rsi.oversold: [32, 36, 40]\nstop.lookback: [10, 15]\n"  # no default values
BACKTRADER = ("--engine", "backtrader")  # Ctrl-C through `work.run_one`, the backtrader path


def sweep(home: Path, tmp_path: Path, grid_text: str, *extra: str) -> tuple[int, Path]:
    grid = tmp_path / "grid.yaml"
    grid.write_text(grid_text)
    out = fresh(tmp_path)
    args = ["sweep", "--data-dir", str(home), "-c", STAGE1, "--grid", str(grid), "--out", str(out)]
    return main([*args, "--no-progress", *WINDOW, *extra]), out


def fresh(tmp_path: Path) -> Path:
    """A new output folder for each sweep of a test (an existing one is refused)."""
    out, n = tmp_path / "sweep", 1
    while out.exists():
        n += 1
        out = tmp_path / f"sweep-{n}"
    return out


def results(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "results.csv")


@pytest.mark.slow
def test_sweep_ranks_and_best_overlay_reproduces_its_row(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = sweep(home, tmp_path, GRID, "--jobs", "1", "--min-trades", "40")
    assert code == 0
    printed = capsys.readouterr().out
    assert "combinations tried: 6 (6 completed, 0 failed)" in printed
    assert "deflated Sharpe ratio of the best" in printed
    assert {p.name for p in out.iterdir()} == {
        "results.csv",
        "best.yaml",
        "heatmap.png",
        "report.html",
        "plotly.min.js",
        "sweep.json",
    }
    table = results(out)
    assert len(table) == 6 and list(table["rank"]) == [1, 2, 3, 4, 5, 6]
    eligible = table[table["status"] == "ok"]
    assert list(eligible["sharpe"]) == sorted(eligible["sharpe"], reverse=True)
    assert len(eligible) == 4 and (eligible["n_trades"] >= 40).all()
    assert set(table.iloc[4:]["status"]) == {"too few trades (26 < 40)"}
    best = table.iloc[0]
    assert best["status"] == "ok"

    # the command written in the overlay reproduces the row exactly, run from any folder
    run = tmp_path / "run"
    text = (out / "best.yaml").read_text()
    command = next(line for line in text.splitlines() if line.startswith("#   xmtrade backtest"))
    args = shlex.split(command.removeprefix("#   xmtrade "))
    assert args[:3] == ["backtest", "--data-dir", str(home)]
    assert args[-2:] == ["--end", "2022-12-30"] and str(out / "best.yaml") in args
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main([*args, "--out", str(run)]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["config_hash"] == best["config_hash"]
    for metric in (
        "total_return",
        "sharpe",
        "max_drawdown",
        "final_nav",
        "n_trades",
        "cagr",
        "profit_factor",
        "win_rate",
        "exposure",
    ):
        assert summary[metric] == pytest.approx(best[metric], abs=0), metric
    assert summary["fees_paid"]["total"] == pytest.approx(best["fees_total"], abs=0)
    assert (summary["start"], summary["end"]) == ("2021-01-04", "2022-12-30")
    overlay = out / "best.yaml"
    command = (
        f"xmtrade backtest --data-dir {home} -c {STAGE1} -c {overlay} "
        "--start 2021-01-04 --end 2022-12-30"
    )
    assert command in overlay.read_text()

    report = json.loads((out / "sweep.json").read_text())
    assert report["status"] == "finished"
    assert report["best"]["config_hash"] == best["config_hash"]
    assert report["overfitting"]["combinations_tried"] == 6
    assert 0 <= report["overfitting"]["deflated_sharpe"]["dsr"] <= 1
    assert 0 <= report["overfitting"]["pbo"]["pbo"] <= 1


@pytest.mark.slow
def test_min_trades_keeps_lucky_runs_from_winning(home: Path, tmp_path: Path) -> None:
    code, out = sweep(home, tmp_path, GRID, "--jobs", "1", "--min-trades", "0")
    assert code == 0
    table = results(out)
    counts = sorted(set(table["n_trades"]))
    assert len(counts) > 1  # the grid gives runs with different trade counts
    threshold = counts[-1]  # only the busiest runs may win
    code, out = sweep(home, tmp_path, GRID, "--jobs", "1", "--min-trades", str(threshold))
    assert code == 0
    table = results(out)
    assert table.iloc[0]["n_trades"] >= threshold
    too_few = table[table["n_trades"] < threshold]
    assert not too_few.empty
    assert all(s.startswith("too few trades") for s in too_few["status"])
    assert too_few["rank"].min() > table[table["status"] == "ok"]["rank"].max()
    # nobody eligible: no overlay, a clear line
    code, out = sweep(home, tmp_path, GRID, "--jobs", "1", "--min-trades", "10000")
    assert code == 0
    assert not (out / "best.yaml").exists()


@pytest.mark.slow
def test_a_failing_run_is_reported_in_its_row_and_the_sweep_goes_on(
    home: Path, tmp_path: Path
) -> None:
    grid = "backtest.start: [2023-01-03, 2031-01-02]\nsignals.rsi.oversold: [30, 35]\n"
    code, out = sweep_without_window(home, tmp_path, grid)
    assert code == 0
    table = results(out)
    failed = table[table["status"] == "error"]
    assert len(failed) == 2 and len(table) == 4
    assert all("no bars on or after 2031-01-02" in e for e in failed["error"])
    assert failed["sharpe"].isna().all()
    assert (table.iloc[:2]["status"] != "error").all()  # failures rank last
    report = json.loads((out / "sweep.json").read_text())
    assert report["overfitting"]["failed"] == 2


def sweep_without_window(home: Path, tmp_path: Path, grid_text: str) -> tuple[int, Path]:
    grid = tmp_path / "grid.yaml"
    grid.write_text(grid_text)
    out = fresh(tmp_path)
    args = ["sweep", "--data-dir", str(home), "--grid", str(grid), "--out", str(out)]
    return main([*args, "--no-progress", "--jobs", "1", "--min-trades", "0"]), out


def outcome_table(rows: list[Any]) -> dict[Any, tuple[Any, ...]]:
    return {tuple(sorted(r.params.items())): (r.metrics, r.config_hash, series_of(r)) for r in rows}


@pytest.mark.slow
def test_one_job_and_two_jobs_give_identical_results(
    real_bars: pd.DataFrame, tmp_path: Path
) -> None:
    layers = ConfigLayers()
    grid = parse_grid(
        {
            "signals.rsi.oversold": [30, 40],
            "exits.rsi_overbought": [65, 75],
            "stop.lookback": [10, 20],
        },
        "grid",
        1000,
    )
    common: dict[str, Any] = {
        "layers": layers,
        "base_files": [],
        "grid": grid,
        "bars": real_bars,
        "metric": "sharpe",
        "min_trades": 0,
        "pbo_splits": 4,
        "show_progress": False,
        "start": pd.Timestamp("2022-01-03").date(),
        "end": pd.Timestamp("2023-06-30").date(),
    }
    one = run_sweep(out=tmp_path / "one", executor=SerialExecutor(), **common)
    two = run_sweep(out=tmp_path / "two", executor=PoolExecutor(2), **common)
    assert len(one.ranked) == len(two.ranked) == 8
    assert outcome_table(one.ranked) == outcome_table(two.ranked)
    assert [r.index for r in one.ranked] == [r.index for r in two.ranked]
    assert one.report == two.report
    assert (tmp_path / "one" / "results.csv").read_text().replace(",", " ").split("\n")[0] == (
        tmp_path / "two" / "results.csv"
    ).read_text().replace(",", " ").split("\n")[0]


class Interrupt:
    """A run function that finishes `rows` runs, then acts like Ctrl-C; on the way it notes
    how many rows results.csv already held on disk (written as runs finish)."""

    def __init__(self, rows: int, results: Path) -> None:
        self.rows = rows
        self.results = results
        self.calls = 0
        self.on_disk = -1

    def __call__(self, shared: work.SharedData, task: work.Task) -> work.Outcome:
        self.calls += 1
        if self.calls > self.rows:
            self.on_disk = len(pd.read_csv(self.results))
            raise KeyboardInterrupt
        return REAL_RUN(shared, task)


REAL_RUN = work.run_one


@pytest.mark.slow
def test_ctrl_c_keeps_the_finished_rows(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    interrupt = Interrupt(rows=4, results=tmp_path / "sweep" / "results.partial.csv")
    monkeypatch.setattr(work, "run_one", interrupt)
    code, out = sweep(home, tmp_path, GRID, "--jobs", "1", "--min-trades", "0", *BACKTRADER)
    assert code == 130
    err = capsys.readouterr().err
    partial = out / "results.partial.csv"
    assert f"interrupted after 4 of 6 runs; the finished rows are in {partial}" in err
    assert interrupt.on_disk == 4  # written row by row: a hard kill would keep them too
    table = pd.read_csv(partial)
    assert len(table) == 4 and table["error"].isna().all()
    assert table["rank"].tolist() == [1, 2, 3, 4]  # ranked when stopped
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["status"] == "interrupted" and meta["runs_finished"] == 4
    assert meta["best"] is not None  # the best of the finished rows, named in sweep.json
    # only the partial table: no finished name anybody could take for a whole sweep
    assert sorted(p.name for p in out.iterdir()) == [
        "outcomes.partial.jsonl",  # the runs `--resume` reuses
        "results.partial.csv",
        "returns.partial.f8",
        "sweep.json",
    ]


def test_leaders_of_an_empty_table() -> None:
    table = _leaders([], ["signals.rsi.oversold"], "sharpe", 0)
    assert table.title == "no run finished" and table.row_count == 0


@pytest.mark.slow
def test_ctrl_c_before_the_first_run_finishes(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    interrupt = Interrupt(rows=0, results=tmp_path / "sweep" / "results.partial.csv")
    monkeypatch.setattr(work, "run_one", interrupt)
    code, out = sweep(home, tmp_path, GRID, "--jobs", "1", *BACKTRADER)
    assert code == 130
    captured = capsys.readouterr()
    assert "no run finished" in captured.out
    assert "interrupted after 0 of 6 runs" in captured.err
    assert "Traceback" not in captured.err
    assert json.loads((out / "sweep.json").read_text())["status"] == "interrupted"


@pytest.mark.slow
def test_heatmap_only_when_exactly_two_fields_vary(home: Path, tmp_path: Path) -> None:
    code, out = sweep(
        home, tmp_path, "signals.rsi.oversold: [30, 40]\nstop.lookback: 20\n", "--jobs", "1"
    )
    assert code == 0
    assert not (out / "heatmap.png").exists()
    three = GRID + "exits.rsi_overbought: [65, 75]\n"
    code, out = sweep(home, tmp_path, three, "--jobs", "1")
    assert code == 0
    assert not (out / "heatmap.png").exists()


def test_bad_sweeps_are_one_line_and_write_nothing(
    home: Path, tmp_path: Path, fails: Callable[[list[str]], str]
) -> None:
    out = tmp_path / "out"

    def bad(grid_text: str, *extra: str) -> str:
        grid = tmp_path / "grid.yaml"
        grid.write_text(grid_text)
        args = ["sweep", "--data-dir", str(home), "--grid", str(grid), "--out", str(out)]
        line = fails([*args, *extra])
        assert not out.exists()
        return line

    grid = tmp_path / "grid.yaml"
    assert bad("") == f"{grid}: empty grid: name at least one config field to vary"
    assert bad("signals.rsi.oversld: [25]\n").endswith("did you mean 'signals.rsi.oversold'?")
    assert bad("signals.rsi.period: [14, 2.5]\n").startswith(f"{grid}: signals.rsi.period:")
    assert bad(GRID, "--metric", "sharp").startswith("--metric: unknown metric 'sharp'")
    assert bad(GRID, "--start", "2030-01-02").startswith("command line: --start: no bars")
    assert bad(GRID, "--executor", "dask") == (
        "--scheduler: --executor dask needs the scheduler's address (tcp://…)"
    )
    assert bad(GRID, "--jobs", "-1").startswith("command line: --jobs: expected 0")
    missing = tmp_path / "nope.yaml"
    line = fails(["sweep", "--data-dir", str(home), "--grid", str(missing)])
    assert line == f"{missing}: file not found"


def test_an_unrelated_output_folder_is_refused(
    home: Path, tmp_path: Path, fails: Callable[[list[str]], str]
) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "thesis.txt").write_text("mine")
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    line = fails(["sweep", "--data-dir", str(home), "--grid", str(grid), "--out", str(out)])
    assert line == f"--out: {out} exists; choose a new folder or remove it"
    assert (out / "thesis.txt").read_text() == "mine"


@pytest.mark.parametrize(("verb", "marker"), [("sweep", "sweep.json"), ("walkforward", None)])
def test_an_earlier_run_folder_is_refused_and_nothing_in_it_deleted(
    home: Path, tmp_path: Path, fails: Callable[[list[str]], str], verb: str, marker: str | None
) -> None:
    out = tmp_path / "earlier"
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "thesis.txt").write_text("mine")
    (out / (marker or "walkforward.json")).write_text("{}")
    (out / "results.csv").write_text("old rows")
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    args = [verb, "--data-dir", str(home), "--grid", str(grid), "--out", str(out)]
    if verb == "walkforward":
        args += ["--train", "2y", "--test", "1y"]
    line = fails(args)
    assert line == f"--out: {out} exists; choose a new folder or remove it"
    assert (out / "notes" / "thesis.txt").read_text() == "mine"
    assert (out / "results.csv").read_text() == "old rows"


def test_an_empty_output_folder_is_taken(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert prepare_folder(out) == out
    assert prepare_folder(tmp_path / "new" / "deeper").is_dir()


def test_default_folders_are_reserved_atomically(tmp_path: Path) -> None:
    first = reserve_folder(tmp_path / "sweeps", "20260101-120000-grid")
    second = reserve_folder(tmp_path / "sweeps", "20260101-120000-grid")
    third = reserve_folder(tmp_path / "sweeps", "20260101-120000-grid")
    assert first.name == "20260101-120000-grid"
    assert second.name == "20260101-120000-grid-2"
    assert third.name == "20260101-120000-grid-3"
    assert all(p.is_dir() for p in (first, second, third))


def test_make_executor_choices() -> None:
    assert isinstance(make_executor("local", 1), SerialExecutor)
    assert isinstance(make_executor("local", 3), PoolExecutor)
    assert make_executor("local", 3).workers == 3


def test_progress_plain_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(20, stream=stream, tty=False)
    for _ in range(20):
        progress.advance(note="best sharpe 0.5")
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert 1 <= len(lines) <= 11  # about one line per tenth
    assert lines[-1].startswith("20/20 runs (100%)")
    assert "ETA 0:00" in lines[-1] and "best sharpe 0.5" in lines[-1]
    assert "\r" not in stream.getvalue()


def test_progress_bar_on_a_terminal_is_rich() -> None:
    stream = io.StringIO()
    progress = Progress(4, stream=stream, tty=True)
    progress.advance(2, failed=1, note="best sharpe 0.5")
    progress.advance(2)
    progress.finish()
    text = stream.getvalue()
    assert "\x1b[" in text  # drawn as a terminal bar, not as plain lines
    assert "4/4" in text and "100%" in text
    assert "1 failed" in text and "best sharpe 0.5" in text


@pytest.mark.slow
def test_workers_are_capped_at_the_number_of_runs(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = sweep(home, tmp_path, "signals.rsi.oversold: [30]\n", "--jobs", "500")
    assert code == 0
    err = capsys.readouterr().err
    assert "sweep: 500 workers capped at 1, one per run" in err
    assert "on 1 process;" in err


def test_walkforward_workers_are_capped_at_its_training_runs(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from xmtrade.commands import sweep as command
    from xmtrade.sweep import walkforward

    seen: list[int] = []

    def stop(**kwargs: Any) -> Any:
        raise SystemExit(0)

    def executor(args: Any, jobs: int) -> SerialExecutor:
        seen.append(jobs)
        return SerialExecutor()

    monkeypatch.setattr(walkforward, "run_walkforward", stop)
    monkeypatch.setattr(command, "_executor", executor)
    grid = tmp_path / "grid.yaml"
    grid.write_text("signals.rsi.oversold: [25, 35, 45]\n")
    args = ["walkforward", "--data-dir", str(home), "--grid", str(grid), "--jobs", "500"]
    args += ["--train", "2y", "--test", "1y", "--start", "2019-01-02", "--end", "2022-12-30"]
    with pytest.raises(SystemExit):
        main([*args, "--out", str(tmp_path / "wf")])
    assert seen == [6]  # 3 combinations x 2 windows
    assert "walkforward: 500 workers capped at 6, one per run" in capsys.readouterr().err


@pytest.mark.slow
def test_repeated_grid_values_run_once_and_count_as_one_trial(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = sweep(home, tmp_path, "signals.rsi.oversold: [30, 30, 30, 40]\n", "--jobs", "1")
    assert code == 0
    captured = capsys.readouterr()
    assert "sweep: 2 combinations (2 repeated ones dropped) of" in captured.err
    assert "combinations tried: 2 (2 completed, 0 failed)" in captured.out
