"""Daily prices: the canonical bars frame, CSV import and the local cache, in one place.

The canonical bars frame (the contract every other package relies on):

- index: tz-naive `DatetimeIndex` named `date`, session dates at midnight, ascending, unique;
- float64 columns `open, high, low, close, volume`;
- bool column `no_trading`: True for Yahoo's placeholder bar (volume 0 and
  open == high == low == close), which must never trigger a trade.

`data_feeds.bars` reads and normalises, `data_feeds.cache` stores, `data_feeds.validation`
checks against the calendar, `data_feeds.yahoo` downloads.
"""

from __future__ import annotations

from data_feeds.bars import (
    ALL_COLUMNS,
    BAR_COLUMNS,
    PRICE_COLUMNS,
    empty_bars,
    normalize_bars,
    placeholder_mask,
    read_price_csv,
)
from data_feeds.cache import MergeReport, PriceCache, Revision, load_bars, merge_bars

__all__ = [
    "ALL_COLUMNS",
    "BAR_COLUMNS",
    "PRICE_COLUMNS",
    "MergeReport",
    "PriceCache",
    "Revision",
    "empty_bars",
    "load_bars",
    "merge_bars",
    "normalize_bars",
    "placeholder_mask",
    "read_price_csv",
]
