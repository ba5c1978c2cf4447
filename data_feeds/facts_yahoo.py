"""`facts fetch`: group-level quarterly figures from yfinance, in the facts file's metrics.

yfinance's `quarterly_income_stmt` and `quarterly_balance_sheet` are frames with one row per
line item ("Total Revenue", or "TotalRevenue" without pretty names), one column per quarter end
(newest first) and float values in the reporting currency (yuan for Xiaomi). Each quarter is
dated by the first earnings date after its end (`earnings_dates`, tz-aware, taken in Hong Kong
time) that is not later than two quarters after the end. What maps:

- revenue (RMB_m) and gross_margin (pct = gross profit / revenue) of every quarter;
- operating_profit, profit_before_tax, income_tax of a fiscal year: the sum of its four
  quarters, only when yfinance has all four, dated by the Q4 results;
- total_equity, borrowings (current + long-term debt, leases excluded), cash, short-term
  investments: the balance sheet at the year end (the file holds year-end balances only);
- shares_outstanding: ordinary shares at each quarter end.

A figure the file already holds is the same when it agrees at the precision the file gives
it (113121 to the unit, 92500 to the hundred, 22.9 to a tenth); any other value is a revision,
dated the day it was fetched. EV segment figures, smartphone shipments and the smartphone rank
are not in yfinance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from data_feeds.errors import DataError
from data_feeds.facts_write import NewFigure, format_value
from data_feeds.fundamentals import (
    METRICS,
    Fact,
    fiscal_year_period,
    quarter_end,
    quarter_period,
    shift_quarter,
)

HONG_KONG = "Asia/Hong_Kong"
REPORTING_CURRENCY = "CNY"
RMB_MILLION = 1e6

INCOME_ROWS: dict[str, tuple[str, ...]] = {
    "revenue": ("Total Revenue", "Operating Revenue"),
    "gross_profit": ("Gross Profit",),
    "operating_profit": ("Operating Income", "Total Operating Income As Reported"),
    "profit_before_tax": ("Pretax Income",),
    "income_tax": ("Tax Provision",),
}
BALANCE_ROWS: dict[str, tuple[str, ...]] = {
    "total_equity": ("Total Equity Gross Minority Interest", "Stockholders Equity"),
    "current_debt": ("Current Debt",),
    "long_term_debt": ("Long Term Debt",),
    "total_debt": ("Total Debt",),
    "cash": ("Cash And Cash Equivalents",),
    "short_term_investments": ("Other Short Term Investments",),
    "shares_outstanding": ("Ordinary Shares Number", "Share Issued"),
}
FETCHED_METRICS: tuple[str, ...] = (
    "revenue",
    "gross_margin",
    "operating_profit",
    "profit_before_tax",
    "income_tax",
    "total_equity",
    "borrowings",
    "cash",
    "short_term_investments",
    "shares_outstanding",
)


@dataclass(frozen=True)
class YahooStatements:
    """What yfinance gave for one symbol."""

    income: pd.DataFrame  # quarterly_income_stmt
    balance: pd.DataFrame  # quarterly_balance_sheet
    earnings_dates: pd.DataFrame | None  # earnings_dates (index: Earnings Date)
    currency: str | None = None  # financialCurrency, when yfinance said


StatementsSource = Callable[[str], YahooStatements]


def fetch_statements(symbol: str) -> YahooStatements:
    """The quarterly statements and earnings dates of `symbol` from yfinance (network)."""
    import warnings

    import yfinance

    from data_feeds.yahoo import _yfinance_log

    ticker = yfinance.Ticker(symbol)
    with _yfinance_log() as log, warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"yfinance(\.|$)")
        try:
            income = ticker.quarterly_income_stmt
            balance = ticker.quarterly_balance_sheet
        except Exception as exc:
            raise DataError(
                "yfinance", symbol, f"could not fetch the quarterly statements: {exc}"
            ) from None
        try:
            earnings = ticker.get_earnings_dates(limit=12)
        except Exception:
            earnings = None  # dated by --announced instead; the command says so
        currency: str | None = None
        try:
            currency = (ticker.get_info() or {}).get("financialCurrency")
        except Exception:
            currency = None
    if income is None or balance is None or (income.empty and balance.empty):
        said = f" (yfinance said: {log.reason()})" if log.lines else ""
        raise DataError(
            "yfinance",
            symbol,
            f"no quarterly statements (offline, or the symbol has none){said}; nothing was written",
        )
    return YahooStatements(income, balance, earnings, currency)


# --- reading the frames ------------------------------------------------------------------------


def _key(label: Any) -> str:
    return "".join(str(label).split()).lower()


def _row(frame: pd.DataFrame, labels: Sequence[str]) -> tuple[str, pd.Series] | None:
    """The first of `labels` the frame has (pretty or camel-case names), as floats by date."""
    if frame is None or frame.empty:
        return None
    index = {_key(label): label for label in frame.index}
    for label in labels:
        found = index.get(_key(label))
        if found is not None:
            values = pd.to_numeric(frame.loc[found], errors="coerce")
            return label, values
    return None


def _quarter_columns(frame: pd.DataFrame) -> dict[str, pd.Timestamp]:
    """Quarter period -> the frame's column, for columns that are quarter ends."""
    out: dict[str, pd.Timestamp] = {}
    if frame is None or frame.empty:
        return out
    for column in frame.columns:
        stamp = pd.Timestamp(column)
        day = stamp.date()
        quarter = (day.month - 1) // 3 + 1
        period = quarter_period(day.year, quarter)
        if quarter_end(period) == day:
            out[period] = stamp
    return out


