"""Shared fixtures. Tests never touch the network: yfinance downloads and outbound sockets fail."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("XMTRADE_SHARED_DATA", REPO.parent / "shared" / "data"))
# Every test has its own data directory, where xmtrade keeps numba's compiled kernel: one cache
# for the whole run instead, or each sweep test would compile the kernel again (about 30 s).
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".pytest-numba-cache"))


class NetworkBlocked(RuntimeError):
    """Raised when a test reaches for the network."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make yfinance downloads and any non-loopback connection fail loudly."""
    import yfinance

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NetworkBlocked("tests must not download from Yahoo; build a yfinance-shaped frame")

    monkeypatch.setattr(yfinance, "download", refuse)
    monkeypatch.setattr(yfinance.Ticker, "history", refuse)
    for statements in ("get_income_stmt", "get_balance_sheet", "get_earnings_dates", "get_info"):
        monkeypatch.setattr(yfinance.Ticker, statements, refuse)

    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1")):
            return real_connect(self, address)
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        raise NetworkBlocked(f"tests must not open network connections (to {address!r})")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    yield


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own empty data directory through XMTRADE_HOME."""
    home = tmp_path_factory.mktemp("xmtrade_home")
    monkeypatch.setenv("XMTRADE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def shared_prices_csv() -> Path:
    """The real 1810.HK daily prices from ../shared/data (never copied into the project)."""
    path = SHARED_DATA / "1810.HK.csv"
    if not path.is_file():
        pytest.fail(f"shared price file missing: {path} (set XMTRADE_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def shared_bars(shared_prices_csv: Path) -> pd.DataFrame:
    """The shared prices as a plain frame indexed by session date (not validated)."""
    frame = pd.read_csv(shared_prices_csv, parse_dates=["date"], index_col="date")
    return frame


# Under pytest-xdist (`python -m pytest -n auto`, `--dist loadgroup`), the tests of one group
# run in one worker, in order: those that share an expensive module or session fixture (built
# once per worker, so splitting them across workers builds it twice) or one server.
XDIST_GROUPS = {
    "tests/xmtrade/reports/": "reports",  # the session's backtest, sweep and paper runs; Chromium
    "tests/xmtrade/paper/test_paper_postgres.py": "postgres",  # one PostgreSQL server
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of each XDIST_GROUPS path with their group."""
    for item in items:
        where = Path(item.path).resolve().relative_to(REPO).as_posix()
        for prefix, group in XDIST_GROUPS.items():
            if where.startswith(prefix) and not item.get_closest_marker("xdist_group"):
                item.add_marker(pytest.mark.xdist_group(group))
