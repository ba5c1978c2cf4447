"""Stopped and killed sweeps: `sweep.json` names its owner, a later command tells a killed
sweep from a live one, `xmtrade sweep --resume DIR` continues from the finished runs to the
same results as a sweep never stopped, and a refused sweep or backtest leaves no empty
folder behind (not even `sweeps/` or `runs/`)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from xmtrade.cli import main
from xmtrade.sweep.owner import Owner
from xmtrade.sweep.resume import OUTCOMES

REPO = Path(__file__).resolve().parents[3]
STAGE1 = str(REPO / "configs" / "stage1_only.yaml")
WINDOW = ["--start", "2021-01-04", "--end", "2022-12-30"]
GRID = "signals.rsi.oversold: [30, 35, 40]\nstop.lookback: [10, 20, 30]\n"


def _args(home: Path, grid: Path, out: Path) -> list[str]:
    return ["sweep", "--data-dir", str(home), "-c", STAGE1, "--grid", str(grid), "--out",
            str(out), "--no-progress", "--jobs", "1", "--engine", "backtrader",
            "--report", "none", *WINDOW]  # fmt: skip


def _table(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "results.csv").drop(columns=["seconds"])


def _guards(folder: Path) -> dict[str, object]:
    meta = json.loads((folder / "sweep.json").read_text())
    return {"best": meta["best"], "overfitting": meta["overfitting"]}


@pytest.mark.slow
def test_a_killed_sweep_resumes_to_the_same_results(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    whole = tmp_path / "whole"
    assert main(_args(home, grid, whole)) == 0
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "xmtrade.cli", *_args(home, grid, killed)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        lines = (killed / OUTCOMES).read_text().count("\n") if (killed / OUTCOMES).exists() else 0
        if lines >= 3:
            break
        assert process.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.05)
    process.kill()
    assert process.wait() == -signal.SIGKILL
    meta = json.loads((killed / "sweep.json").read_text())
    assert meta["status"] == "running" and Owner.of(meta["owner"]).alive() is False
    capsys.readouterr()
    # the same --out again: the dead owner is named and --resume suggested
    assert main(_args(home, grid, killed)) == 2
    said = capsys.readouterr().err
    assert f"was killed (pid {meta['owner']['pid']} on " in said
    assert f"xmtrade sweep --resume {killed}" in said
    # a grid changed since is refused, naming the folder
    grid.write_text(GRID.replace("[30, 35, 40]", "[31, 35, 40]"))
    assert main(["sweep", "--resume", str(killed), "--no-progress"]) == 2
    assert "is not the one this sweep ran" in capsys.readouterr().err
    grid.write_text(GRID)
    # options the sweep fixed are refused
    assert main(["sweep", "--resume", str(killed), "--metric", "cagr"]) == 2
    assert "drop --metric" in capsys.readouterr().err
    kept = (killed / OUTCOMES).read_text().count("\n")
    assert main(["sweep", "--resume", str(killed), "--no-progress", "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert f"resuming the sweep in {killed} (killed: pid {meta['owner']['pid']} on " in err
    assert f"no longer running): {kept} finished runs kept" in err
    pd.testing.assert_frame_equal(_table(killed), _table(whole))
    assert _guards(killed) == _guards(whole)
    best = (killed / "best.yaml").read_text().replace(str(killed), str(whole))
    assert best == (whole / "best.yaml").read_text()  # its own path aside
    assert sorted(p.name for p in killed.iterdir()) == sorted(p.name for p in whole.iterdir())
    assert main(["sweep", "--resume", str(killed)]) == 2  # finished: nothing to do
    assert "has finished" in capsys.readouterr().err


@pytest.mark.slow
def test_an_interrupted_sweep_resumes_only_the_other_runs(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from xmtrade.sweep import runner, work

    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    out = tmp_path / "out"
    real = work.run_one
    ran: list[object] = []

    def stop_after_four(shared: work.SharedData, task: work.Task) -> work.Outcome:
        if len(ran) == 4:
            raise KeyboardInterrupt
        ran.append(task.key)
        return real(shared, task)

    monkeypatch.setattr(runner, "run_one", stop_after_four, raising=False)
    monkeypatch.setattr(work, "run_one", stop_after_four)
    assert main(_args(home, grid, out)) == 130
    assert json.loads((out / "sweep.json").read_text())["status"] == "interrupted"
    capsys.readouterr()
    kept = set(pd.read_csv(out / "results.partial.csv")["combination"])
    assert 0 < len(kept) <= 4
    ran.clear()
    monkeypatch.setattr(work, "run_one", lambda s, t: (ran.append(t.key), real(s, t))[1])
    monkeypatch.setattr(runner, "run_one", work.run_one, raising=False)
    assert main(["sweep", "--resume", str(out), "--no-progress", "--jobs", "1"]) == 0
    assert f"(interrupted): {len(kept)} finished runs kept" in capsys.readouterr().err
    # only the others ran
    assert sorted(key[1] + 1 for key in ran) == sorted(set(range(1, 10)) - kept)  # type: ignore[index]
    assert len(pd.read_csv(out / "results.csv")) == 9


def _marker(folder: Path, status: str, owner: dict[str, object] | None) -> None:
    folder.mkdir()
    meta = {"kind": "sweep", "status": status, "owner": owner, "resume": {"grid": "g.yaml"}}
    (folder / "sweep.json").write_text(json.dumps(meta))


def test_a_live_or_finished_sweep_is_not_resumed(
    tmp_path: Path, fails: Callable[[list[str]], str]
) -> None:
    live = tmp_path / "live"
    _marker(live, "running", Owner.me().as_dict())
    assert "is still running (pid " in fails(["sweep", "--resume", str(live)])
    elsewhere = tmp_path / "elsewhere"
    _marker(elsewhere, "running", {"pid": 1, "host": "some-other-host", "started": "x"})
    assert "may still be running (pid 1 on some-other-host" in fails(
        ["sweep", "--resume", str(elsewhere)]
    )
    done = tmp_path / "done"
    _marker(done, "finished", None)
    assert "has finished: nothing to do" in fails(["sweep", "--resume", str(done)])
    assert "holds no sweep.json" in fails(["sweep", "--resume", str(tmp_path)])
    assert "expected a grid file (or --resume DIR)" in fails(["sweep"])


def test_out_names_a_live_sweep(
    home: Path, tmp_path: Path, fails: Callable[[list[str]], str]
) -> None:
    live = tmp_path / "live"
    _marker(live, "running", Owner.me().as_dict())
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    said = fails(["sweep", "--grid", str(grid), "--out", str(live), "--data-dir", str(home)])
    assert "--out" in said and f"{live} holds a sweep that is still running (pid " in said


def test_a_refused_sweep_or_backtest_leaves_no_empty_folder(
    shared_prices_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def fails(args: list[str]) -> None:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and "duplicate of row 2" in err.splitlines()[-1]

    data_dir = tmp_path / "data"
    assert main(["data", "import", str(shared_prices_csv), "--data-dir", str(data_dir)]) == 0
    before = sorted(p.name for p in data_dir.iterdir())
    facts = tmp_path / "facts.csv"
    lines = (REPO / "configs" / "fundamentals" / "1810.HK.csv").read_text().splitlines()
    facts.write_text("\n".join([*lines, lines[1]]) + "\n")  # a row twice
    config = tmp_path / "facts.yaml"
    config.write_text(f"fundamentals:\n  file: {facts}\n")
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    common = ["--data-dir", str(data_dir), "-c", str(config)]
    fails(["sweep", *common, "--grid", str(grid), "--no-progress", *WINDOW])
    fails(["walkforward", *common, "--grid", str(grid), "--train", "1y", "--test", "6m"])
    fails(["backtest", *common, *WINDOW])
    fails(["sweep", *common, "--grid", str(grid), "--out", str(tmp_path / "a" / "b"), *WINDOW])
    assert sorted(p.name for p in data_dir.iterdir()) == before
    assert not (tmp_path / "a").exists()
    shutil.rmtree(data_dir)
