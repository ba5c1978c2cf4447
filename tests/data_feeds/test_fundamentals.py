"""Facts files, their error lines, and the point-in-time visibility rule (STRATEGY §4)."""

from __future__ import annotations

import csv
import dataclasses
import os
from datetime import date, time, timedelta
from pathlib import Path

import pandas as pd
import pytest

from data_feeds.calendar import SessionCalendar
from data_feeds.errors import DataError
from data_feeds.fundamentals import (
    METRICS,
    Fact,
    PointInTimeFacts,
    fiscal_year_of,
    previous_quarters,
    quarter_end,
    quarter_of,
    read_facts,
    same_quarter_last_year,
    shift_quarter,
)

REPO = Path(__file__).resolve().parents[2]
SHARED_FACTS = (
    Path(os.environ.get("XMTRADE_SHARED_DATA", REPO.parent / "shared" / "data"))
    / "xiaomi_fundamentals.csv"
)
SHIPPED_FACTS = REPO / "configs" / "fundamentals" / "1810.HK.csv"
HEADER = "metric,period,period_end,announced,announced_time,value,unit,source,confidence"
GOOD = "revenue,2024Q3,2024-09-30,2024-11-18,,92500,RMB_m,results announcement,H"
DECISION = time(17, 15)


@pytest.fixture(scope="module")
def calendar() -> SessionCalendar:
    """HKEX sessions without the two 2023 typhoon/rainstorm days (as the shipped config)."""
    return SessionCalendar("XHKG", [date(2023, 9, 1), date(2023, 9, 8)])


@pytest.fixture(scope="module")
def shared_facts() -> list[Fact]:
    if not SHARED_FACTS.is_file():
        pytest.fail(f"shared facts file missing: {SHARED_FACTS} (set XMTRADE_SHARED_DATA)")
    return read_facts(SHARED_FACTS)


@pytest.fixture(scope="module")
def real(shared_facts: list[Fact], calendar: SessionCalendar) -> PointInTimeFacts:
    return PointInTimeFacts(shared_facts, calendar, DECISION)


def write(tmp_path: Path, *lines: str, header: str = HEADER) -> Path:
    path = tmp_path / "facts.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def fact(
    metric: str = "revenue",
    period: str = "2024Q3",
    announced: date = date(2024, 11, 18),
    value: float = 92500.0,
    announced_time: time | None = None,
    row: int = 2,
) -> Fact:
    spec = METRICS[metric]
    if spec.kind == "quarterly":
        end = quarter_end(period)
    elif spec.kind == "annual":
        end = date(fiscal_year_of(period), 12, 31)
    else:
        end = date.fromisoformat(period)
    return Fact(
        metric=metric,
        period=period,
        period_end=end,
        announced=announced,
        announced_time=announced_time,
        value=value,
        unit=spec.unit,
        source="test",
        confidence=None,
        row=row,
    )


# --- reading a facts file ----------------------------------------------------------------------


def test_reads_a_good_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD,
        "",
        "gross_margin,2024Q3,2024-09-30,2024-11-18,16:30,20.4,pct,results,",
        'shares_outstanding,2024-11-30,2024-11-30,2024-12-03,,2.5e10,shares,"a, b",M',
    )
    facts = read_facts(path)
    assert [f.row for f in facts] == [2, 4, 5]
    first, margin, shares = facts
    assert first == Fact(
        metric="revenue",
        period="2024Q3",
        period_end=date(2024, 9, 30),
        announced=date(2024, 11, 18),
        announced_time=None,
        value=92500.0,
        unit="RMB_m",
        source="results announcement",
        confidence="H",
        row=2,
    )
    assert margin.announced_time == time(16, 30)
    assert margin.confidence is None  # blank confidence is allowed
    assert shares.source == "a, b"
    assert shares.value == 25_000_000_000
    assert shares.kind == "point"


def test_announced_time_and_confidence_columns_are_optional(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "revenue,2024Q3,2024-09-30,2024-11-18,92500,RMB_m,results",
        header="metric,period,period_end,announced,value,unit,source",
    )
    (only,) = read_facts(path)
    assert only.announced_time is None
    assert only.confidence is None


