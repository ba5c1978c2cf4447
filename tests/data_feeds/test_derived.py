"""Derived figures against hand arithmetic on the shared facts: ROIC, WACC, TTM, YoY, records."""

from __future__ import annotations

import json
import os
from datetime import date, time
from pathlib import Path

import pytest

from data_feeds.calendar import SessionCalendar
from data_feeds.derived import (
    InvestedCapital,
    best_quarter,
    latest_fiscal_year,
    latest_shares_outstanding,
    roic,
    ttm,
    wacc_pct,
    yoy_change,
)
from data_feeds.fundamentals import METRICS, Fact, FactsSnapshot, PointInTimeFacts, read_facts

REPO = Path(__file__).resolve().parents[2]
SHARED_FACTS = (
    Path(os.environ.get("XMTRADE_SHARED_DATA", REPO.parent / "shared" / "data"))
    / "xiaomi_fundamentals.csv"
)
DECISION = time(17, 15)
LATER = date(2026, 3, 26)  # every shared fact is usable by then

# Hand arithmetic from the shared facts file (RMB million).
NOPAT_2024 = 24500 * (1 - 4550 / 28130)
NOPAT_2023 = 20010 * (1 - 4540 / 22010)
NOPAT_2022 = 2820 * (1 - 1430 / 3930)
OPERATING_IC = {
    2022: 143900 + 23600 - 27600 - 40200,
    2023: 164261.8 + 29830 - 33631.3 - 72991.6,
    2024: 189205.1 + 36010 - 33661.4 - 64474.1,
}
TOTAL_IC = {2022: 143900 + 23600, 2023: 164261.8 + 29830, 2024: 189205.1 + 36010}


@pytest.fixture(scope="module")
def calendar() -> SessionCalendar:
    return SessionCalendar("XHKG", [date(2023, 9, 1), date(2023, 9, 8)])


@pytest.fixture(scope="module")
def real(calendar: SessionCalendar) -> PointInTimeFacts:
    if not SHARED_FACTS.is_file():
        pytest.fail(f"shared facts file missing: {SHARED_FACTS} (set XMTRADE_SHARED_DATA)")
    return PointInTimeFacts(read_facts(SHARED_FACTS), calendar, DECISION)


@pytest.fixture(scope="module")
def now(real: PointInTimeFacts) -> FactsSnapshot:
    return real.as_of(LATER)


def annual(metric: str, year: int, value: float, row: int) -> Fact:
    return Fact(
        metric=metric,
        period=f"{year}FY",
        period_end=date(year, 12, 31),
        announced=date(year + 1, 3, 20),
        announced_time=None,
        value=value,
        unit=METRICS[metric].unit,
        source="test",
        confidence=None,
        row=row,
    )


def snapshot_of(calendar: SessionCalendar, values: dict[tuple[str, int], float]) -> FactsSnapshot:
    facts = [annual(m, y, v, row) for row, ((m, y), v) in enumerate(values.items(), start=2)]
    return PointInTimeFacts(facts, calendar, DECISION).as_of(LATER)


# --- ROIC --------------------------------------------------------------------------------------


def test_roic_fy2024_matches_the_worked_check(now: FactsSnapshot) -> None:
    result = roic(now, fiscal_year=None, invested_capital="operating")
    assert result.year == 2024
    assert result.nopat == pytest.approx(NOPAT_2024)
    assert result.invested_capital_start == pytest.approx(OPERATING_IC[2023])
    assert result.invested_capital_end == pytest.approx(OPERATING_IC[2024])
    assert result.averaged is True
    expected = NOPAT_2024 / ((OPERATING_IC[2023] + OPERATING_IC[2024]) / 2) * 100
    assert result.value_pct == pytest.approx(expected)
    # the data README's rounded figures
    assert result.nopat == pytest.approx(20530, abs=10)
    assert result.invested_capital_end == pytest.approx(127080, abs=1)
    assert result.invested_capital_start == pytest.approx(87470, abs=2)
    assert result.value_pct is not None and round(result.value_pct, 1) == 19.1
    assert result.note == (
        "FY2024 ROIC on operating invested capital averaged over the 2023FY and 2024FY year ends"
    )
    used = {(f.metric, f.period) for f in result.facts}
    assert len(used) == 11  # 3 NOPAT inputs + 4 balance-sheet lines at each of two year ends
    assert ("short_term_investments", "2023FY") in used