def _value(series: pd.Series, column: pd.Timestamp) -> float | None:
    value = series.get(column)
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def announcement_days(earnings: pd.DataFrame | None, today: date) -> list[date]:
    """The past earnings dates, as Hong Kong days, oldest first."""
    if earnings is None or len(earnings) == 0:
        return []
    days: set[date] = set()
    for stamp in pd.DatetimeIndex(earnings.index):
        local = stamp.tz_convert(HONG_KONG) if stamp.tzinfo is not None else stamp
        day = local.date()
        if day <= today:
            days.add(day)
    return sorted(days)


def dated_by_earnings(period: str, days: Sequence[date]) -> date | None:
    """The first earnings date after `period`'s end, within two quarters of it."""
    end = quarter_end(period)
    latest = quarter_end(shift_quarter(period, 2))
    for day in days:
        if end < day <= latest:
            return day
    return None


@dataclass(frozen=True)
class Fetched:
    """One figure read from yfinance, in the file's metric and unit."""

    metric: str
    period: str
    value: float
    quarter: str  # the quarter whose results date it
    how: str  # which frame and rows


@dataclass
class Mapping:
    """Every figure yfinance gave, and what it could not give."""

    figures: list[Fetched] = field(default_factory=list)
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # metric, period, text


def _rounded(metric: str, value: float) -> float:
    unit = METRICS[metric].unit
    if unit == "RMB_m":
        return round(value, 1)
    if unit == "pct":
        return round(value, 2)
    return round(value)


