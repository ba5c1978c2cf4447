"""`facts check`: every problem of a facts file at once, each with its row.

The row rules are `data_feeds.fundamentals`' own (the reader the engine uses collects every
problem of every row); this module adds what only the whole file shows: revisions, quarters
missing between two known ones, full-year figures without their Q4 report, figures of a report
announced after the report itself, and dates in the future. Errors make the file unusable;
warnings and notes are for the reader.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from data_feeds.errors import DataError
from data_feeds.fundamentals import (
    METRICS,
    THIRD_PARTY_METRICS,
    Fact,
    FactsScan,
    fiscal_year_of,
    quarter_of,
    quarter_period,
    read_facts_text,
    scan_facts,
)

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Finding:
    """One thing `facts check` says about the file; `field` is "row N[, column C]" or None."""

    severity: Severity
    field: str | None
    message: str
    row: int | None = None

    def line(self) -> str:
        """`error: row 3, column metric: unknown metric ...`."""
        where = f"{self.field}: " if self.field else ""
        return f"{self.severity}: {where}{self.message}"


@dataclass(frozen=True)
class FactsCheck:
    """The findings on one facts file, errors first within each row order."""

    where: str
    facts: tuple[Fact, ...]
    findings: tuple[Finding, ...]

    def of(self, severity: Severity) -> list[Finding]:
        """The findings of one severity, in row order."""
        return [f for f in self.findings if f.severity == severity]

    @property
    def ok(self) -> bool:
        """True when the file has no errors (warnings and notes do not make it unusable)."""
        return not self.of("error")

    def summary(self) -> str:
        """`640 facts: 0 errors, 1 warning, 2 revisions`."""
        errors, warnings = len(self.of("error")), len(self.of("warning"))
        revisions = sum(1 for f in self.of("note") if f.message.startswith("revision"))
        return (
            f"{len(self.facts)} facts: {errors} error{'s' * (errors != 1)}, "
            f"{warnings} warning{'s' * (warnings != 1)}, "
            f"{revisions} revision{'s' * (revisions != 1)}"
        )

    def raise_on_errors(self) -> None:
        """The first error as a one-line DataError that names how to see them all."""
        errors = self.of("error")
        if not errors:
            return
        first = errors[0]
        more = f" ({len(errors) - 1} more)" if len(errors) > 1 else ""
        raise DataError(
            self.where,
            first.field,
            f"{first.message}{more}; every problem: xmtrade facts check {self.where}",
        )


def _row_of(field: str | None) -> int | None:
    if field and field.startswith("row "):
        number = field[4:].split(",", 1)[0]
        return int(number) if number.isdigit() else None
    return None


def check_facts_text(text: str, where: str, today: date | None = None) -> FactsCheck:
    """Every finding on a facts file's text (`today` dates the "in the future" warning)."""
    scan = scan_facts(text, where)
    findings = [Finding("error", p.field, p.message, _row_of(p.field)) for p in scan.problems]
    findings += whole_file_findings(scan, today or date.today())
    order = {"error": 0, "warning": 1, "note": 2}
    findings.sort(key=lambda f: (f.row if f.row is not None else -1, order[f.severity]))
    return FactsCheck(where, scan.facts, tuple(findings))


def check_facts(path: Path, today: date | None = None) -> FactsCheck:
    """Every finding on a facts file; an unreadable file raises a one-line DataError."""
    return check_facts_text(read_facts_text(path), str(path), today)


def require_usable_facts(path: Path, today: date | None = None) -> FactsCheck:
    """`check_facts`, raising the first error (with the count of the others) as a DataError."""
    result = check_facts(path, today)
    result.raise_on_errors()
    return result


# --- what only the whole file shows ------------------------------------------------------------


def whole_file_findings(scan: FactsScan, today: date) -> list[Finding]:
    """Revisions, quarter gaps, full years without Q4, late report figures, future dates."""
    facts = scan.facts
    return [
        *_revisions(facts),
        *_quarter_gaps(facts),
        *_years_without_q4(facts),
        *_late_report_figures(facts),
        *_newest_report_incomplete(facts),
        *_future(facts, today),
    ]


def _at(fact: Fact, column: str | None = None) -> str:
    return f"row {fact.row}" + (f", column {column}" if column else "")


def _revisions(facts: Sequence[Fact]) -> list[Finding]:
    found: list[Finding] = []
    groups: dict[tuple[str, str], list[Fact]] = {}
    for fact in facts:
        groups.setdefault((fact.metric, fact.period), []).append(fact)
    for (metric, period), group in groups.items():
        group.sort(key=lambda f: f.announced)
        for before, after in itertools.pairwise(group):
            unit = METRICS[metric].unit
            if after.value == before.value:
                found.append(
                    Finding(
                        "warning",
                        _at(after, "value"),
                        f"revision of {metric} {period} repeats the value {after.value:g} of "
                        f"row {before.row} (announced {before.announced}); a row that changes "
                        "nothing can go",
                        after.row,
                    )
                )
                continue
            found.append(
                Finding(
                    "note",
                    _at(after),
                    f"revision of {metric} {period}: {before.value:g} {unit} (row {before.row}, "
                    f"announced {before.announced}) -> {after.value:g} {unit}, used from the "
                    f"first decision after {after.announced}",
                    after.row,
                )
            )
    return found


def _quarter_index(period: str) -> int:
    year, quarter = quarter_of(period)
    return year * 4 + quarter - 1


