"""Fixtures of the paper-trading tests: a data directory holding the shared prices."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from data_feeds.bars import read_price_csv
from data_feeds.cache import PriceCache


@pytest.fixture(scope="session")
def shared_cache_file(tmp_path_factory: pytest.TempPathFactory, shared_prices_csv: Path) -> Path:
    """The shared prices written once as a price cache file, the way `data import` does."""
    folder = tmp_path_factory.mktemp("prices")
    return PriceCache(folder).save("1810.HK", read_price_csv(shared_prices_csv))


@pytest.fixture
def home(isolated_home: Path, shared_cache_file: Path) -> Path:
    """This test's data directory ($XMTRADE_HOME) with the shared prices in its cache."""
    prices = isolated_home / "prices"
    prices.mkdir(exist_ok=True)
    shutil.copyfile(shared_cache_file, prices / "1810.HK.csv")
    return isolated_home