def map_statements(statements: YahooStatements) -> Mapping:
    """The file's metrics from yfinance's frames (values in the file's units)."""
    out = Mapping()
    income, balance = statements.income, statements.balance
    quarters = _quarter_columns(income)
    rows = {name: _row(income, labels) for name, labels in INCOME_ROWS.items()}
    revenue = rows["revenue"]
    gross = rows["gross_profit"]
    for period, column in sorted(quarters.items()):
        rev = _value(revenue[1], column) if revenue else None
        if rev is not None:
            out.figures.append(
                Fetched(
                    "revenue",
                    period,
                    _rounded("revenue", rev / RMB_MILLION),
                    period,
                    f"quarterly_income_stmt {revenue[0]}" if revenue else "",
                )
            )
        profit = _value(gross[1], column) if gross else None
        if rev is not None and profit is not None and rev > 0:
            out.figures.append(
                Fetched(
                    "gross_margin",
                    period,
                    _rounded("gross_margin", profit / rev * 100),
                    period,
                    "quarterly_income_stmt Gross Profit / Total Revenue",
                )
            )
    years = sorted({int(p[:4]) for p in quarters})
    for year in years:
        periods = [quarter_period(year, q) for q in (1, 2, 3, 4)]
        present = [p for p in periods if p in quarters]
        for metric in ("operating_profit", "profit_before_tax", "income_tax"):
            row = rows[metric]
            if row is None:
                continue
            values = [_value(row[1], quarters[p]) for p in present]
            if len(present) < 4 or any(v is None for v in values):
                if periods[-1] in quarters:
                    have = ", ".join(
                        p for p, v in zip(present, values, strict=True) if v is not None
                    )
                    year_period = fiscal_year_period(year)
                    out.notes.append(
                        (
                            metric,
                            year_period,
                            f"{metric} {year_period}: yfinance has the quarters "
                            f"{have or 'none'} of {year}, not all four; not refreshed",
                        )
                    )
                continue
            total = sum(v for v in values if v is not None)
            out.figures.append(
                Fetched(
                    metric,
                    fiscal_year_period(year),
                    _rounded(metric, total / RMB_MILLION),
                    periods[-1],
                    f"quarterly_income_stmt {row[0]}, sum of {year}Q1..Q4",
                )
            )
    _map_balance(balance, out)
    return out


def _map_balance(balance: pd.DataFrame, out: Mapping) -> None:
    quarters = _quarter_columns(balance)
    rows = {name: _row(balance, labels) for name, labels in BALANCE_ROWS.items()}
    for period, column in sorted(quarters.items()):
        end = quarter_end(period)
        shares = rows["shares_outstanding"]
        count = _value(shares[1], column) if shares else None
        if shares and count is not None:
            out.figures.append(
                Fetched(
                    "shares_outstanding",
                    end.isoformat(),
                    float(round(count)),
                    period,
                    f"quarterly_balance_sheet {shares[0]} at {end}",
                )
            )
        if not period.endswith("Q4"):
            continue  # the file holds year-end balances only
        year = fiscal_year_period(end.year)
        for metric in ("total_equity", "cash", "short_term_investments"):
            row = rows[metric]
            value = _value(row[1], column) if row else None
            if row and value is not None:
                out.figures.append(
                    Fetched(
                        metric,
                        year,
                        _rounded(metric, value / RMB_MILLION),
                        period,
                        f"quarterly_balance_sheet {row[0]} at {end}",
                    )
                )
        current, long_term, total = rows["current_debt"], rows["long_term_debt"], rows["total_debt"]
        parts = [_value(r[1], column) if r else None for r in (current, long_term)]
        if all(p is not None for p in parts):
            debt = sum(p for p in parts if p is not None)
            how = f"quarterly_balance_sheet Current Debt + Long Term Debt at {end}"
        elif total is not None and _value(total[1], column) is not None:
            debt = float(_value(total[1], column) or 0.0)
            how = f"quarterly_balance_sheet Total Debt at {end} (includes leases)"
        else:
            out.notes.append(
                ("borrowings", year, f"borrowings {year}: no debt rows in yfinance's balance sheet")
            )
            continue
        out.figures.append(
            Fetched("borrowings", year, _rounded("borrowings", debt / RMB_MILLION), period, how)
        )


# --- against the file ---------------------------------------------------------------------------


