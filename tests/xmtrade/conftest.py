"""Fixtures of the engine tests: the real shared prices as canonical bars, and the calendar."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data_feeds.bars import read_price_csv
from data_feeds.calendar import SessionCalendar
from xmtrade.config import load_config


@pytest.fixture(scope="session")
def real_bars(shared_prices_csv: Path) -> pd.DataFrame:
    """1810.HK daily bars from ../shared/data, normalised the way an import does it."""
    return read_price_csv(shared_prices_csv)


@pytest.fixture(scope="session")
def hkex() -> SessionCalendar:
    cfg = load_config()
    return SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)