def test_the_error_is_one_line_naming_file_row_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, GOOD.replace("revenue", "revnue"))
    with pytest.raises(DataError) as err:
        read_facts(path)
    assert str(err.value) == (
        f"{path}: row 3, column metric: unknown metric 'revnue' (did you mean 'revenue'?)"
    )
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError) as err:
        read_facts(path)
    assert err.value.where == str(path)
    assert err.value.field is None
    assert err.value.message == f"file not found; expected a facts CSV ({HEADER})"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "facts.csv"
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_facts(path)
    assert (err.value.field, err.value.message) == (
        None,
        f"empty file; expected a header {HEADER}",
    )


def test_header_without_rows(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        read_facts(write(tmp_path))
    assert (err.value.field, err.value.message) == (None, "no facts after the header row")


@pytest.mark.parametrize(
    ("header", "field", "message"),
    [
        (
            "metric,period,period_end,announced,value,source,confidence",
            "row 1, column unit",
            f"required column missing; expected {HEADER}",
        ),
        (
            "metric,period,period_end,announced,anounced_time,value,unit,source",
            "row 1, column anounced_time",
            f"unknown column (did you mean 'announced_time'?); expected {HEADER}",
        ),
        (
            "metric,period,period_end,announced,value,unit,source,value",
            "row 1, column value",
            "column appears twice",
        ),
    ],
)
def test_bad_header(tmp_path: Path, header: str, field: str, message: str) -> None:
    path = write(tmp_path, GOOD, header=header)
    with pytest.raises(DataError) as err:
        read_facts(path)
    assert (err.value.where, err.value.field, err.value.message) == (str(path), field, message)


KNOWN = ", ".join(METRICS)


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        (
            "revnue,2024Q3,2024-09-30,2024-11-18,,92500,RMB_m,x,H",
            "row 2, column metric",
            "unknown metric 'revnue' (did you mean 'revenue'?)",
        ),
        (
            "zzz,2024Q3,2024-09-30,2024-11-18,,92500,RMB_m,x,H",
            "row 2, column metric",
            f"unknown metric 'zzz' (known: {KNOWN})",
        ),
        (
            ",2024Q3,2024-09-30,2024-11-18,,92500,RMB_m,x,H",
            "row 2, column metric",
            "expected a metric name, got blank",
        ),
        (
            "revenue,2024Q3,2024/09/30,2024-11-18,,92500,RMB_m,x,H",
            "row 2, column period_end",
            "expected a date YYYY-MM-DD, got '2024/09/30'",
        ),
        (
            "revenue,2024Q3,2024-09-30,2024-02-30,,92500,RMB_m,x,H",
            "row 2, column announced",
            "expected a date YYYY-MM-DD, got '2024-02-30'",
        ),
        (
            "revenue,2024Q3,2024-09-30,,,92500,RMB_m,x,H",
            "row 2, column announced",
            "expected a date YYYY-MM-DD, got blank",
        ),
        (
            "revenue,2024FY,2024-12-31,2025-03-18,,92500,RMB_m,x,H",
            "row 2, column period",
            "expected a quarter like 2024Q3 for quarterly metric revenue, got '2024FY'",
        ),
        (
            "revenue,2024Q5,2024-12-31,2025-03-18,,92500,RMB_m,x,H",
            "row 2, column period",
            "expected a quarter like 2024Q3 for quarterly metric revenue, got '2024Q5'",
        ),
        (
            "operating_profit,2024Q4,2024-12-31,2025-03-18,,24500,RMB_m,x,H",
            "row 2, column period",
            "expected a fiscal year like 2024FY for annual metric operating_profit, got '2024Q4'",
        ),
        (
            "shares_outstanding,2024Q4,2024-12-31,2025-03-18,,1,shares,x,H",
            "row 2, column period",
            "expected a date YYYY-MM-DD for point metric shares_outstanding, got '2024Q4'",
        ),
        (
            "revenue,2024Q3,2024-09-29,2024-11-18,,92500,RMB_m,x,H",
            "row 2, column period_end",
            "expected 2024-09-30 (the last day of 2024Q3), got 2024-09-29",
        ),
        (
            "cash,2024FY,2024-12-30,2025-03-18,,1,RMB_m,x,H",
            "row 2, column period_end",
            "expected 2024-12-31 (the last day of 2024FY), got 2024-12-30",
        ),
        (
            "shares_outstanding,2024-11-30,2024-11-29,2024-12-03,,1,shares,x,H",
            "row 2, column period_end",
            "expected 2024-11-30 (the date in period), got 2024-11-29",
        ),
        (
            "revenue,2024Q3,2024-09-30,2024-09-29,,92500,RMB_m,x,H",
            "row 2, column announced",
            "2024-09-29 is before the end of period 2024Q3 (2024-09-30); "
            "a figure cannot be announced before its period ends",
        ),
        (
            "revenue,2024Q3,2024-09-30,2024-11-18,25:00,92500,RMB_m,x,H",
            "row 2, column announced_time",
            "expected a time HH:MM (Hong Kong time) or blank, got '25:00'",
        ),
        (
            "revenue,2024Q3,2024-09-30,2024-11-18,4pm,92500,RMB_m,x,H",
            "row 2, column announced_time",
            "expected a time HH:MM (Hong Kong time) or blank, got '4pm'",
        ),
        (
            "revenue,2024Q3,2024-09-30,2024-11-18,,92.5k,RMB_m,x,H",
            "row 2, column value",
            "expected a number like 92500 or 20.4, got '92.5k'",
        ),
        (
            "revenue,2024Q3,2024-09-30,2024-11-18,,1_000,RMB_m,x,H",
            "row 2, column value",
            "expected a number like 92500 or 20.4, got '1_000'",
        ),
        (
            "revenue,2024Q3,2024-09-30,2024-11-18,,NaN,RMB_m,x,H",
            "row 2, column value",
            "expected a finite number, got 'NaN' (leave the row out if the figure is unknown)",
        ),
        (
            "revenue,2024Q3,2024-09-30,2024-11-18,,inf,RMB_m,x,H",
            "row 2, column value",
            "expected a finite number, got 'inf' (leave the row out if the figure is unknown)",
        ),
        (
            "revenue,2024Q3,2024-09-30,2024-11-18,,,RMB_m,x,H",
            "row 2, column value",
            "expected a number, got blank (leave the row out if the figure is unknown)",
        ),
        (
            "revenue,2024Q3,2024-09-30,2024-11-18,,92500,RMB,x,H",
            "row 2, column unit",
            "expected RMB_m for metric revenue, got 'RMB'",
        ),
        (
            "gross_margin,2024Q3,2024-09-30,2024-11-18,,20.4,RMB_m,x,H",
            "row 2, column unit",
            "expected pct for metric gross_margin, got 'RMB_m'",
        ),
        (
            "revenue,2024Q3,2024-09-30,2024-11-18,,92500,RMB_m,,H",
            "row 2, column source",
            "expected where the figure comes from, got blank",
        ),
        (
            "revenue,2024Q3,2024-09-30,2024-11-18,,92500,RMB_m,x,high",
            "row 2, column confidence",
            "expected H, M, L or blank, got 'high'",
        ),
        (
            "revenue,2024Q3,2024-09-30,2024-11-18,92500,RMB_m,x,H",
            "row 2",
            "expected 9 fields like the header, saw 8",
        ),
    ],
)
def test_bad_row(tmp_path: Path, row: str, field: str, message: str) -> None:
    path = write(tmp_path, row)
    with pytest.raises(DataError) as err:
        read_facts(path)
    assert (err.value.where, err.value.field, err.value.message) == (str(path), field, message)


