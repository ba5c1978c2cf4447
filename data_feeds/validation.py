"""Checks of a bars frame against the HKEX calendar and against itself.

Severity:
- error: the data cannot be used (duplicate dates, bars on days the exchange was shut,
  inconsistent or missing prices, negative volume); imports and fetches stop on errors;
- warning: usable but worth knowing (Yahoo's zero-volume placeholder bars, missing sessions,
  gaps of several missing sessions);
- info: expected and correct (a known ad-hoc closure without a bar).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import numpy as np
import pandas as pd

from data_feeds.bars import PRICE_COLUMNS, placeholder_mask
from data_feeds.calendar import SessionCalendar
from data_feeds.errors import DataError

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
# A run of at least this many consecutive missing sessions is also reported as one gap.
GAP_MIN_SESSIONS = 5


@dataclass(frozen=True)
class Finding:
    """One thing validation noticed about one bar (or the whole frame when `date` is None)."""

    date: date | None
    severity: Severity
    code: str
    message: str

    def line(self) -> str:
        """`2021-03-04 error duplicate_date: ...` (the date is `-` for whole-frame findings)."""
        day = self.date.isoformat() if self.date is not None else "-"
        return f"{day} {self.severity} {self.code}: {self.message}"


class ValidationFailed(DataError):
    """Validation found errors; `findings` holds every finding (errors first to print)."""

    def __init__(self, where: str, findings: Sequence[Finding], consequence: str) -> None:
        self.findings = tuple(findings)
        errors = [f for f in self.findings if f.severity == "error"]
        first = f"; first: {errors[0].line()}" if errors else ""
        plural = "error" if len(errors) == 1 else "errors"
        super().__init__(where, None, f"{len(errors)} {plural}; {consequence}{first}")

    @property
    def errors(self) -> list[Finding]:
        """The error findings only."""
        return [f for f in self.findings if f.severity == "error"]


def count_by_severity(findings: Iterable[Finding]) -> dict[Severity, int]:
    """How many findings of each severity (every severity present, possibly 0)."""
    counts: dict[Severity, int] = dict.fromkeys(SEVERITIES, 0)
    for finding in findings:
        counts[finding.severity] += 1
    return counts


def summary_line(findings: Iterable[Finding]) -> str:
    """`0 errors, 12 warnings, 2 info`."""
    counts = count_by_severity(findings)
    error_word = "error" if counts["error"] == 1 else "errors"
    warning_word = "warning" if counts["warning"] == 1 else "warnings"
    return (
        f"{counts['error']} {error_word}, {counts['warning']} {warning_word}, {counts['info']} info"
    )


def raise_on_errors(findings: Sequence[Finding], where: str, consequence: str) -> None:
    """Raise `ValidationFailed` when any finding is an error."""
    if any(f.severity == "error" for f in findings):
        raise ValidationFailed(where, findings, consequence)


def _day(stamp: object) -> date:
    value: date = pd.Timestamp(stamp).date()  # type: ignore[arg-type]
    return value


def _num(value: float) -> str:
    return "NaN" if np.isnan(value) else f"{value:g}"


def validate_bars(
    bars: pd.DataFrame, calendar: SessionCalendar, where: str, now: datetime | None = None
) -> list[Finding]:
    """Every finding about `bars` (canonical frame), sorted by date then severity.

    A bar after the latest session closed at `now` (default: the current time) is an error:
    a price from the future, or an unfinished session.

    Missing sessions are looked for between the first and the last bar only. A half-day
    session is named in the placeholder warning of its bar (Yahoo's placeholder is typical
    of half days); a half day with a real bar is not a finding.
    """
    if bars.empty:
        return [Finding(None, "error", "no_bars", f"no price bars in {where}")]
    findings: list[Finding] = []
    index = pd.DatetimeIndex(bars.index)
    first, last = index.min(), index.max()
    if first < pd.Timestamp(calendar.first_session) or last > pd.Timestamp(calendar.last_session):
        findings.append(
            Finding(
                None,
                "error",
                "outside_calendar",
                f"bars run {first.date()} .. {last.date()}, beyond the {calendar.code} "
                f"calendar's range {calendar.first_session} .. {calendar.last_session}",
            )
        )
        inside = (index >= pd.Timestamp(calendar.first_session)) & (
            index <= pd.Timestamp(calendar.last_session)
        )
        if not inside.any():
            return findings
        bars = bars.loc[inside]
        index = pd.DatetimeIndex(bars.index)
        first, last = index.min(), index.max()

    closed = pd.Timestamp(calendar.latest_closed_session(now))
    findings += [
        Finding(
            _day(stamp),
            "error",
            "future_bar",
            f"bar dated after the latest closed {calendar.code} session {closed.date()}",
        )
        for stamp in index[index > closed]
    ]
    findings += _duplicates(index)
    findings += _calendar_days(bars, calendar)
    findings += _prices(bars)
    findings += _placeholders(bars, calendar)
    findings += _missing_sessions(index, calendar, first, last)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: (f.date or date.min, order[f.severity], f.code))
    return findings


def _duplicates(index: pd.DatetimeIndex) -> list[Finding]:
    dup = index[index.duplicated(keep="first")].unique()
    counts = index.value_counts()
    return [
        Finding(
            _day(d), "error", "duplicate_date", f"{int(counts[d])} bars for the same session date"
        )
        for d in dup
    ]


def _calendar_days(bars: pd.DataFrame, calendar: SessionCalendar) -> list[Finding]:
    index = pd.DatetimeIndex(bars.index)
    sessions = calendar.sessions(index.min(), index.max())
    placeholder = placeholder_mask(bars).to_numpy()
    out: list[Finding] = []
    seen: set[pd.Timestamp] = set()
    for pos in np.flatnonzero(~index.isin(sessions)).tolist():
        stamp = index[pos]
        if stamp in seen:
            continue
        seen.add(stamp)
        day = _day(stamp)
        if calendar.is_adhoc_closure(day):
            if placeholder[pos]:
                out.append(
                    Finding(
                        day,
                        "warning",
                        "closure_placeholder",
                        "placeholder bar on an ad-hoc closure (HKEX closed all day); "
                        "flagged no_trading",
                    )
                )
            else:
                out.append(
                    Finding(
                        day,
                        "error",
                        "not_a_session",
                        "bar with trading on an ad-hoc closure (HKEX closed all day); "
                        "expected no bar",
                    )
                )
        elif stamp.day_of_week >= 5:
            out.append(
                Finding(
                    day,
                    "error",
                    "not_a_session",
                    f"bar on a {stamp.day_name()}, HKEX does not trade at weekends",
                )
            )
        else:
            out.append(
                Finding(
                    day,
                    "error",
                    "not_a_session",
                    f"bar on a {calendar.code} holiday (not a trading session)",
                )
            )
    return out


def _prices(bars: pd.DataFrame) -> list[Finding]:
    out: list[Finding] = []
    index = pd.DatetimeIndex(bars.index)
    o, h, lo, c, v = (bars[k].to_numpy(dtype="float64") for k in (*PRICE_COLUMNS, "volume"))
    prices = np.column_stack([o, h, lo, c])
    bad_price = ~np.isfinite(prices).all(axis=1) | (prices <= 0).any(axis=1)
    for pos in np.flatnonzero(bad_price).tolist():
        parts = [
            f"{name} {_num(prices[pos, i])}"
            for i, name in enumerate(PRICE_COLUMNS)
            if not np.isfinite(prices[pos, i]) or prices[pos, i] <= 0
        ]
        out.append(
            Finding(
                _day(index[pos]),
                "error",
                "bad_price",
                f"{', '.join(parts)}: expected a positive, finite price",
            )
        )
    ok = ~bad_price
    top = np.maximum(o, c)
    bottom = np.minimum(o, c)
    eps = 1e-9
    for pos in np.flatnonzero(
        ok & ((h < lo - eps) | (h < top - eps) | (lo > bottom + eps))
    ).tolist():
        problems = []
        if h[pos] < lo[pos] - eps:
            problems.append(f"high {_num(h[pos])} below low {_num(lo[pos])}")
        if h[pos] < top[pos] - eps:
            problems.append(f"high {_num(h[pos])} below max(open, close) {_num(top[pos])}")
        if lo[pos] > bottom[pos] + eps:
            problems.append(f"low {_num(lo[pos])} above min(open, close) {_num(bottom[pos])}")
        out.append(Finding(_day(index[pos]), "error", "ohlc_inconsistent", "; ".join(problems)))
    for pos in np.flatnonzero(~np.isfinite(v) | (v < 0)).tolist():
        out.append(
            Finding(
                _day(index[pos]),
                "error",
                "bad_volume",
                f"volume {_num(v[pos])}: expected a number of shares ≥ 0",
            )
        )
    placeholder = placeholder_mask(bars).to_numpy()
    for pos in np.flatnonzero(ok & (v == 0) & ~placeholder).tolist():
        out.append(
            Finding(
                _day(index[pos]),
                "warning",
                "zero_volume",
                "volume 0 although open/high/low/close differ; kept as a trading bar",
            )
        )
    return out


def _missing_sessions(
    index: pd.DatetimeIndex, calendar: SessionCalendar, first: pd.Timestamp, last: pd.Timestamp
) -> list[Finding]:
    """Missing-session, gap and ad-hoc closure findings."""
    out: list[Finding] = []
    sessions = calendar.sessions(first, last)
    missing = sessions.difference(index)
    present = set(index)
    for closure in calendar.adhoc_closures_between(first.date(), last.date()):
        if pd.Timestamp(closure) not in present:
            out.append(
                Finding(
                    closure,
                    "info",
                    "adhoc_closure",
                    "no bar: HKEX was closed all day (ad-hoc closure the calendar library "
                    "lists as a session)",
                )
            )
    for stamp in missing:
        out.append(Finding(_day(stamp), "warning", "missing_session", "no bar for this session"))
    # runs of consecutive missing sessions
    positions = sessions.get_indexer(missing)
    run_start = 0
    for i in range(1, len(positions) + 1):
        if i == len(positions) or positions[i] != positions[i - 1] + 1:
            length = i - run_start
            if length >= GAP_MIN_SESSIONS:
                begin, end = _day(missing[run_start]), _day(missing[i - 1])
                out.append(
                    Finding(
                        begin,
                        "warning",
                        "gap",
                        f"{length} consecutive sessions missing: {begin} .. {end}",
                    )
                )
            run_start = i
    return out


def _placeholders(bars: pd.DataFrame, calendar: SessionCalendar) -> list[Finding]:
    """Warnings for Yahoo's zero-volume placeholder bars on sessions, naming half days."""
    out: list[Finding] = []
    index = pd.DatetimeIndex(bars.index)
    sessions = calendar.sessions(index.min(), index.max())
    half_days = calendar.half_days(index.min(), index.max())
    flagged = placeholder_mask(bars).to_numpy() & index.isin(sessions)
    for pos in np.flatnonzero(flagged).tolist():
        stamp = index[pos]
        kind = "a half-day session" if stamp in half_days else "a full session"
        out.append(
            Finding(
                _day(stamp),
                "warning",
                "placeholder_bar",
                f"placeholder bar on {kind} (volume 0, open = high = low = close "
                f"{_num(float(bars['close'].iloc[pos]))}); flagged no_trading, never traded on",
            )
        )
    return out
