"""Fixtures of the sweep tests: a data directory with the shared prices, and a checker for
one-line user errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from xmtrade.cli import main


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory, shared_prices_csv: Path) -> Path:
    """A data directory holding the shared prices, imported the way a user does it."""
    data_dir = tmp_path_factory.mktemp("sweep_home")
    assert main(["data", "import", str(shared_prices_csv), "--data-dir", str(data_dir)]) == 0
    return data_dir


@pytest.fixture
def fails(capsys: pytest.CaptureFixture[str]) -> Callable[[list[str]], str]:
    """Run the CLI expecting a user error; return its one line (exit 2, no traceback)."""

    def check(args: list[str]) -> str:
        code = main(args)
        err = capsys.readouterr().err
        assert code == 2, err
        assert "Traceback" not in err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("xmtrade: error: ")
        return lines[0].removeprefix("xmtrade: error: ")

    return check
