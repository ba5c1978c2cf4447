"""Hand-built worlds where a rule's effect is known: prices on real XHKG sessions of 2025
written as a price CSV, a facts file whose reports pass or fail the gate on purpose, and a
config overlay pointing at it."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pandas as pd

from data_feeds.calendar import SessionCalendar

COLUMNS = ["metric", "period", "period_end", "announced", "announced_time", "value", "unit",
           "source", "confidence"]  # fmt: skip
QUARTER_END = {"Q1": "03-31", "Q2": "06-30", "Q3": "09-30", "Q4": "12-31"}
REPORTS = [
    ("2024Q2", "2024-08-21"),
    ("2024Q3", "2024-11-18"),
    ("2024Q4", "2025-03-18"),
    ("2025Q1", "2025-05-27"),
    ("2025Q2", "2025-08-19"),
    ("2025Q3", "2025-10-16"),
]
FIRST, LAST = date(2024, 6, 3), date(2025, 12, 31)


def sessions(calendar: SessionCalendar) -> list[date]:
    return [pd.Timestamp(s).date() for s in calendar.sessions(FIRST, LAST)]


def write_prices(path: Path, days: list[date], closes: list[float]) -> Path:
    """A price CSV: each open at the previous close, high and low 0.5% around the bar."""
    rows = []
    previous = closes[0]
    for day, close in zip(days, closes, strict=True):
        opn = round(previous, 2)
        close = round(close, 2)
        high = round(max(opn, close) * 1.003, 2)
        low = round(min(opn, close) * 0.997, 2)
        rows.append([day.isoformat(), opn, high, low, close, 1_000_000])
        previous = close
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["date", "open", "high", "low", "close", "volume"])
        writer.writerows(rows)
    return path


def write_facts(path: Path, ev_gross_margin: float) -> Path:
    """Reports whose ROIC spread passes (20% ROIC against a 9% WACC), smartphone rank 3, a
    rising gross margin, P/S far below the ceiling; the EV gross margin decides the gate."""
    facts: list[dict[str, object]] = []

    def fact(metric: str, period: str, announced: str, value: float, unit: str) -> None:
        if "FY" in period:
            end = f"{period[:4]}-12-31"
        elif "Q" in period:
            end = f"{period[:4]}-{QUARTER_END[period[4:]]}"
        else:
            end = period
        facts.append(dict(zip(COLUMNS, [metric, period, end, announced, "", value, unit,
                                        "test", "H"], strict=True)))  # fmt: skip

    for year, announced in ((2023, "2024-03-19"), (2024, "2025-03-18")):
        for metric, value in (("operating_profit", 20000), ("profit_before_tax", 20000),
                              ("income_tax", 0), ("total_equity", 100000), ("borrowings", 0),
                              ("cash", 0), ("short_term_investments", 0)):  # fmt: skip
            fact(metric, f"{year}FY", announced, value, "RMB_m")
    for n, (period, announced) in enumerate(REPORTS):
        fact("ev_gross_margin", period, announced, ev_gross_margin, "pct")
        fact("smartphone_rank", period, announced, 3, "rank")
        fact("gross_margin", period, announced, 20 + n, "pct")
        fact("revenue", period, announced, 100000, "RMB_m")
        fact("ev_segment_result", period, announced, 500, "RMB_m")
    fact("shares_outstanding", "2024-06-30", "2024-08-21", 25e9, "shares")
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(facts)
    return path