def test_row_numbers_are_file_lines_with_blank_lines_counted(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "", "", GOOD.replace("92500", "lots"))
    with pytest.raises(DataError) as err:
        read_facts(path)
    assert err.value.field == "row 5, column value"


def test_duplicate_metric_period_and_announced(tmp_path: Path) -> None:
    revision = GOOD.replace("2024-11-18", "2024-12-10").replace("92500", "92600")
    assert len(read_facts(write(tmp_path, GOOD, revision))) == 2  # a later row is a revision
    path = write(tmp_path, GOOD, revision, GOOD.replace("92500", "92700"))
    with pytest.raises(DataError) as err:
        read_facts(path)
    assert err.value.field == "row 4, column announced"
    assert err.value.message == (
        "duplicate of row 2 (same metric, period and announced); "
        "a revision needs a later announced date"
    )


# --- period arithmetic -------------------------------------------------------------------------


def test_period_helpers() -> None:
    assert quarter_of("2024Q3") == (2024, 3)
    assert same_quarter_last_year("2024Q3") == "2023Q3"
    assert previous_quarters("2024Q2", 3) == ["2024Q1", "2023Q4", "2023Q3"]
    assert previous_quarters("2024Q2", 0) == []
    assert shift_quarter("2023Q4", 1) == "2024Q1"
    assert quarter_end("2024Q1") == date(2024, 3, 31)
    assert fiscal_year_of("2024FY") == 2024
    with pytest.raises(ValueError, match="not a quarter like 2024Q3: '2024FY'"):
        quarter_of("2024FY")


