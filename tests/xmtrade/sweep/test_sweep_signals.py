"""Stopping a sweep or a walk-forward with 2 worker processes: a storm of SIGINT and SIGTERM
at random moments (while importing, while the workers fork, mid-run, while the outputs are
written). Every stop ends within seconds with 130 or 143, no traceback, no worker left
behind, and a folder holding only its `*.partial.*` files and a marker saying
"interrupted" (or, when the signal came after the work was done, a finished folder)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
GRID = "signals.rsi.oversold: [30, 35, 40]\nstop.lookback: [10, 20]\n"
WALK_GRID = "signals.rsi.oversold: [30, 40]\n"
BUDGET_SECONDS = 25.0  # the storm's whole length (it stops starting trials after this)
MIN_TRIALS = 8
STOP_SECONDS = 10.0  # a stopped command must have ended this long after the signal
EXPECTED = {signal.SIGINT: 130, signal.SIGTERM: 143}


def command() -> list[str]:
    """The console script next to this interpreter (how a user runs it), else `-m`."""
    script = Path(sys.executable).with_name("xmtrade")
    return [str(script)] if script.exists() else [sys.executable, "-m", "xmtrade.cli"]


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """The pids still running (zombies count as gone)."""
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(pid)
    return out


def handles(pid: int, signum: int, timeout: float = 10.0) -> None:
    """Wait until process `pid` catches `signum` (its SigCgt mask in /proc)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return  # already gone
        caught = next((x for x in status.splitlines() if x.startswith("SigCgt:")), "SigCgt: 0")
        if int(caught.split()[1], 16) & (1 << (signum - 1)):
            return
        time.sleep(0.002)


