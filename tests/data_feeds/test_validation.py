"""Validation findings on small built frames and on the real shared file."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from price_frames import make_bars, steady_bars

from data_feeds.calendar import SessionCalendar
from data_feeds.prices import read_price_csv
from data_feeds.validation import (
    Finding,
    ValidationFailed,
    raise_on_errors,
    summary_line,
    validate_bars,
)

GOOD = (10.0, 10.5, 9.5, 10.2, 1e6)


def codes(findings: list[Finding]) -> list[tuple[date | None, str, str]]:
    return [(f.date, f.severity, f.code) for f in findings]


def test_clean_bars_have_no_findings(hkex: SessionCalendar) -> None:
    bars = steady_bars("2024-03-01", "2024-03-28", hkex)
    assert validate_bars(bars, hkex, "t") == []


def test_duplicate_date(hkex: SessionCalendar) -> None:
    frame = pd.DataFrame(
        [GOOD, GOOD, GOOD],
        columns=["open", "high", "low", "close", "volume"],
        index=pd.DatetimeIndex(["2024-03-04", "2024-03-05", "2024-03-05"], name="date"),
    )
    from data_feeds.prices import normalize_bars

    findings = validate_bars(normalize_bars(frame, "t"), hkex, "t")
    assert codes(findings) == [(date(2024, 3, 5), "error", "duplicate_date")]
    assert findings[0].line() == "2024-03-05 error duplicate_date: 2 bars for the same session date"


def test_weekend_holiday_and_adhoc_closure_bars(hkex: SessionCalendar) -> None:
    bars = make_bars(
        {
            "2023-08-31": GOOD,
            "2023-09-01": GOOD,  # typhoon Saola: HKEX closed, a bar with trading is wrong
            "2023-09-02": GOOD,  # Saturday
            "2023-09-04": GOOD,
            "2023-09-05": GOOD,
            "2023-09-06": GOOD,
            "2023-09-07": GOOD,
            "2023-09-08": (10.2, 10.2, 10.2, 10.2, 0),  # placeholder on the rainstorm closure
            "2023-09-11": GOOD,
        }
    )
    findings = validate_bars(bars, hkex, "t")
    assert codes(findings) == [
        (date(2023, 9, 1), "error", "not_a_session"),
        (date(2023, 9, 2), "error", "not_a_session"),
        (date(2023, 9, 8), "warning", "closure_placeholder"),
    ]
    assert "ad-hoc closure (HKEX closed all day); expected no bar" in findings[0].message
    assert findings[1].message == "bar on a Saturday, HKEX does not trade at weekends"
    holiday = make_bars({"2023-12-22": GOOD, "2023-12-25": GOOD, "2023-12-27": GOOD})
    assert [f.message for f in validate_bars(holiday, hkex, "t")] == [
        "bar on a XHKG holiday (not a trading session)"
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ((10.0, 9.8, 9.5, 10.2, 1e6), "high 9.8 below max(open, close) 10.2"),
        ((10.0, 10.5, 10.1, 10.2, 1e6), "low 10.1 above min(open, close) 10"),
        (
            (10.0, 9.0, 11.0, 10.0, 1e6),
            "high 9 below low 11; high 9 below max(open, close) 10; "
            "low 11 above min(open, close) 10",
        ),
    ],
)
def test_ohlc_inconsistent(hkex: SessionCalendar, row: tuple[float, ...], message: str) -> None:
    bars = make_bars({"2024-03-04": GOOD, "2024-03-05": row, "2024-03-06": GOOD})  # type: ignore[dict-item]
    findings = validate_bars(bars, hkex, "t")
    assert [(f.date, f.code, f.message) for f in findings] == [
        (date(2024, 3, 5), "ohlc_inconsistent", message)
    ]


def test_non_positive_or_missing_prices_and_bad_volume(hkex: SessionCalendar) -> None:
    bars = make_bars(
        {
            "2024-03-04": (0.0, 10.5, 9.5, 10.2, 1e6),
            "2024-03-05": (10.0, 10.5, 9.5, float("nan"), 1e6),
            "2024-03-06": (10.0, 10.5, 9.5, 10.2, -5.0),
            "2024-03-07": (10.0, 10.5, 9.5, 10.2, float("nan")),
            "2024-03-08": (10.0, float("inf"), 9.5, 10.2, 1e6),
            "2024-03-11": (10.0, 10.5, 9.5, 10.2, float("inf")),
        }
    )
    findings = validate_bars(bars, hkex, "t")
    assert [(f.date, f.code, f.message) for f in findings] == [
        (date(2024, 3, 4), "bad_price", "open 0: expected a positive, finite price"),
        (date(2024, 3, 5), "bad_price", "close NaN: expected a positive, finite price"),
        (date(2024, 3, 6), "bad_volume", "volume -5: expected a number of shares ≥ 0"),
        (date(2024, 3, 7), "bad_volume", "volume NaN: expected a number of shares ≥ 0"),
        (date(2024, 3, 8), "bad_price", "high inf: expected a positive, finite price"),
        (date(2024, 3, 11), "bad_volume", "volume inf: expected a number of shares ≥ 0"),
    ]


def test_placeholder_bars_name_half_days(hkex: SessionCalendar) -> None:
    bars = make_bars(
        {
            "2024-02-08": GOOD,
            "2024-02-09": (12.46, 12.46, 12.46, 12.46, 0),  # Lunar New Year's Eve, half day
            "2024-02-14": GOOD,
            "2024-02-15": (10.0, 10.0, 10.0, 10.0, 0),  # a full session
            "2024-02-16": (10.0, 10.5, 9.5, 10.2, 0),  # zero volume but prices move
        }
    )
    findings = validate_bars(bars, hkex, "t")
    assert codes(findings) == [
        (date(2024, 2, 9), "warning", "placeholder_bar"),
        (date(2024, 2, 15), "warning", "placeholder_bar"),
        (date(2024, 2, 16), "warning", "zero_volume"),
    ]
    assert "placeholder bar on a half-day session" in findings[0].message
    assert "placeholder bar on a full session" in findings[1].message
    assert bars["no_trading"].tolist() == [False, True, False, True, False]


def test_missing_sessions_and_gap(hkex: SessionCalendar) -> None:
    full = steady_bars("2024-03-01", "2024-04-30", hkex)
    one_missing = full.drop(pd.Timestamp("2024-03-05"))
    assert codes(validate_bars(one_missing, hkex, "t")) == [
        (date(2024, 3, 5), "warning", "missing_session")
    ]
    # 2024-03-27 .. 2024-04-05 spans Easter and Ching Ming: 5 sessions missing in a row
    gap = [d for d in full.index if pd.Timestamp("2024-03-26") < d < pd.Timestamp("2024-04-08")]
    assert len(gap) == 5
    findings = validate_bars(full.drop(gap), hkex, "t")
    assert [f.code for f in findings] == ["gap"] + ["missing_session"] * 5
    assert findings[0].message == "5 consecutive sessions missing: 2024-03-27 .. 2024-04-05"
    four = validate_bars(full.drop(gap[:4]), hkex, "t")
    assert [f.code for f in four] == ["missing_session"] * 4


def test_adhoc_closure_without_bar_is_info(hkex: SessionCalendar) -> None:
    bars = steady_bars("2023-08-28", "2023-09-15", hkex)
    findings = validate_bars(bars, hkex, "t")
    assert codes(findings) == [
        (date(2023, 9, 1), "info", "adhoc_closure"),
        (date(2023, 9, 8), "info", "adhoc_closure"),
    ]


def test_empty_and_out_of_range(hkex: SessionCalendar) -> None:
    empty = steady_bars("2024-03-01", "2024-03-05", hkex).iloc[0:0]
    assert codes(validate_bars(empty, hkex, "t")) == [(None, "error", "no_bars")]
    old = make_bars({"1999-12-30": GOOD, "2000-01-03": GOOD, "2000-01-04": GOOD})
    findings = validate_bars(old, hkex, "t")
    assert codes(findings) == [(None, "error", "outside_calendar")]
    assert "beyond the XHKG calendar's range 2000-01-03 .. " in findings[0].message


def test_shared_file_expected_findings(shared_prices_csv: Path, hkex: SessionCalendar) -> None:
    findings = validate_bars(read_price_csv(shared_prices_csv), hkex, str(shared_prices_csv))
    assert summary_line(findings) == "0 errors, 12 warnings, 2 info"
    placeholders = [f.date for f in findings if f.code == "placeholder_bar"]
    assert placeholders == [
        date(2020, 12, 24),
        date(2020, 12, 31),
        date(2021, 2, 11),
        date(2022, 1, 31),
        date(2024, 1, 15),
        date(2024, 2, 9),
        date(2024, 12, 24),
        date(2024, 12, 31),
        date(2025, 1, 28),
        date(2025, 12, 24),
        date(2025, 12, 31),
        date(2026, 2, 16),
    ]
    full_session = [f for f in findings if "on a full session" in f.message]
    assert [f.date for f in full_session] == [date(2024, 1, 15)]
    assert [(f.date, f.code) for f in findings if f.severity == "info"] == [
        (date(2023, 9, 1), "adhoc_closure"),
        (date(2023, 9, 8), "adhoc_closure"),
    ]


def test_raise_on_errors_summarises(hkex: SessionCalendar) -> None:
    bars = make_bars({"2024-03-04": GOOD, "2024-03-09": GOOD, "2024-03-10": GOOD})
    findings = validate_bars(bars, hkex, "t")
    with pytest.raises(ValidationFailed) as err:
        raise_on_errors(findings, "prices.csv", "nothing imported")
    assert err.value.line().startswith(
        "prices.csv: 2 errors; nothing imported; first: 2024-03-09 error not_a_session: "
    )
    assert len(err.value.errors) == 2
    raise_on_errors(validate_bars(bars.iloc[:1], hkex, "t"), "x", "y")  # no errors: no raise


def test_a_bar_after_the_latest_closed_session_is_an_error(hkex: SessionCalendar) -> None:
    frame = pd.DataFrame(
        {"open": 10.0, "high": 10.5, "low": 9.5, "close": 10.0, "volume": 1e6, "no_trading": False},
        index=pd.DatetimeIndex(["2024-03-14", "2024-03-15"], name="date"),
    )
    # at 15:00 HKT on 2024-03-15 that session is still trading: its bar cannot exist yet
    findings = validate_bars(frame, hkex, "f.csv", now=datetime(2024, 3, 15, 7, 0))
    future = [f for f in findings if f.code == "future_bar"]
    assert [(f.date, f.severity) for f in future] == [(date(2024, 3, 15), "error")]
    assert future[0].message == "bar dated after the latest closed XHKG session 2024-03-14"
    after_close = validate_bars(frame, hkex, "f.csv", now=datetime(2024, 3, 15, 9, 0))
    assert not [f for f in after_close if f.code == "future_bar"]