# --- the visibility rule -----------------------------------------------------------------------


def visible(pit: PointInTimeFacts, day: date) -> float | None:
    return pit.as_of(day).value("revenue", "2024Q3")


def test_no_time_on_a_session_day_is_usable_from_the_next_session(
    calendar: SessionCalendar,
) -> None:
    news = fact(announced=date(2024, 11, 18))  # a Monday, after the close
    pit = PointInTimeFacts([news], calendar, DECISION)
    assert pit.usable_from(news) == date(2024, 11, 19)
    assert visible(pit, date(2024, 11, 18)) is None
    assert visible(pit, date(2024, 11, 19)) == 92500.0
    assert pit.change_sessions() == [date(2024, 11, 19)]


@pytest.mark.parametrize(
    ("announced", "usable"),
    [
        (date(2023, 3, 24), date(2023, 3, 27)),  # Friday → Monday
        (date(2024, 3, 28), date(2024, 4, 2)),  # Thursday before Good Friday and Easter Monday
        (date(2024, 11, 16), date(2024, 11, 18)),  # Saturday → Monday
        (date(2023, 8, 31), date(2023, 9, 4)),  # skips the typhoon day the library lists
    ],
)
def test_weekends_holidays_and_closures(
    calendar: SessionCalendar, announced: date, usable: date
) -> None:
    news = fact(announced=announced, period="2022Q4" if announced.year == 2023 else "2023Q4")
    pit = PointInTimeFacts([news], calendar, DECISION)
    assert pit.usable_from(news) == usable
    before = calendar.previous_session(usable)
    assert pit.as_of(before).fact(news.metric, news.period) is None
    assert pit.as_of(usable).fact(news.metric, news.period) == news


@pytest.mark.parametrize(
    ("announced", "at", "usable"),
    [
        (date(2024, 11, 18), time(16, 30), date(2024, 11, 18)),  # before the decision: same day
        (date(2024, 11, 18), time(17, 15), date(2024, 11, 18)),  # at the decision time
        (date(2024, 11, 18), time(17, 30), date(2024, 11, 19)),  # after it: next session
        (date(2024, 11, 16), time(10, 0), date(2024, 11, 18)),  # Saturday: next session
        (date(2023, 9, 1), time(10, 0), date(2023, 9, 4)),  # closed all day: next session
    ],
)
def test_announcement_time_against_the_decision_time(
    calendar: SessionCalendar, announced: date, at: time, usable: date
) -> None:
    news = fact(announced=announced, announced_time=at, period="2023Q2")
    pit = PointInTimeFacts([news], calendar, DECISION)
    assert pit.usable_from(news) == usable
    assert pit.as_of(usable).value("revenue", "2023Q2") == 92500.0
    assert pit.as_of(calendar.previous_session(usable)).value("revenue", "2023Q2") is None


