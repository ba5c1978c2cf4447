"""Fixtures of the explain tests: data directories holding hand-built or the shared prices,
and a checker for one-line user errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from xmtrade.cli import main

sys.path.insert(0, str(Path(__file__).parent))  # worlds.py


@pytest.fixture(scope="session")
def real_home(tmp_path_factory: pytest.TempPathFactory, shared_prices_csv: Path) -> Path:
    """A data directory holding the shared prices, imported the way a user does it."""
    data_dir = tmp_path_factory.mktemp("explain_home")
    assert main(["data", "import", str(shared_prices_csv), "--data-dir", str(data_dir)]) == 0
    return data_dir


@pytest.fixture
def explained(capsys: pytest.CaptureFixture[str]) -> Callable[[list[str]], dict[str, Any]]:
    """Run `xmtrade explain --json ...`; return the JSON it printed (exit 0)."""

    def run(args: list[str]) -> dict[str, Any]:
        capsys.readouterr()
        code = main(["explain", "--json", "--no-progress", *args])
        out, err = capsys.readouterr()
        assert code == 0, err
        result: dict[str, Any] = json.loads(out)
        return result

    return run


@pytest.fixture
def fails(capsys: pytest.CaptureFixture[str]) -> Callable[[list[str]], str]:
    """Run the CLI expecting a user error; return its one line (exit 2, no traceback)."""

    def check(args: list[str]) -> str:
        capsys.readouterr()
        code = main(args)
        err = capsys.readouterr().err
        assert code == 2, err
        assert "Traceback" not in err
        lines = [line for line in err.strip().splitlines() if not line.startswith("explain:")]
        assert len(lines) == 1, err
        assert lines[0].startswith("xmtrade: error: ")
        return lines[0].removeprefix("xmtrade: error: ")

    return check


@pytest.fixture(scope="session")
def real_explanation(real_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`xmtrade explain` of the default plan on the shared prices, with a regime (the
    2021-2022 fall), written to a run folder with explain.html."""
    folder = tmp_path_factory.mktemp("explain_real")
    regimes = folder / "regimes.yaml"
    regimes.write_text(
        "regimes:\n  2021-2022 fall: {start: 2021-02-18, end: 2022-10-31}\n"
        "  2024 rally: {start: 2024-02-01, end: 2024-12-31}\n",
        encoding="utf-8",
    )
    out = folder / "out"
    args = ["explain", "--data-dir", str(real_home), "--regimes", str(regimes)]
    assert main([*args, "--no-progress", "--out", str(out)]) == 0
    return out