@pytest.mark.parametrize(
    ("year", "definition", "nopat", "start", "end"),
    [
        (2024, "operating", NOPAT_2024, OPERATING_IC[2023], OPERATING_IC[2024]),
        (2023, "operating", NOPAT_2023, OPERATING_IC[2022], OPERATING_IC[2023]),
        (2024, "total", NOPAT_2024, TOTAL_IC[2023], TOTAL_IC[2024]),
        (2023, "total", NOPAT_2023, TOTAL_IC[2022], TOTAL_IC[2023]),
    ],
)
def test_roic_on_average_capital(
    now: FactsSnapshot,
    year: int,
    definition: InvestedCapital,
    nopat: float,
    start: float,
    end: float,
) -> None:
    result = roic(now, fiscal_year=year, invested_capital=definition)
    assert (result.year, result.averaged, result.definition) == (year, True, definition)
    assert result.invested_capital == pytest.approx((start + end) / 2)
    assert result.value_pct == pytest.approx(nopat / ((start + end) / 2) * 100)


def test_roic_fy2022_uses_the_year_end_only_and_says_so(now: FactsSnapshot) -> None:
    result = roic(now, fiscal_year=2022, invested_capital="operating")
    assert result.averaged is False
    assert result.invested_capital_start is None
    assert result.value_pct == pytest.approx(NOPAT_2022 / OPERATING_IC[2022] * 100)
    assert result.value_pct is not None and round(result.value_pct, 1) == 1.8
    assert result.note == (
        "FY2022 ROIC on operating invested capital at the 2022FY year end only "
        "(start of year unknown: missing total_equity, borrowings, cash, "
        "short_term_investments for 2021FY)"
    )
    total = roic(now, fiscal_year=2022, invested_capital="total")
    assert total.value_pct == pytest.approx(NOPAT_2022 / TOTAL_IC[2022] * 100)
    assert {f.metric for f in total.facts} == {
        "operating_profit",
        "profit_before_tax",
        "income_tax",
        "total_equity",
        "borrowings",
    }


def test_roic_unknown_years_are_none_with_a_note(now: FactsSnapshot) -> None:
    fy2021 = roic(now, fiscal_year=2021, invested_capital="operating")
    assert (fy2021.value_pct, fy2021.nopat, fy2021.facts) == (None, None, ())
    assert fy2021.note == (
        "FY2021 ROIC unknown: missing operating_profit, profit_before_tax, income_tax, "
        "total_equity, borrowings, cash, short_term_investments for 2021FY"
    )
    for year in (2018, 2019, 2020):
        result = roic(now, fiscal_year=year, invested_capital="total")
        assert result.value_pct is None
        assert (
            result.note == f"FY{year} ROIC unknown: missing total_equity, borrowings for {year}FY"
        )
        assert len(result.facts) == 3  # the income statement is there, the balance sheet is not


def test_roic_uses_the_latest_fiscal_year_visible(real: PointInTimeFacts) -> None:
    before = roic(real.as_of(date(2025, 3, 18)), fiscal_year=None, invested_capital="operating")
    after = roic(real.as_of(date(2025, 3, 19)), fiscal_year=None, invested_capital="operating")
    assert before.year == 2023
    assert before.value_pct == pytest.approx(
        NOPAT_2023 / ((OPERATING_IC[2022] + OPERATING_IC[2023]) / 2) * 100
    )
    assert after.year == 2024
    # asking for a year not yet announced gives unknown, not a peek at the future
    early = roic(real.as_of(date(2025, 3, 18)), fiscal_year=2024, invested_capital="operating")
    assert early.value_pct is None
    assert early.facts == ()


def test_roic_before_any_statement_and_with_stale_statements(real: PointInTimeFacts) -> None:
    none_yet = roic(real.as_of(date(2019, 3, 19)), fiscal_year=None, invested_capital="total")
    assert none_yet.year is None
    assert none_yet.value_pct is None
    assert none_yet.note == "ROIC unknown: no full-year statements visible as of 2019-03-19"
    assert latest_fiscal_year(real.as_of(date(2019, 3, 20))) == 2018
    stale = roic(real.as_of(date(2022, 6, 1)), fiscal_year=None, invested_capital="operating")
    assert stale.year == 2020
    assert stale.value_pct is None
    assert stale.note == (
        "FY2020 ROIC unknown: missing total_equity, borrowings, cash, short_term_investments "
        "for 2020FY; 2021Q4 results are visible but the facts hold no 2021FY statements"
    )


