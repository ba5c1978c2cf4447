"""`facts check`: every finding of a facts file with its row, from the engine's own rules."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from data_feeds.calendar import SessionCalendar
from data_feeds.errors import DataError
from data_feeds.facts_check import check_facts, check_facts_text, require_usable_facts
from data_feeds.fundamentals import read_facts

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "configs" / "fundamentals" / "1810.HK.csv"
HEADER = "metric,period,period_end,announced,announced_time,value,unit,source,confidence"
TODAY = date(2026, 12, 1)


def check(*rows: str):  # type: ignore[no-untyped-def]
    return check_facts_text("\n".join([HEADER, *rows]) + "\n", "facts.csv", TODAY)


def lines(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.line() for f in result.findings]


def test_the_shipped_file_is_usable_with_its_one_real_gap() -> None:
    result = check_facts(SHIPPED, TODAY)
    assert result.ok
    assert [(f.severity, f.row) for f in result.findings] == [("warning", 14)]
    assert (
        "no 2018Q4 between 2018Q3 and 2019Q1 for smartphone_shipments" in result.findings[0].message
    )
    assert result.summary() == "203 facts: 0 errors, 1 warning, 0 revisions"


def test_every_problem_of_every_row_is_listed_with_its_row_and_column() -> None:
    result = check(
        "revnue,2024Q3,2024-09-30,2024-11-18,,92500,RMB_m,r,H",  # row 2
        "gross_margin,2024Q3,2024-09-30,2024-11-18,,20.4,RMB_m,r,H",  # row 3
        "revenue,2024Q9,2024-09-30,2024-11-18,,1,RMB_m,r,H",  # row 4
        "revenue,2024Q2,2024-06-30,2024-06-01,,1,RMB_m,r,H",  # row 5
        "revenue,2024Q1,2024-03-31,2024-05-23,,lots,RMB_bn,r,high",  # row 6: three problems
        "revenue,2023Q4,2023-12-31,2024-03-19,,inf,RMB_m,r,H",  # row 7
        "revenue,2023Q3,2023-09-30,2023-11-20,,70900,RMB_m,r,H",  # row 8
        "revenue,2023Q3,2023-09-30,2023-11-20,,70950,RMB_m,r,H",  # row 9: duplicate
        "revenue,2023Q2,2023-06-30,2023-08-29,,67400",  # row 10: short
    )
    assert not result.ok
    errors = [(f.field, f.message) for f in result.of("error")]
    assert errors == [
        ("row 2, column metric", "unknown metric 'revnue' (did you mean 'revenue'?)"),
        ("row 3, column unit", "expected pct for metric gross_margin, got 'RMB_m'"),
        (
            "row 4, column period",
            "expected a quarter like 2024Q3 for quarterly metric revenue, got '2024Q9'",
        ),
        (
            "row 5, column announced",
            "2024-06-01 is before the end of period 2024Q2 (2024-06-30); a figure cannot be "
            "announced before its period ends",
        ),
        ("row 6, column value", "expected a number like 92500 or 20.4, got 'lots'"),
        ("row 6, column unit", "expected RMB_m for metric revenue, got 'RMB_bn'"),
        ("row 6, column confidence", "expected H, M, L or blank, got 'high'"),
        (
            "row 7, column value",
            "expected a finite number, got 'inf' (leave the row out if the figure is unknown)",
        ),
        (
            "row 9, column announced",
            "duplicate of row 8 (same metric, period and announced); a revision needs a later "
            "announced date",
        ),
        ("row 10", "expected 9 fields like the header, saw 6"),
    ]
    assert lines(result)[0] == (
        "error: row 2, column metric: unknown metric 'revnue' (did you mean 'revenue'?)"
    )


def test_read_facts_still_stops_at_the_first_problem(tmp_path: Path) -> None:
    path = tmp_path / "facts.csv"
    path.write_text(
        f"{HEADER}\nrevenue,2024Q3,2024-09-30,2024-11-18,,x,RMB_bn,r,H\n", encoding="utf-8"
    )
    with pytest.raises(DataError) as err:
        read_facts(path)
    assert err.value.field == "row 2, column value"


def test_a_missing_quarter_between_two_known_ones_is_one_warning_per_gap() -> None:
    result = check(
        "revenue,2024Q1,2024-03-31,2024-05-23,,75500,RMB_m,r,H",
        "gross_margin,2024Q1,2024-03-31,2024-05-23,,22.3,pct,r,H",
        "revenue,2024Q4,2024-12-31,2025-03-18,,109000,RMB_m,r,H",
        "gross_margin,2024Q4,2024-12-31,2025-03-18,,20.6,pct,r,H",
    )
    assert result.ok
    (gap,) = result.of("warning")
    assert gap.field == "row 4, column period"
    assert gap.message.startswith(
        "no 2024Q2 .. 2024Q3 between 2024Q1 and 2024Q4 for revenue, gross_margin (rows 4, 5"
    )


def test_full_year_without_its_q4_report_and_a_year_announced_before_it() -> None:
    result = check(
        "revenue,2023Q3,2023-09-30,2023-11-20,,70900,RMB_m,r,H",
        "operating_profit,2023FY,2023-12-31,2024-03-19,,20010,RMB_m,r,H",  # row 3: no 2023Q4
        "revenue,2024Q4,2024-12-31,2025-03-18,,109000,RMB_m,r,H",
        "operating_profit,2024FY,2024-12-31,2025-03-10,,24500,RMB_m,r,H",  # row 5: too early
    )
    warnings = {f.row: f.message for f in result.of("warning")}
    assert warnings[3].startswith("2023FY figures but no 2023Q4 report in the file")
    assert "xmtrade facts add revenue 2023Q4 VALUE --announced 2024-03-19" in warnings[3]
    assert warnings[5].startswith(
        "operating_profit 2024FY announced 2025-03-10, before the 2024Q4 report (announced "
        "2025-03-18, row 4)"
    )


def test_revisions_are_listed_as_such_and_a_repeat_is_a_warning() -> None:
    result = check(
        "revenue,2025Q3,2025-09-30,2025-11-18,,113121,RMB_m,r,H",
        "gross_margin,2025Q3,2025-09-30,2025-11-18,,22.9,pct,r,H",
        "revenue,2025Q3,2025-09-30,2025-12-02,,113200,RMB_m,restated,H",
        "gross_margin,2025Q3,2025-09-30,2025-12-05,,22.9,pct,again,H",
    )
    assert result.ok
    (note,) = result.of("note")
    assert note.row == 4
    assert note.message == (
        "revision of revenue 2025Q3: 113121 RMB_m (row 2, announced 2025-11-18) -> 113200 "
        "RMB_m, used from the first decision after 2025-12-02"
    )
    (repeat,) = result.of("warning")
    assert repeat.row == 5 and "repeats the value 22.9 of row 3" in repeat.message
    assert result.summary() == "4 facts: 0 errors, 1 warning, 1 revision"


def test_a_report_figure_announced_after_its_report_and_a_future_date() -> None:
    result = check(
        "revenue,2025Q3,2025-09-30,2025-11-18,,113121,RMB_m,r,H",
        "ev_gross_margin,2025Q3,2025-09-30,2025-11-19,,25.5,pct,r,H",
        "smartphone_rank,2025Q3,2025-09-30,2025-10-20,,3,rank,Canalys,H",  # third party: fine
        "revenue,2026Q3,2026-09-30,2027-11-18,,1,RMB_m,r,H",
    )
    warnings = {f.row: f.message for f in result.of("warning")}
    assert sorted(warnings) == [3, 5]
    assert warnings[3].startswith(
        "ev_gross_margin 2025Q3 first announced 2025-11-19, after the 2025Q3 report (2025-11-18"
    )
    assert warnings[5].startswith("announced 2027-11-18 is after today (2026-12-01)")


def test_require_usable_facts_names_the_first_error_the_count_and_the_command(
    tmp_path: Path,
) -> None:
    path = tmp_path / "facts.csv"
    path.write_text(
        SHIPPED.read_text(encoding="utf-8")
        .replace("revenue,2019Q1", "revnue,2019Q1")
        .replace(",2080.7,", ",n/a,"),
        encoding="utf-8",
    )
    with pytest.raises(DataError) as err:
        require_usable_facts(path, TODAY)
    assert str(err.value) == (
        f"{path}: row 11, column metric: unknown metric 'revnue' (did you mean 'revenue'?) "
        f"(1 more); every problem: xmtrade facts check {path}"
    )


def test_a_damaged_header_stops_the_scan_with_one_error() -> None:
    result = check_facts_text("metric,period,value\nrevenue,2024Q3,1\n", "f.csv", TODAY)
    assert [f.field for f in result.findings] == ["row 1, column period_end"]


def test_the_newest_report_missing_what_the_quarter_before_has() -> None:
    result = check(
        "revenue,2025Q2,2025-06-30,2025-08-19,,116000,RMB_m,r,H",
        "ev_gross_margin,2025Q2,2025-06-30,2025-08-19,,26.4,pct,r,H",
        "revenue,2025Q3,2025-09-30,2025-11-18,,113121,RMB_m,r,H",
    )
    (warning,) = result.of("warning")
    assert warning.row == 4
    assert warning.message == (
        "the newest report, 2025Q3, has no ev_gross_margin (2025Q2 has): read as unknown until "
        "added (xmtrade facts add ev_gross_margin 2025Q3 VALUE --announced 2025-11-18)"
    )


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("revenue,2024Q3,2024-09-30,2024-11-18,,-92500,RMB_m,r,H", "revenue must be positive"),
        ("revenue,2024Q3,2024-09-30,2024-11-18,,0,RMB_m,r,H", "revenue must be positive"),
        ("gross_margin,2024Q3,2024-09-30,2024-11-18,,120,pct,r,H", "at most 100 (pct)"),
        ("ev_gross_margin,2024Q3,2024-09-30,2024-11-18,,-101,pct,r,H", "at least -100 (pct)"),
        ("shares_outstanding,2024-11-30,2024-11-30,2024-12-03,,0,shares,r,M", "must be positive"),
        ("smartphone_rank,2024Q3,2024-09-30,2024-10-15,,2.5,rank,r,M", "is a whole number"),
        ("ev_deliveries,2024Q3,2024-09-30,2024-11-18,,-1,units,r,H", "must be zero or more"),
        ("cash,2024FY,2024-12-31,2025-03-18,,1e12,RMB_m,r,H", "at most 1e+09 (RMB_m)"),
    ],
)
def test_a_figure_that_cannot_be_true_is_an_error_with_file_row_and_metric(
    tmp_path: Path, row: str, expected: str
) -> None:
    result = check("revenue,2024Q2,2024-06-30,2024-08-21,,88900,RMB_m,r,H", row)
    errors = result.of("error")
    assert [(f.field, f.row) for f in errors] == [("row 3, column value", 3)]
    assert expected in errors[0].message
    assert errors[0].message.startswith(row.split(",")[0])  # the metric
    # the engine's reader (backtest, paper) refuses the same file: no division by zero shares
    path = tmp_path / "facts.csv"
    path.write_text(
        "\n".join([HEADER, "revenue,2024Q2,2024-06-30,2024-08-21,,88900,RMB_m,r,H", row])
    )
    with pytest.raises(DataError) as err:
        read_facts(path)
    assert err.value.line().startswith(f"{path}: row 3, column value: {row.split(',')[0]}")


def test_an_announcement_beyond_the_calendar_is_the_future_warning_not_a_calendar_error(
    hkex: SessionCalendar,
) -> None:
    from datetime import time

    from data_feeds.fundamentals import PointInTimeFacts

    result = check(
        "revenue,2024Q2,2024-06-30,2024-08-21,,88900,RMB_m,r,H",
        "revenue,2098Q4,2098-12-31,2099-03-20,,50000,RMB_m,r,H",
    )
    assert result.ok
    assert any("announced 2099-03-20 is after today" in f.message for f in result.of("warning"))
    pit = PointInTimeFacts(result.facts, hkex, time(17, 15))
    late = result.facts[1]
    assert pit.usable_from(late) > hkex.last_session  # never used by any run
    assert pit.as_of(hkex.last_session).fact("revenue", "2098Q4") is None
    assert pit.as_of(hkex.last_session).fact("revenue", "2024Q2") is not None
