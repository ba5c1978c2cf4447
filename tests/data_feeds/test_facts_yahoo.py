"""`facts fetch`'s mapping of yfinance-shaped statements to the facts file (no network)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from data_feeds.errors import DataError
from data_feeds.facts_yahoo import (
    announcement_days,
    dated_by_earnings,
    map_statements,
    plan_fetch,
    same_at_file_precision,
)
from data_feeds.fundamentals import read_facts
from tests.data_feeds.yahoo_statements import (
    BALANCE,
    INCOME,
    earnings_dates,
    statement,
    xiaomi_statements,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "configs" / "fundamentals" / "1810.HK.csv"
TODAY = date(2026, 4, 1)


def by_key(figures):  # type: ignore[no-untyped-def]
    return {(f.metric, f.period): f.value for f in figures}


def test_the_frames_map_to_the_files_metrics_and_units() -> None:
    mapped = by_key(map_statements(xiaomi_statements()).figures)
    assert mapped[("revenue", "2025Q4")] == 116500.0  # yuan -> RMB_m
    assert mapped[("gross_margin", "2025Q4")] == 22.5  # gross profit / revenue, pct
    # a full year only when all four quarters are there: 2025 yes, 2024 (Q4 only) no
    assert mapped[("operating_profit", "2025FY")] == 7000 + 11900 + 13000 + 10500
    assert mapped[("income_tax", "2025FY")] == 1500 + 1800 + 1900 + 1700
    assert ("operating_profit", "2024FY") not in mapped
    # year-end balances only; borrowings = current + long-term debt (leases excluded)
    assert mapped[("total_equity", "2025FY")] == 221000.0
    assert mapped[("borrowings", "2025FY")] == 19000 + 20000
    assert mapped[("cash", "2024FY")] == 33661.4
    assert ("cash", "2025FY") in mapped and not any(
        k[1].startswith("2025") and k[1] != "2025FY" for k in mapped if k[0] == "cash"
    )
    assert mapped[("shares_outstanding", "2025-09-30")] == 26.02e9


def test_camel_case_labels_of_pretty_false_work_too() -> None:
    camel = {k.replace(" ", ""): v for k, v in INCOME.items()}
    mapped = by_key(map_statements(xiaomi_statements(income=statement(camel))).figures)
    assert mapped[("revenue", "2025Q3")] == 113121.0


def test_earnings_dates_are_hong_kong_days_and_future_ones_are_not_announcements() -> None:
    # 08:00 HKT is 20:00 (or 19:00) US Eastern the day before: the day is Hong Kong's
    frame = earnings_dates(["2026-05-26 16:00", "2025-11-18 08:00"])
    assert frame.index[1].date() == date(2025, 11, 17)
    assert announcement_days(frame, TODAY) == [date(2025, 11, 18)]
    days = [date(2025, 8, 19), date(2025, 11, 18), date(2026, 3, 24)]
    assert dated_by_earnings("2025Q3", days) == date(2025, 11, 18)
    assert dated_by_earnings("2025Q4", days) == date(2026, 3, 24)
    assert dated_by_earnings("2026Q1", days) is None


@pytest.mark.parametrize(
    ("held", "fetched", "same"),
    [
        (113121, 113121.4, True),
        (113121, 113121.6, False),
        (92500, 92507.4, True),  # the file gives it to the hundred
        (92500, 92560.0, False),
        (22.9, 22.93, True),
        (22.9, 22.96, False),
        (25767517012, 25767517012, True),
        (25767517012, 25767517000, False),
    ],
)
def test_same_at_the_precision_the_file_gives(held: float, fetched: float, same: bool) -> None:
    assert same_at_file_precision(held, fetched) is same


def test_against_the_shipped_file_new_rows_are_dated_by_earnings_revisions_by_the_fetch_day() -> (
    None
):
    facts = read_facts(SHIPPED)
    income = dict(INCOME)
    income["Total Revenue"] = [116500.0, 113121.0, 116600.0, 111293.0, 109005.0]  # 2025Q2 moved
    plan = plan_fetch(xiaomi_statements(income=statement(income)), facts, TODAY, None, "f.csv")
    rows = {(f.metric, f.period): f for f in plan.figures}
    new = rows[("revenue", "2025Q4")]
    assert (new.announced, new.value, new.confidence) == ("2026-03-24", "116500", "L")
    assert "earnings_dates" in new.source and "Total Revenue" in new.source
    assert rows[("operating_profit", "2025FY")].announced == "2026-03-24"
    revision = rows[("revenue", "2025Q2")]
    assert (revision.announced, revision.value) == ("2026-04-01", "116600")
    # the margin moves with the revenue: 26101 / 116600 = 22.39% against the file's 22.5
    assert [(f.metric, f.period, f.value, held.value) for f, held in plan.revised] == [
        ("revenue", "2025Q2", 116600, 116000),
        ("gross_margin", "2025Q2", 22.39, 22.5),
    ]
    unchanged = {(f.metric, f.period) for f in plan.unchanged}
    assert {("revenue", "2025Q3"), ("revenue", "2024Q4"), ("cash", "2024FY")} <= unchanged
    assert ("revenue", "2025Q3") not in rows


def test_a_quarter_without_an_earnings_date_is_refused_unless_announced() -> None:
    facts = read_facts(SHIPPED)
    past = ["2025-11-18 16:00", "2025-08-19 16:00", "2025-05-27 16:00", "2025-03-18 16:00"]
    undated = xiaomi_statements(earnings_dates=earnings_dates(past))
    with pytest.raises(DataError) as err:
        plan_fetch(undated, facts, TODAY, None, "f.csv")
    assert "no earnings date for the 2025Q4 results" in err.value.message
    assert "--announced" in err.value.message
    plan = plan_fetch(undated, facts, TODAY, date(2026, 3, 24), "f.csv")
    assert {f.announced for f in plan.figures if f.period in ("2025Q4", "2025FY")} == {"2026-03-24"}
    with pytest.raises(DataError) as err:
        plan_fetch(xiaomi_statements(earnings_dates=None), [], TODAY, date(2026, 3, 24), "f.csv")
    assert err.value.field == "--announced"


def test_statements_in_another_currency_are_refused() -> None:
    with pytest.raises(DataError) as err:
        plan_fetch(xiaomi_statements(currency="USD"), [], TODAY, None, "f.csv")
    assert "statements are in USD, expected CNY" in err.value.message


def test_balance_sheet_without_split_debt_falls_back_to_total_debt() -> None:
    balance = {k: v for k, v in BALANCE.items() if k not in ("Current Debt", "Long Term Debt")}
    mapped = map_statements(xiaomi_statements(balance=statement(balance)))
    assert by_key(mapped.figures)[("borrowings", "2025FY")] == 47000.0
    assert isinstance(statement(balance).columns, pd.DatetimeIndex)