def test_roic_edge_cases(calendar: SessionCalendar) -> None:
    income = {("operating_profit", 2024): 100.0, ("income_tax", 2024): 20.0}
    sheet = {("total_equity", 2024): 500.0, ("borrowings", 2024): 100.0}
    loss = snapshot_of(calendar, {**income, ("profit_before_tax", 2024): -5.0, **sheet})
    result = roic(loss, fiscal_year=2024, invested_capital="total")
    assert result.value_pct is None
    assert result.note == (
        "FY2024 ROIC unknown: profit before tax -5 is not positive, so the tax rate is undefined"
    )
    cash_rich = snapshot_of(
        calendar,
        {
            **income,
            ("profit_before_tax", 2024): 100.0,
            **sheet,
            ("cash", 2024): 400.0,
            ("short_term_investments", 2024): 300.0,
        },
    )
    result = roic(cash_rich, fiscal_year=2024, invested_capital="operating")
    assert result.value_pct is None
    assert result.nopat == pytest.approx(80.0)
    assert result.note == "FY2024 ROIC unknown: operating invested capital -100 is not positive"
    # a partial balance sheet at the start of the year: year end only
    partial = snapshot_of(
        calendar,
        {**income, ("profit_before_tax", 2024): 100.0, **sheet, ("total_equity", 2023): 450.0},
    )
    result = roic(partial, fiscal_year=2024, invested_capital="total")
    assert result.averaged is False
    assert result.value_pct == pytest.approx(80.0 / 600.0 * 100)
    assert "missing borrowings for 2023FY" in result.note
    assert json.loads(json.dumps(result.as_dict()))["facts"][0]["metric"] == "operating_profit"


# --- WACC --------------------------------------------------------------------------------------


def test_wacc_fixed() -> None:
    assert (
        wacc_pct(
            method="fixed",
            fixed_pct=9.0,
            risk_free_pct=None,
            beta=None,
            equity_risk_premium_pct=None,
            cost_of_debt_pct=None,
            tax_rate_pct=None,
            debt_weight_pct=None,
        )
        == 9.0
    )
    with pytest.raises(ValueError, match="wacc method fixed needs fixed_pct"):
        wacc_pct(
            method="fixed",
            fixed_pct=None,
            risk_free_pct=4.0,
            beta=1.0,
            equity_risk_premium_pct=6.0,
            cost_of_debt_pct=5.0,
            tax_rate_pct=25.0,
            debt_weight_pct=20.0,
        )


def test_wacc_capm_by_hand() -> None:
    # cost of equity 4 + 1.2 × 6 = 11.2; after-tax debt 5 × 0.75 = 3.75
    # WACC = 0.8 × 11.2 + 0.2 × 3.75 = 8.96 + 0.75 = 9.71
    result = wacc_pct(
        method="capm",
        fixed_pct=None,
        risk_free_pct=4.0,
        beta=1.2,
        equity_risk_premium_pct=6.0,
        cost_of_debt_pct=5.0,
        tax_rate_pct=25.0,
        debt_weight_pct=20.0,
    )
    assert result == pytest.approx(9.71)
    no_debt = wacc_pct(
        method="capm",
        fixed_pct=99.0,
        risk_free_pct=3.0,
        beta=0.5,
        equity_risk_premium_pct=8.0,
        cost_of_debt_pct=50.0,
        tax_rate_pct=0.0,
        debt_weight_pct=0.0,
    )
    assert no_debt == pytest.approx(7.0)
    with pytest.raises(ValueError, match="wacc method capm needs beta, tax_rate_pct"):
        wacc_pct(
            method="capm",
            fixed_pct=9.0,
            risk_free_pct=4.0,
            beta=None,
            equity_risk_premium_pct=6.0,
            cost_of_debt_pct=5.0,
            tax_rate_pct=None,
            debt_weight_pct=20.0,
        )


# --- TTM, YoY, records -------------------------------------------------------------------------


def test_ttm(real: PointInTimeFacts, now: FactsSnapshot) -> None:
    latest = ttm(now, "revenue")
    assert latest is not None
    assert latest.periods == ("2024Q4", "2025Q1", "2025Q2", "2025Q3")
    assert latest.value == pytest.approx(109000 + 111300 + 116000 + 113121)
    assert latest.unit == "RMB_m"
    earlier = ttm(real.as_of(date(2025, 3, 18)), "revenue")
    assert earlier is not None and earlier.periods[-1] == "2024Q3"
    deliveries = ttm(now, "ev_deliveries", "2024Q4")
    assert deliveries is not None and deliveries.value == 0 + 27307 + 39790 + 69697
    assert ttm(now, "ev_revenue", "2024Q4") is None  # no 2024Q1 EV revenue row
    assert ttm(real.as_of(date(2018, 11, 19)), "revenue") is None
    with pytest.raises(ValueError, match="gross_margin \\(pct\\) does not add up over quarters"):
        ttm(now, "gross_margin")
    with pytest.raises(ValueError, match="cash is annual, not a quarterly metric"):
        ttm(now, "cash")


