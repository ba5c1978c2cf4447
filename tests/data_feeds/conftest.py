"""The HKEX calendar for the data tests."""

from __future__ import annotations

import pytest

from data_feeds.calendar import SessionCalendar
from xmtrade.config import load_config


@pytest.fixture(scope="session")
def hkex() -> SessionCalendar:
    """The HKEX calendar with the ad-hoc closures of the packaged config."""
    cfg = load_config()
    return SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)