def check_folder(out: Path, marker: str, code: int) -> None:
    if not out.exists():
        return  # stopped before the folder was made
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    state = json.loads((out / marker).read_text())["status"] if (out / marker).exists() else None
    if code == 0:
        assert state == "finished", files
        return
    assert state in ("interrupted", None), (state, files)
    extra = [f for f in files if f != marker and ".partial." not in f]
    assert not extra, f"finished names in a stopped folder: {extra}"
    assert not [f for f in files if Path(f).name.startswith(".")], files


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find worker processes")
def test_signal_storm_over_sweeps_and_walkforwards(home: Path, tmp_path: Path) -> None:
    rng = random.Random(1810)
    (tmp_path / "grid.yaml").write_text(GRID)
    (tmp_path / "walk.yaml").write_text(WALK_GRID)
    env = {**os.environ, "XMTRADE_HOME": str(home)}
    began = time.monotonic()
    trials: list[str] = []
    n = 0
    while n < MIN_TRIALS or time.monotonic() - began < BUDGET_SECONDS:
        n += 1
        out = tmp_path / f"run{n}"
        if rng.random() < 0.5:
            verb, marker = "sweep", "sweep.json"
            args = ["sweep", "--grid", str(tmp_path / "grid.yaml"), "--start", "2021-01-04"]
        else:
            verb, marker = "walkforward", "walkforward.json"
            args = ["walkforward", "--grid", str(tmp_path / "walk.yaml"), "--train", "2y"]
            args += ["--test", "1y", "--start", "2021-01-04", "--min-trades", "0"]
        args += ["--jobs", "2", "--out", str(out), "--no-progress"]
        signum = rng.choice([signal.SIGINT, signal.SIGTERM])
        group = rng.random() < 0.3  # like a terminal's Ctrl-C: the workers get it too
        delay = rng.uniform(0.0, 4.0) if rng.random() < 0.8 else rng.uniform(0.0, 0.3)
        proc = subprocess.Popen(
            [*command(), *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        seen: set[int] = set()
        until = time.monotonic() + delay
        while time.monotonic() < until and proc.poll() is None:
            seen |= descendants(proc.pid)
            time.sleep(0.01)
        seen |= descendants(proc.pid)
        if proc.poll() is None:
            if group:
                os.killpg(proc.pid, signum)
            else:
                proc.send_signal(signum)
        sent = time.monotonic()
        try:
            _, err = proc.communicate(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"trial {n} ({verb}, {signum.name} after {delay:.2f} s) hung")
        took = time.monotonic() - sent
        deadline = time.monotonic() + 3.0
        while alive(seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        what = f"trial {n}: {verb} {signum.name} after {delay:.2f} s -> {proc.returncode}"
        trials.append(what)
        assert not alive(seen), f"{what}: worker processes left behind: {alive(seen)}"
        assert "Traceback" not in err, f"{what}\n{err}"
        assert proc.returncode in (EXPECTED[signum], 0), f"{what}\n{err}"
        assert took < STOP_SECONDS, what
        check_folder(out, marker, proc.returncode)
    stopped = [t for t in trials if not t.endswith("-> 0")]
    assert len(stopped) >= MIN_TRIALS // 2, trials  # most signals landed while it ran


@pytest.mark.slow
def test_a_stop_in_the_first_instants_is_no_traceback(home: Path, tmp_path: Path) -> None:
    """Ctrl-C or SIGTERM in the first ~0.25 s of a command, while the verb's engine is still
    being imported: 130 or 143, never a traceback, and nothing written. (Before the
    interpreter runs any of xmtrade's code, a signal is Python's own business: the test
    starts the clock when the process has its SIGTERM handler.)"""
    rng = random.Random(7)
    env = {**os.environ, "XMTRADE_HOME": str(home)}
    verbs = [
        ["config", "validate"],
        ["data", "check"],
        ["backtest", "--out", str(tmp_path / "run")],
        ["sweep", "--grid", str(REPO / "configs" / "sweeps" / "rsi_stop.yaml"), "--jobs", "2"],
    ]
    for n in range(12):
        signum = rng.choice([signal.SIGINT, signal.SIGTERM])
        argv = rng.choice(verbs)
        proc = subprocess.Popen(
            [*command(), *argv],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        handles(proc.pid, signal.SIGTERM)  # the interpreter is running xmtrade's code
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=STOP_SECONDS)
        what = f"trial {n}: {argv[0]} {signum.name} -> {proc.returncode}"
        assert "Traceback" not in err, f"{what}\n{err}"
        assert proc.returncode in (EXPECTED[signum], 0), f"{what}\n{err}"
    assert not (tmp_path / "run").exists() or (tmp_path / "run" / "summary.json").exists()


def _die_on_the_third_run(shared: Any, task: Any) -> Any:
    """A run function whose worker process dies (like the kernel's out-of-memory killer)."""
    from xmtrade.sweep import work

    if task.key[1] == 2:
        os._exit(9)
    return work.run_one(shared, task)


@pytest.mark.slow
def test_a_worker_that_dies_is_one_line_and_the_finished_rows_are_kept(
    real_bars: Any, tmp_path: Path
) -> None:
    from xmtrade.config import ConfigLayers
    from xmtrade.errors import ExecutorError
    from xmtrade.sweep.executors import PoolExecutor
    from xmtrade.sweep.grid import parse_grid
    from xmtrade.sweep.sweep import run_sweep

    grid = parse_grid({"signals.rsi.oversold": [28, 30, 32, 34, 36, 38]}, "grid.yaml", 100)
    out = tmp_path / "sweep"
    executor = PoolExecutor(2)
    with pytest.raises(ExecutorError) as caught:
        run_sweep(
            layers=ConfigLayers([]),
            base_files=[],
            grid=grid,
            bars=real_bars,
            out=out,
            executor=executor,
            metric="sharpe",
            min_trades=0,
            pbo_splits=4,
            show_progress=False,
            start=None,
            end=None,
            run=_die_on_the_third_run,
        )
    assert caught.value.line().startswith("--jobs: worker process ")
    assert "died (exit code 9)" in caught.value.line()
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["status"] == "failed"
    assert sorted(p.name for p in out.iterdir()) == [
        "outcomes.partial.jsonl",  # the runs `--resume` reuses
        "results.partial.csv",
        "returns.partial.f8",
        "sweep.json",
    ]
    assert not executor._processes  # every worker stopped and reaped
