"""The Dask distributed executor against a local cluster on 127.0.0.1: the same rows as the
process pool. Skipped only when the `dask` extra is not installed (CI installs it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.xmtrade.sweep.rows import series_of
from xmtrade.config import ConfigLayers
from xmtrade.sweep.executors import DaskExecutor, SerialExecutor, make_executor
from xmtrade.sweep.grid import parse_grid
from xmtrade.sweep.sweep import run_sweep
from xmtrade.sweep.walkforward import run_walkforward
from xmtrade.sweep.windows import Span

distributed = pytest.importorskip("distributed")

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A Dask cluster in this process (two worker threads), reached over TCP on loopback."""
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        host="127.0.0.1",
        protocol="tcp",
        dashboard_address=None,
    )
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


def rows(result: Any) -> list[tuple[Any, ...]]:
    return [(r.index, r.metrics, r.config_hash, r.error, series_of(r)) for r in result.ranked]


@pytest.mark.slow
def test_dask_gives_the_same_rows_as_the_local_executor(
    scheduler: str, real_bars: pd.DataFrame, tmp_path: Path
) -> None:
    assert scheduler.startswith("tcp://127.0.0.1:")
    layers = ConfigLayers([REPO / "configs" / "stage1_only.yaml"])
    grid = parse_grid({"signals.rsi.oversold": [30, 40], "stop.lookback": [10, 20]}, "grid", 1000)
    common: dict[str, Any] = {
        "layers": layers,
        "base_files": [],
        "grid": grid,
        "bars": real_bars,
        "metric": "sharpe",
        "min_trades": 0,
        "pbo_splits": 4,
        "show_progress": False,
        "start": date(2022, 1, 3),
        "end": date(2022, 12, 30),
    }
    local = run_sweep(out=tmp_path / "local", executor=SerialExecutor(), **common)
    executor = make_executor("dask", 2, scheduler)
    assert isinstance(executor, DaskExecutor)
    remote = run_sweep(out=tmp_path / "dask", executor=executor, **common)
    assert rows(remote) == rows(local)
    assert remote.report == local.report
    best = (tmp_path / "dask" / "best.yaml").read_text().replace("/dask/", "/OUT/")
    assert best == (tmp_path / "local" / "best.yaml").read_text().replace("/local/", "/OUT/")


@pytest.mark.slow
def test_walkforward_on_dask(scheduler: str, real_bars: pd.DataFrame, tmp_path: Path) -> None:
    layers = ConfigLayers([REPO / "configs" / "stage1_only.yaml"])
    grid = parse_grid({"signals.rsi.oversold": [30, 40]}, "grid", 1000)
    common: dict[str, Any] = {
        "layers": layers,
        "base_files": [],
        "grid": grid,
        "bars": real_bars,
        "train": Span(1, "y"),
        "test": Span(6, "m"),
        "anchored": False,
        "metric": "sharpe",
        "min_trades": 0,
        "pbo_splits": 4,
        "show_progress": False,
        "start": date(2021, 1, 4),
        "end": date(2022, 12, 30),
    }
    local = run_walkforward(out=tmp_path / "local", executor_factory=SerialExecutor, **common)
    remote = run_walkforward(
        out=tmp_path / "dask",
        executor_factory=lambda: make_executor("dask", 2, scheduler),
        **common,
    )
    assert remote.overall == local.overall
    assert [r.index if r else None for r in remote.chosen] == [
        r.index if r else None for r in local.chosen
    ]
    assert (tmp_path / "dask" / "oos_equity.csv").read_text() == (
        tmp_path / "local" / "oos_equity.csv"
    ).read_text()


def test_an_unreachable_scheduler_is_one_line(real_bars: pd.DataFrame) -> None:
    from xmtrade.errors import ConfigError
    from xmtrade.sweep.work import SharedData

    executor = DaskExecutor(scheduler="tcp://127.0.0.1:9", jobs=1)
    executor.connect_timeout = "1s"
    with pytest.raises(ConfigError) as caught:
        next(iter(executor.run(SharedData(real_bars, {}), [], None)))
    assert caught.value.line().startswith(
        "--scheduler: cannot reach the Dask scheduler tcp://127.0.0.1:9"
    )


