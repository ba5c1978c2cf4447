"""yfinance-shaped quarterly statements of Xiaomi, built in code (tests never download).

The shapes are yfinance's own (1.x, `pretty=True`): `quarterly_income_stmt` and
`quarterly_balance_sheet` have one row per line item with its pretty label, one column per
quarter end as a naive Timestamp (newest first), float64 values in yuan and NaN where Yahoo has
no figure; `get_earnings_dates()` has an "Earnings Date" index of tz-aware Timestamps (the page
gives US Eastern time) and the columns EPS Estimate, Reported EPS, Surprise(%), with the next,
not yet reported, date on top.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_feeds.facts_yahoo import YahooStatements

QUARTER_ENDS = ["2025-12-31", "2025-09-30", "2025-06-30", "2025-03-31", "2024-12-31"]
YUAN_M = 1e6

# per quarter (newest first), RMB million
INCOME = {
    "Tax Provision": [1500.0, 1800.0, 1900.0, 1700.0, 1200.0],
    "Pretax Income": [8100.0, 13500.0, 14200.0, 12000.0, 8800.0],
    "Operating Income": [7000.0, 11900.0, 13000.0, 10500.0, 7300.0],
    "Gross Profit": [26212.5, 25904.7, 26101.0, 25375.9, 22455.0],
    "Cost Of Revenue": [90287.5, 87216.3, 89854.0, 85917.1, 86550.0],
    "Total Revenue": [116500.0, 113121.0, 115955.0, 111293.0, 109005.0],
    "Operating Revenue": [116500.0, 113121.0, 115955.0, 111293.0, 109005.0],
}
BALANCE = {
    "Ordinary Shares Number": [26.05e9, 26.02e9, 25.98e9, 25767517012.0, 24.97e9],
    "Share Issued": [26.05e9, 26.02e9, 25.98e9, 25.77e9, 24.97e9],
    "Total Debt": [47000.0, 46000.0, 45000.0, 44000.0, 43000.0],
    "Total Equity Gross Minority Interest": [
        221000.0,
        215000.0,
        207000.0,
        198000.0,
        189205.1,
    ],
    "Stockholders Equity": [220000.0, 214000.0, 206000.0, 197000.0, 188000.0],
    "Long Term Debt": [20000.0, 19500.0, 19000.0, 18500.0, 18010.0],
    "Current Debt": [19000.0, 18800.0, 18500.0, 18200.0, 18000.0],
    "Cash And Cash Equivalents": [40100.0, 38000.0, 36000.0, 35000.0, 33661.4],
    "Other Short Term Investments": [70500.0, 69000.0, 68000.0, 66000.0, 64474.1],
}
# results days (Hong Kong) of the quarters above, and the next one still to come
EARNINGS_HKT = [
    "2026-05-26 16:00",
    "2026-03-24 16:00",
    "2025-11-18 16:00",
    "2025-08-19 16:00",
    "2025-05-27 16:00",
    "2025-03-18 16:00",
]


def statement(rows: dict[str, list[float]], ends: list[str] = QUARTER_ENDS) -> pd.DataFrame:
    """A quarterly statement in yfinance's shape, from RMB-million rows (newest first)."""
    columns = pd.DatetimeIndex(pd.to_datetime(ends))
    frame = pd.DataFrame(
        [
            [v * (YUAN_M if "Shares" not in k and "Share " not in k else 1.0) for v in values]
            for k, values in rows.items()
        ],
        index=list(rows),
        columns=columns,
        dtype="float64",
    )
    return frame


def earnings_dates(hkt: list[str] = EARNINGS_HKT) -> pd.DataFrame:
    """`Ticker.get_earnings_dates()` in yfinance's shape (US Eastern, newest first)."""
    stamps = [pd.Timestamp(t, tz="Asia/Hong_Kong").tz_convert("America/New_York") for t in hkt]
    index = pd.DatetimeIndex(stamps, name="Earnings Date")
    eps = [np.nan] + [0.2] * (len(hkt) - 1)
    return pd.DataFrame(
        {"EPS Estimate": [0.21] * len(hkt), "Reported EPS": eps, "Surprise(%)": eps},
        index=index,
    )


def xiaomi_statements(**changes: object) -> YahooStatements:
    """Recorded-shape statements; keyword arguments replace fields (income=..., ...)."""
    base = YahooStatements(
        income=statement(INCOME),
        balance=statement(BALANCE),
        earnings_dates=earnings_dates(),
        currency="CNY",
    )
    from dataclasses import replace

    return replace(base, **changes)  # type: ignore[arg-type]