def test_yoy_change(real: PointInTimeFacts, now: FactsSnapshot) -> None:
    margin = yoy_change(now, "gross_margin")
    assert margin is not None
    assert (margin.period, margin.prior_period) == ("2025Q3", "2024Q3")
    assert (margin.value, margin.prior_value) == (22.9, 20.4)
    assert margin.change == pytest.approx(2.5)
    assert margin.change_unit == "pp"
    fell = yoy_change(real.as_of(date(2024, 11, 19)), "gross_margin")
    assert fell is not None and fell.change == pytest.approx(20.4 - 22.7)
    revenue = yoy_change(now, "revenue", as_of_period="2024Q4")
    assert revenue is not None
    assert revenue.change == pytest.approx(109000 - 73200)
    assert revenue.change_unit == "RMB_m"
    assert yoy_change(real.as_of(date(2025, 3, 19)), "ev_gross_margin") is None  # no 2023Q4 EV
    assert yoy_change(now, "revenue", as_of_period="2030Q1") is None


def test_latest_shares_outstanding(real: PointInTimeFacts) -> None:
    before = latest_shares_outstanding(real.as_of(date(2025, 3, 31)))
    after = latest_shares_outstanding(real.as_of(date(2025, 4, 1)))
    assert before is not None and before.value == 24967517012
    assert after is not None and after.value == 25767517012
    assert latest_shares_outstanding(real.as_of(date(2019, 2, 14))) is None


def test_best_quarter(real: PointInTimeFacts) -> None:
    assert best_quarter(real.as_of(date(2024, 8, 21)), "ev_segment_result") is None
    first = best_quarter(real.as_of(date(2024, 8, 22)), "ev_segment_result")
    assert first is not None and (first.period, first.value) == ("2024Q2", -1800)
    before = best_quarter(real.as_of(date(2025, 11, 18)), "ev_segment_result")
    assert before is not None and (before.period, before.value) == ("2025Q2", -300)
    after = best_quarter(real.as_of(date(2025, 11, 19)), "ev_segment_result")
    assert after is not None and (after.period, after.value) == ("2025Q3", 700)


def test_best_quarter_keeps_the_first_on_a_tie(calendar: SessionCalendar) -> None:
    facts = [
        Fact(
            metric="ev_segment_result",
            period=period,
            period_end=end,
            announced=date(2025, 12, 1),
            announced_time=None,
            value=value,
            unit="RMB_m",
            source="test",
            confidence=None,
            row=row,
        )
        for row, (period, end, value) in enumerate(
            [
                ("2025Q1", date(2025, 3, 31), 50.0),
                ("2025Q2", date(2025, 6, 30), 80.0),
                ("2025Q3", date(2025, 9, 30), 80.0),
            ],
            start=2,
        )
    ]
    snap = PointInTimeFacts(facts, calendar, DECISION).as_of(LATER)
    best = best_quarter(snap, "ev_segment_result")
    assert best is not None and best.period == "2025Q2"


def test_roic_falls_back_to_the_latest_complete_year(
    tmp_path: Path, calendar: SessionCalendar
) -> None:
    """A partly entered FY2025 (operating profit only) must not make ROIC unknown."""
    text = SHARED_FACTS.read_text(encoding="utf-8").rstrip()
    text += "\noperating_profit,2025FY,2025-12-31,2026-03-20,30000,RMB_m,test,H\n"
    path = tmp_path / "facts.csv"
    path.write_text(text, encoding="utf-8")
    snapshot = PointInTimeFacts(read_facts(path), calendar, DECISION).as_of(LATER)
    result = roic(snapshot, fiscal_year=None, invested_capital="operating")
    assert result.year == 2024
    assert result.value_pct == pytest.approx(
        NOPAT_2024 / ((OPERATING_IC[2023] + OPERATING_IC[2024]) / 2) * 100
    )
    assert "FY2025 statements are incomplete" in result.note
    asked = roic(snapshot, fiscal_year=2025, invested_capital="operating")
    assert asked.value_pct is None and asked.incomplete