def test_the_decision_time_is_a_parameter(calendar: SessionCalendar) -> None:
    news = fact(announced_time=time(16, 30))
    assert PointInTimeFacts([news], calendar, time(16, 0)).usable_from(news) == date(2024, 11, 19)
    assert PointInTimeFacts([news], calendar, time(16, 30)).usable_from(news) == date(2024, 11, 18)


def test_a_revision_counts_only_from_its_own_usable_date(calendar: SessionCalendar) -> None:
    first = fact(value=92500.0, row=2)
    revised = fact(announced=date(2024, 12, 10), value=92600.0, row=3)
    pit = PointInTimeFacts([revised, first], calendar, DECISION)
    assert visible(pit, date(2024, 11, 18)) is None
    assert visible(pit, date(2024, 11, 19)) == 92500.0
    assert visible(pit, date(2024, 12, 10)) == 92500.0  # announced that evening
    assert visible(pit, date(2024, 12, 11)) == 92600.0
    assert pit.as_of(date(2024, 12, 11)).fact("revenue", "2024Q3") == revised
    assert pit.change_sessions() == [date(2024, 11, 19), date(2024, 12, 11)]
    (report,) = pit.reports(date(2025, 1, 2))
    assert (report.announced, report.usable_from) == (date(2024, 11, 18), date(2024, 11, 19))


def test_duplicate_facts_are_refused(calendar: SessionCalendar) -> None:
    with pytest.raises(ValueError, match="facts rows 2 and 3 are both revenue 2024Q3"):
        PointInTimeFacts([fact(row=2), fact(value=1.0, row=3)], calendar, DECISION)


def test_moving_an_announcement_later_never_changes_an_earlier_snapshot(
    shared_facts: list[Fact], calendar: SessionCalendar, real: PointInTimeFacts
) -> None:
    sessions = [d.date() for d in calendar.sessions(date(2018, 11, 1), date(2026, 3, 26))]
    for index in range(0, len(shared_facts), 7):
        moved_fact = shared_facts[index]
        later = dataclasses.replace(moved_fact, announced=moved_fact.announced + timedelta(days=30))
        changed = list(shared_facts)
        changed[index] = later
        moved = PointInTimeFacts(changed, calendar, DECISION)
        cutoff = real.usable_from(moved_fact)
        for day in sessions:
            if day >= cutoff:
                break
            assert moved.as_of(day).facts() == real.as_of(day).facts(), (moved_fact, day)
        # and it does change the snapshot on the original usable date
        assert moved.as_of(cutoff).facts() != real.as_of(cutoff).facts()


def test_snapshots_are_shared_between_change_sessions(real: PointInTimeFacts) -> None:
    one = real.as_of(date(2024, 12, 4))  # the share count of 2024-12-03 is usable
    two = real.as_of(date(2025, 3, 18))
    three = real.as_of(date(2025, 3, 19))
    assert one.as_of_session == date(2024, 12, 4)
    assert two.as_of_session == date(2025, 3, 18)
    assert one._visible is two._visible  # nothing announced in between: same state
    assert three._visible is not two._visible
    assert real.as_of(pd.Timestamp("2025-03-19")).facts() == three.facts()


def test_snapshot_lookups_on_the_real_facts(real: PointInTimeFacts) -> None:
    snap = real.as_of(date(2025, 3, 18))  # 2024Q4 announced that evening: not yet usable
    assert snap.value("revenue", "2024Q4") is None
    assert snap.value("revenue", "2024Q3") == 92500.0
    assert snap.quarter_value("ev_deliveries", "2024Q3") == 39790.0
    latest = snap.latest("revenue")
    assert latest is not None and latest.period == "2024Q3"
    assert snap.periods("cash") == ["2022FY", "2023FY"]
    assert snap.periods("ev_revenue") == ["2024Q2", "2024Q3"]
    assert snap.latest("ev_segment_result") == snap.fact("ev_segment_result", "2024Q3")
    shares = snap.latest("shares_outstanding")
    assert shares is not None and shares.period == "2024-11-30"
    after = real.as_of(date(2025, 3, 19))
    assert after.value("revenue", "2024Q4") == 109000.0
    assert after.periods("cash") == ["2022FY", "2023FY", "2024FY"]
    assert real.as_of(date(2018, 11, 19)).facts() == []
    assert real.as_of(date(2018, 11, 19)).latest("revenue") is None
    with pytest.raises(ValueError, match="unknown metric 'revnue' \\(did you mean 'revenue'\\?\\)"):
        snap.value("revnue", "2024Q3")
    with pytest.raises(ValueError, match="cash is annual, not a quarterly metric"):
        snap.quarter_value("cash", "2024FY")


