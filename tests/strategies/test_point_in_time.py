"""Fundamentals are used point in time on the real facts: moving an announcement later or
removing a report never changes a decision made before it, and stage 2 never opens before
the second consecutive passing report is usable."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from data_feeds.bars import read_price_csv
from data_feeds.calendar import SessionCalendar
from xmtrade.backtest import BacktestResult, run_backtest
from xmtrade.config import default_config_path, load_config

FACTS = default_config_path().parent / "fundamentals" / "1810.HK.csv"


@pytest.fixture(scope="module")
def bars(shared_prices_csv: Path) -> pd.DataFrame:
    return read_price_csv(shared_prices_csv)


@pytest.fixture(scope="module")
def hkex() -> SessionCalendar:
    cfg = load_config()
    return SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)


def rewrite_facts(tmp_path: Path, edit: Any) -> Path:
    """The shipped facts with `edit(row) -> row | None` applied to every row."""
    with FACTS.open(newline="", encoding="utf-8") as src:
        reader = csv.DictReader(src)
        fields = list(reader.fieldnames or [])
        rows = [r for r in (edit(dict(row)) for row in reader) if r is not None]
    out = tmp_path / "facts.csv"
    with out.open("w", newline="", encoding="utf-8") as dst:
        writer = csv.DictWriter(dst, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return out


def backtest(
    bars: pd.DataFrame, hkex: SessionCalendar, facts: Path | None = None
) -> BacktestResult:
    overrides = {"fundamentals.file": str(facts)} if facts else None
    return run_backtest(load_config(overrides=overrides), bars, hkex)


def before(result: BacktestResult, day: date) -> list[dict[str, Any]]:
    return [d for d in result.decisions if d["date"] < day]


@pytest.fixture(scope="module")
def reference(bars: pd.DataFrame, hkex: SessionCalendar) -> BacktestResult:
    return backtest(bars, hkex)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("period", "announced", "usable"),
    [
        ("2025Q1", "2025-05-27", date(2025, 5, 28)),
        ("2022Q4", "2023-03-24", date(2023, 3, 27)),
        ("2018Q4", "2019-03-19", date(2019, 3, 20)),
    ],
)
def test_moving_an_announcement_later_changes_nothing_before_it(
    bars: pd.DataFrame,
    hkex: SessionCalendar,
    reference: BacktestResult,
    tmp_path: Path,
    period: str,
    announced: str,
    usable: date,
) -> None:
    year = period[:4]
    fiscal_year = f"{year}FY" if period.endswith("Q4") else None
    later = (date.fromisoformat(announced) + timedelta(days=45)).isoformat()

    def delay(row: dict[str, str]) -> dict[str, str]:
        if row["announced"] == announced and row["period"] in (period, fiscal_year):
            row["announced"] = later
        return row

    moved = backtest(bars, hkex, rewrite_facts(tmp_path, delay))
    assert before(moved, usable) == before(reference, usable)
    assert moved.decisions != reference.decisions, "the move should matter after it"


@pytest.mark.slow
def test_removing_a_report_changes_nothing_before_it(
    bars: pd.DataFrame, hkex: SessionCalendar, reference: BacktestResult, tmp_path: Path
) -> None:
    removed = backtest(
        bars, hkex, rewrite_facts(tmp_path, lambda r: None if r["period"] == "2025Q2" else r)
    )
    assert before(removed, date(2025, 8, 20)) == before(reference, date(2025, 8, 20))


@pytest.mark.slow
def test_stage_two_waits_for_the_second_consecutive_passing_report(
    reference: BacktestResult,
) -> None:
    # 2024Q4 (usable 2025-03-19) is the first report to pass the gate; 2025Q1, the second in a
    # row, is usable from 2025-05-28. No stage-2 tranche may be decided before that.
    adds = [d for d in reference.decisions if d["action"] == "add"]
    assert adds, "the reference run builds stage 2 at some point"
    for add in adds:
        assert add["date"] >= date(2025, 5, 28)
        context = add["fundamentals"]
        needed = 2 if add["stage"] == 2 else 3
        assert context["consecutive_passes"] >= needed
        assert context["passing_reports"][:2] == ["2024Q4", "2025Q1"]
    verdicts = {
        d["newest_report"]["period"]: d["newest_report"]["verdict"]
        for d in reference.decisions
        if d["action"] == "fundamentals" and d["newest_report"]
    }
    assert verdicts["2024Q3"] == "fail" and verdicts["2024Q4"] == "pass"
    trades = reference.trades
    assert (trades.loc[trades["stage"] >= 2, "entry_date"] > date(2025, 5, 28)).all()
