"""Fixtures of the report tests: one backtest run folder on the shared prices, made once."""

from __future__ import annotations

from pathlib import Path

import pytest

from xmtrade.cli import main

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


@pytest.fixture(scope="session")
def report_home(tmp_path_factory: pytest.TempPathFactory, shared_prices_csv: Path) -> Path:
    """A data directory holding the shared prices, imported the way a user does it."""
    data_dir = tmp_path_factory.mktemp("report_home")
    assert main(["data", "import", str(shared_prices_csv), "--data-dir", str(data_dir)]) == 0
    return data_dir


@pytest.fixture(scope="session")
def backtest_run(report_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default backtest's run folder, with report.html and chart.png."""
    out = tmp_path_factory.mktemp("report_runs") / "default"
    args = ["backtest", "--data-dir", str(report_home), "--out", str(out)]
    assert main([*args, "--report", "html,png"]) == 0
    return out


@pytest.fixture(scope="session")
def stage1_run(report_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backtest of configs/stage1_only.yaml (no risk lines) since 2023."""
    out = tmp_path_factory.mktemp("report_runs") / "stage1"
    args = ["backtest", "--data-dir", str(report_home), "-c", str(CONFIGS / "stage1_only.yaml")]
    assert main([*args, "--start", "2023-01-02", "--out", str(out)]) == 0
    return out


def _grid(folder: Path, text: str) -> Path:
    path = folder / "grid.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def sweep_two(report_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep of two fields (a heatmap), one combination being the default config."""
    folder = tmp_path_factory.mktemp("report_sweep2")
    grid = _grid(folder, "signals.rsi.oversold: [25, 30]\nstop.lookback: [15, 20]\n")
    out = folder / "out"
    args = ["sweep", "--data-dir", str(report_home), "--grid", str(grid), "--jobs", "2"]
    assert main([*args, "--min-trades", "5", "--no-progress", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def sweep_three(report_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep of three fields (parallel coordinates)."""
    folder = tmp_path_factory.mktemp("report_sweep3")
    grid = _grid(
        folder,
        "signals.rsi.oversold: [25, 30]\nstop.lookback: [15, 20]\nexits.rsi_overbought: [70, 75]\n",
    )
    out = folder / "out"
    args = ["sweep", "--data-dir", str(report_home), "--grid", str(grid), "--jobs", "2"]
    assert main([*args, "--no-progress", "--start", "2021-01-04", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def walkforward_run(report_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A walk-forward with windows that stay in cash and windows without trades."""
    out = tmp_path_factory.mktemp("report_walkforward") / "out"
    grid = CONFIGS / "sweeps" / "walkforward_small.yaml"
    args = ["walkforward", "--data-dir", str(report_home), "--grid", str(grid), "--jobs", "2"]
    args += ["--train", "3y", "--test", "1y", "--min-trades", "5", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def paper_run(report_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`paper report` of an account stepped over a few weeks of 2025."""
    home = tmp_path_factory.mktemp("report_paper")
    prices = home / "prices"
    prices.mkdir()
    (prices / "1810.HK.csv").write_bytes((report_home / "prices" / "1810.HK.csv").read_bytes())
    where = ["--data-dir", str(home)]
    assert main(["paper", "init", *where, "--start", "2025-10-13", "--offline"]) == 0
    assert main(["paper", "step", *where, "--asof", "2025-11-07", "--offline"]) == 0
    out = home / "report"
    assert main(["paper", "report", *where, "--out", str(out)]) == 0
    return out