def test_change_sessions_are_the_sorted_usable_dates(
    real: PointInTimeFacts, shared_facts: list[Fact]
) -> None:
    changes = real.change_sessions()
    assert changes == sorted({real.usable_from(f) for f in shared_facts})
    assert changes[0] == date(2018, 11, 20)
    assert date(2025, 3, 19) in changes and date(2025, 3, 18) not in changes


def test_reports_on_the_real_facts(real: PointInTimeFacts) -> None:
    every = real.reports(date(2026, 3, 26))
    assert len(every) == 29  # 2018Q3 .. 2025Q3
    assert [r.period for r in every[:3]] == ["2018Q3", "2018Q4", "2019Q1"]
    assert every[-1].period == "2025Q3"
    q4 = next(r for r in every if r.period == "2024Q4")
    assert (q4.period_end, q4.announced, q4.usable_from) == (
        date(2024, 12, 31),
        date(2025, 3, 18),
        date(2025, 3, 19),
    )
    assert len(real.reports(date(2025, 3, 18))) == 25
    assert real.reports(date(2025, 3, 19))[-1].period == "2024Q4"
    friday = next(r for r in every if r.period == "2022Q4")
    assert (friday.announced, friday.usable_from) == (date(2023, 3, 24), date(2023, 3, 27))
    assert real.reports(date(2018, 11, 19)) == []
    assert real.reports(date(2018, 11, 20))[0].as_dict() == {
        "period": "2018Q3",
        "period_end": "2018-09-30",
        "announced": "2018-11-19",
        "usable_from": "2018-11-20",
    }


# --- the shipped facts file --------------------------------------------------------------------


def _content(f: Fact) -> tuple[object, ...]:
    return (
        f.metric,
        f.period,
        f.period_end,
        f.announced,
        f.value,
        f.unit,
        f.source,
        f.confidence,
    )


def test_the_shipped_facts_file_matches_the_shared_facts(shared_facts: list[Fact]) -> None:
    shipped = read_facts(SHIPPED_FACTS)
    assert [_content(f) for f in shipped] == [_content(f) for f in shared_facts]
    assert all(f.announced_time is None for f in shipped)  # Xiaomi announces after the close
    assert all(f.source for f in shipped)
    with SHIPPED_FACTS.open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header == HEADER.split(",")
    assert SHIPPED_FACTS.read_bytes() != SHARED_FACTS.read_bytes()


def test_a_third_party_figure_does_not_date_a_report(tmp_path: Path) -> None:
    """Canalys publishes the smartphone rank before Xiaomi's results: the report is the results."""
    path = tmp_path / "facts.csv"
    path.write_text(
        "metric,period,period_end,announced,value,unit,source,confidence\n"
        "smartphone_rank,2024Q4,2024-12-31,2025-01-15,3,rank,Canalys,H\n"
        "revenue,2024Q4,2024-12-31,2025-03-18,109005,RMB_m,Xiaomi,H\n",
        encoding="utf-8",
    )
    calendar = SessionCalendar("XHKG", [date(2023, 9, 1), date(2023, 9, 8)])
    pit = PointInTimeFacts(read_facts(path), calendar, time(17, 15))
    assert pit.reports(date(2025, 2, 3)) == []
    (report,) = pit.reports(date(2025, 3, 19))
    assert (report.period, report.announced, report.usable_from) == (
        "2024Q4",
        date(2025, 3, 18),
        date(2025, 3, 19),
    )
    assert pit.as_of(date(2025, 2, 3)).value("smartphone_rank", "2024Q4") == 3
