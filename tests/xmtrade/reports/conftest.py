"""Fixtures of the report tests: one backtest run folder on the shared prices, made once."""

from __future__ import annotations

from pathlib import Path

import pytest

from xmtrade.cli import main


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
    assert main(["backtest", "--data-dir", str(report_home), "--out", str(out)]) == 0
    return out