def _quarter_name(index: int) -> str:
    return quarter_period(index // 4, index % 4 + 1)


def _quarter_gaps(facts: Sequence[Fact]) -> list[Finding]:
    """Quarters missing between two known ones, one finding per gap with every metric in it."""
    by_metric: dict[str, dict[int, Fact]] = {}
    for fact in facts:
        if fact.kind == "quarterly":
            by_metric.setdefault(fact.metric, {}).setdefault(_quarter_index(fact.period), fact)
    gaps: dict[tuple[int, int], list[Fact]] = {}
    for quarters in by_metric.values():
        known = sorted(quarters)
        for low, high in itertools.pairwise(known):
            if high - low > 1:
                gaps.setdefault((low, high), []).append(quarters[high])
    found: list[Finding] = []
    for (low, high), after in sorted(gaps.items()):
        missing = [_quarter_name(i) for i in range(low + 1, high)]
        span = missing[0] if len(missing) == 1 else f"{missing[0]} .. {missing[-1]}"
        after.sort(key=lambda f: f.row)
        metrics = ", ".join(f.metric for f in after)
        rows = (
            f"row {after[0].row} follows"
            if len(after) == 1
            else f"rows {', '.join(str(f.row) for f in after)} follow"
        )
        found.append(
            Finding(
                "warning",
                _at(after[0], "period"),
                f"no {span} between {_quarter_name(low)} and {_quarter_name(high)} for "
                f"{metrics} ({rows} the gap): a missing quarter is unknown, never "
                "zero; TTM and year-on-year figures that need it stay unknown",
                after[0].row,
            )
        )
    return found


def _first_report_day(facts: Sequence[Fact]) -> dict[str, tuple[date, Fact]]:
    """Each quarter's results announcement: the first announced row of Xiaomi's own figures."""
    first: dict[str, tuple[date, Fact]] = {}
    for fact in facts:
        if fact.kind != "quarterly" or fact.metric in THIRD_PARTY_METRICS:
            continue
        held = first.get(fact.period)
        if held is None or fact.announced < held[0]:
            first[fact.period] = (fact.announced, fact)
    return first


def _years_without_q4(facts: Sequence[Fact]) -> list[Finding]:
    found: list[Finding] = []
    reports = _first_report_day(facts)
    first_rows: dict[int, Fact] = {}
    for fact in facts:
        if fact.kind == "annual":
            year = fiscal_year_of(fact.period)
            held = first_rows.get(year)
            if held is None or fact.announced < held.announced:
                first_rows[year] = fact
    for year, fact in sorted(first_rows.items()):
        q4 = quarter_period(year, 4)
        report = reports.get(q4)
        if report is None:
            found.append(
                Finding(
                    "warning",
                    _at(fact, "period"),
                    f"{fact.period} figures but no {q4} report in the file: full-year figures "
                    f"are announced with the Q4 results; add the {q4} rows (xmtrade facts add "
                    f"revenue {q4} VALUE --announced {fact.announced})",
                    fact.row,
                )
            )
        elif fact.announced < report[0]:
            found.append(
                Finding(
                    "warning",
                    _at(fact, "announced"),
                    f"{fact.metric} {fact.period} announced {fact.announced}, before the {q4} "
                    f"report (announced {report[0]}, row {report[1].row}): full-year figures come "
                    "with the Q4 results; check the date",
                    fact.row,
                )
            )
    return found


def _late_report_figures(facts: Sequence[Fact]) -> list[Finding]:
    """A report's own figure first announced after the report: the gate judges without it."""
    found: list[Finding] = []
    reports = _first_report_day(facts)
    first: dict[tuple[str, str], Fact] = {}
    for fact in facts:
        if fact.kind != "quarterly" or fact.metric in THIRD_PARTY_METRICS:
            continue
        key = (fact.metric, fact.period)
        held = first.get(key)
        if held is None or fact.announced < held.announced:
            first[key] = fact
    for (metric, period), fact in first.items():
        day, report = reports[period]
        if fact.announced > day:
            found.append(
                Finding(
                    "warning",
                    _at(fact, "announced"),
                    f"{metric} {period} first announced {fact.announced}, after the {period} "
                    f"report ({day}, row {report.row}): the gate judges that report without it; "
                    "if it came with the results, give it the report's date",
                    fact.row,
                )
            )
    return found


def _newest_report_incomplete(facts: Sequence[Fact]) -> list[Finding]:
    """The newest quarter lacks metrics the quarter before has (the gap check cannot see the
    trailing edge): the gate and the lines read them as unknown."""
    reports = _first_report_day(facts)
    if len(reports) < 2:
        return []
    newest = max(reports, key=_quarter_index)
    before = _quarter_name(_quarter_index(newest) - 1)
    have: dict[str, set[str]] = {}
    for fact in facts:
        if fact.kind == "quarterly":
            have.setdefault(fact.period, set()).add(fact.metric)
    missing = [m for m in METRICS if m in have.get(before, set()) - have.get(newest, set())]
    if not missing:
        return []
    day, report = reports[newest]
    return [
        Finding(
            "warning",
            _at(report, "period"),
            f"the newest report, {newest}, has no {', '.join(missing)} ({before} has): read as "
            f"unknown until added (xmtrade facts add {missing[0]} {newest} VALUE --announced "
            f"{day})",
            report.row,
        )
    ]


def _future(facts: Sequence[Fact], today: date) -> list[Finding]:
    return [
        Finding(
            "warning",
            _at(fact, "announced"),
            f"announced {fact.announced} is after today ({today}): the figure stays unused "
            "until then; check the date",
            fact.row,
        )
        for fact in facts
        if fact.announced > today
    ]


__all__ = [
    "FactsCheck",
    "Finding",
    "Severity",
    "check_facts",
    "check_facts_text",
    "require_usable_facts",
    "whole_file_findings",
]
