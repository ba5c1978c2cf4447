"""Which quarterly report is due next, about when, and the warning when the newest is stale.

A report is stale when the newest usable one is older than `fundamentals.stale_after_days` (the
rule the decisions record). The next quarter is expected about a year after the same quarter's
report of the year before (Xiaomi keeps its calendar: Q4 in March, Q1 in May, Q2 in August, Q3
in November); without that, as long after its quarter's end as the newest report came after
its own.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path

from data_feeds.errors import DataError
from data_feeds.fundamentals import (
    THIRD_PARTY_METRICS,
    Fact,
    PointInTimeFacts,
    SessionLookup,
    quarter_end,
    read_facts,
    same_quarter_last_year,
    shift_quarter,
)

FETCH_COMMAND = "xmtrade facts fetch"


def add_command(period: str) -> str:
    """The command that adds one figure of `period` by hand."""
    return f"xmtrade facts add METRIC {period} VALUE --announced YYYY-MM-DD"


def report_days(facts: Iterable[Fact]) -> dict[str, date]:
    """Each quarter's results announcement: the first day one of Xiaomi's own figures of it
    became public (a third-party rank never dates a report)."""
    days: dict[str, date] = {}
    for fact in facts:
        if fact.kind != "quarterly" or fact.metric in THIRD_PARTY_METRICS:
            continue
        held = days.get(fact.period)
        if held is None or fact.announced < held:
            days[fact.period] = fact.announced
    return days


def _a_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


@dataclass(frozen=True)
class DueReport:
    """The quarter after the newest report, and about when its results were expected."""

    period: str
    expected: date
    basis: str  # how `expected` was found

    def commands(self) -> str:
        """What adds it."""
        return f"{FETCH_COMMAND}, or {add_command(self.period)}"


def due_after(newest_period: str, days: dict[str, date]) -> DueReport:
    """The report due after `newest_period`, from the announcement days of the file."""
    period = shift_quarter(newest_period, 1)
    year_before = same_quarter_last_year(period)
    if year_before in days:
        return DueReport(
            period,
            _a_year_after(days[year_before]),
            f"a year after {year_before}'s, announced {days[year_before]}",
        )
    newest_day = days.get(newest_period)
    if newest_day is None:
        lag = timedelta(0)
        basis = "at its quarter's end (no earlier report to go by)"
    else:
        lag = newest_day - quarter_end(newest_period)
        basis = f"{lag.days} days after its quarter's end, like {newest_period}'s"
    return DueReport(period, quarter_end(period) + lag, basis)


@dataclass(frozen=True)
class Staleness:
    """The newest report a decision on `session` rests on, its age, and what is due."""

    session: date
    newest_period: str | None
    newest_announced: date | None
    age_days: int | None
    limit_days: int
    due: DueReport | None

    @property
    def stale(self) -> bool:
        """The decisions' own rule: no report, or the newest older than the limit."""
        return self.age_days is None or self.age_days > self.limit_days

    def warning(self) -> str:
        """One line: what is stale, the quarter due and when, and the command that adds it."""
        if self.newest_period is None or self.due is None:
            return (
                f"fundamentals unknown on {self.session}: no quarterly report is usable yet; "
                f"add reports with {FETCH_COMMAND} or {add_command('2025Q3')}"
            )
        late = (self.session - self.due.expected).days
        when = f"was due about {self.due.expected}" + (f" ({late} days ago)" if late > 0 else "")
        return (
            f"fundamentals STALE on {self.session}: the newest report, {self.newest_period} "
            f"(announced {self.newest_announced}), is {self.age_days} days old (limit "
            f"{self.limit_days}); {self.due.period} {when}, {self.due.basis}; add it: "
            f"{self.due.commands()}"
        )


def staleness(
    newest_period: str | None,
    newest_announced: date | None,
    session: date,
    limit_days: int,
    days: dict[str, date],
) -> Staleness:
    """The staleness of a decision on `session` whose newest report is `newest_period`."""
    if newest_period is None or newest_announced is None:
        return Staleness(session, None, None, None, limit_days, None)
    return Staleness(
        session,
        newest_period,
        newest_announced,
        (session - newest_announced).days,
        limit_days,
        due_after(newest_period, days),
    )


@functools.lru_cache(maxsize=8)
def _days_of(path: str, stamp: tuple[int, int]) -> dict[str, date]:
    return report_days(read_facts(Path(path)))


def report_days_of_file(path: Path) -> dict[str, date]:
    """`report_days` of a facts file (cached while the file is unchanged); {} if unreadable."""
    try:
        info = Path(path).stat()
        return dict(_days_of(str(path), (info.st_mtime_ns, info.st_size)))
    except (OSError, DataError):
        return {}


def staleness_at(
    path: Path,
    calendar: SessionLookup,
    decision_time: time,
    session: date,
    limit_days: int,
) -> Staleness:
    """The staleness of the decision after the close of `session` with the facts at `path`:
    the newest report is the one the strategy's timeline holds then (same visibility rule)."""
    facts = read_facts(path)
    reports = PointInTimeFacts(facts, calendar, decision_time).reports(session)
    newest = reports[-1] if reports else None
    return staleness(
        newest.period if newest else None,
        newest.announced if newest else None,
        session,
        limit_days,
        report_days(facts),
    )


__all__ = [
    "FETCH_COMMAND",
    "DueReport",
    "Staleness",
    "add_command",
    "due_after",
    "report_days",
    "report_days_of_file",
    "staleness",
    "staleness_at",
]