def test_an_unreachable_scheduler_is_caught_by_check() -> None:
    from xmtrade.errors import ConfigError

    executor = DaskExecutor(scheduler="tcp://127.0.0.1:9", jobs=1)
    executor.connect_timeout = "1s"
    with pytest.raises(ConfigError) as caught:
        executor.check()
    assert caught.value.line().startswith(
        "--scheduler: cannot reach the Dask scheduler tcp://127.0.0.1:9"
    )


@pytest.mark.parametrize("verb", ["sweep", "walkforward"])
def test_a_garbage_scheduler_is_one_line_and_writes_nothing(
    verb: str, home: Path, tmp_path: Path, fails: Any
) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("signals.rsi.oversold: [30, 40]\n")
    out = tmp_path / "out"
    args = [verb, "--data-dir", str(home), "--grid", str(grid), "--out", str(out)]
    args += ["--executor", "dask", "--scheduler", "garbage"]
    if verb == "walkforward":
        args += ["--train", "2y", "--test", "1y"]
    line = fails(args)
    assert line.startswith("--scheduler: cannot reach the Dask scheduler garbage: ")
    assert not out.exists()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.slow
def test_a_scheduler_lost_mid_sweep_is_one_line_and_keeps_the_partial_rows(
    home: Path, tmp_path: Path
) -> None:
    """The scheduler dies after the first rows came back: `xmtrade sweep` ends with one line
    and exit code 2 (after the client's 20 s of trying to reconnect), results.partial.csv holds
    the finished rows and sweep.json says failed. All in other processes, with timeouts, so
    nothing here can hang."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "XMTRADE_HOME": str(home)}
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler_cmd = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    scheduler_cmd += ["--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    scheduler_proc = subprocess.Popen(scheduler_cmd, env=env, **quiet)
    worker_cmd = [sys.executable, "-m", "distributed.cli.dask_worker", address]
    worker_cmd += ["--nthreads", "1", "--no-dashboard", "--no-nanny"]
    worker_proc = subprocess.Popen(worker_cmd, env=env, **quiet)
    out = tmp_path / "sweep"
    partial = out / "results.partial.csv"
    grid = tmp_path / "grid.yaml"
    grid.write_text("signals.rsi.oversold: [26, 28, 30, 32, 34, 36, 38, 40]\n")
    sweep = [sys.executable, "-m", "xmtrade.cli", "sweep", "--grid", str(grid), "--out", str(out)]
    sweep += ["--executor", "dask", "--scheduler", address, "--no-progress", "--min-trades", "0"]
    try:
        with distributed.Client(address, timeout="120s") as client:  # started (under load too)
            client.wait_for_workers(1, timeout=120)
        proc = subprocess.Popen(
            sweep, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if partial.exists() and len(partial.read_text().splitlines()) >= 2:
                break
            time.sleep(0.05)
        scheduler_proc.send_signal(signal.SIGKILL)
        try:
            _, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail("the sweep did not end after its scheduler died")
        assert proc.returncode == 2, err
        lines = [x for x in err.strip().splitlines() if not x.startswith("sweep: ")]
        assert len(lines) == 1, err
        assert lines[0].startswith(
            f"xmtrade: error: --scheduler: the Dask scheduler {address} failed mid-sweep"
        )
        meta = json.loads((out / "sweep.json").read_text())
        assert meta["status"] == "failed" and meta["runs_finished"] >= 1
        assert len(pd.read_csv(partial)) == meta["runs_finished"]
        assert sorted(p.name for p in out.iterdir()) == ["results.partial.csv", "sweep.json"]
    finally:
        for each in (scheduler_proc, worker_proc):
            each.kill()
            each.wait(30)