def same_at_file_precision(held: float, fetched: float) -> bool:
    """True when `fetched` rounds to `held` at the precision the file gives `held`."""
    text = format_value(held).lstrip("-")
    if "e" in text.lower():
        return math.isclose(held, fetched, rel_tol=1e-9)
    if "." in text:
        step = 10.0 ** -len(text.split(".", 1)[1])
    else:
        zeros = len(text) - len(text.rstrip("0"))
        step = 10.0 ** min(zeros, len(text) - 1)
    return abs(fetched - held) <= step / 2 + 1e-12 * max(1.0, abs(held))


@dataclass(frozen=True)
class FetchPlan:
    """What the fetch would write, and what it says."""

    figures: list[NewFigure]
    unchanged: list[Fetched]
    new: list[Fetched]
    revised: list[tuple[Fetched, Fact]]
    notes: list[str]


def plan_fetch(
    statements: YahooStatements,
    facts: Iterable[Fact],
    today: date,
    announced: date | None,
    where: str,
    columns: Sequence[str] = ("confidence",),
) -> FetchPlan:
    """Compare yfinance's figures with the file: new rows, revisions, unchanged."""
    if statements.currency and statements.currency != REPORTING_CURRENCY:
        raise DataError(
            "yfinance",
            "financialCurrency",
            f"statements are in {statements.currency}, expected {REPORTING_CURRENCY} (the "
            "facts file is in RMB); nothing was written",
        )
    mapping = map_statements(statements)
    days = announcement_days(statements.earnings_dates, today)
    latest: dict[tuple[str, str], Fact] = {}
    for fact in facts:
        key = (fact.metric, fact.period)
        if key not in latest or fact.announced > latest[key].announced:
            latest[key] = fact
    figures: list[NewFigure] = []
    unchanged: list[Fetched] = []
    new: list[Fetched] = []
    revised: list[tuple[Fetched, Fact]] = []
    waiting: dict[str, list[Fetched]] = {}  # new figures of quarters yfinance gives no date for
    dated: list[tuple[Fetched, date, str]] = []
    for item in mapping.figures:
        held = latest.get((item.metric, item.period))
        if held is not None:
            if same_at_file_precision(held.value, item.value):
                unchanged.append(item)
                continue
            revised.append((item, held))
            dated.append((item, today, f"a revision, dated the fetch day {today}"))
            continue
        found = dated_by_earnings(item.quarter, days)
        if found is None:
            waiting.setdefault(item.quarter, []).append(item)
            continue
        new.append(item)
        dated.append((item, found, f"dated by yfinance earnings_dates ({item.quarter} results)"))
    if waiting:
        quarters = ", ".join(sorted(waiting))
        if announced is None:
            raise DataError(
                where,
                None,
                f"yfinance gives no earnings date for the {quarters} results, so their new "
                "figures cannot be dated; pass --announced YYYY-MM-DD (the day the results came "
                "out); nothing was written",
            )
        if len(waiting) > 1:
            raise DataError(
                "command line",
                "--announced",
                f"dates one quarter's results, but yfinance gives no earnings date for "
                f"{quarters}; add the older ones with xmtrade facts add; nothing was written",
            )
        for items in waiting.values():
            for item in items:
                new.append(item)
                dated.append((item, announced, f"dated by --announced ({item.quarter} results)"))
    for item, day, how in dated:
        figures.append(
            NewFigure(
                metric=item.metric,
                period=item.period,
                value=format_value(item.value),
                announced=day.isoformat(),
                source=f"yfinance {item.how}; {how}; fetched {today}",
                origin=f"yfinance {item.metric} {item.period}",
                confidence="L" if "confidence" in columns else None,
            )
        )
    notes = [text for metric, period, text in mapping.notes if (metric, period) not in latest]
    return FetchPlan(figures, unchanged, new, revised, notes)


__all__ = [
    "FETCHED_METRICS",
    "FetchPlan",
    "Fetched",
    "YahooStatements",
    "announcement_days",
    "dated_by_earnings",
    "fetch_statements",
    "map_statements",
    "plan_fetch",
    "same_at_file_precision",
]
