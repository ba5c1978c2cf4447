"""Point-in-time fundamentals: what Xiaomi reported, and from which decision a trader knew it.

A facts file is a long CSV, one figure per row (see `configs/fundamentals/README.md`):

    metric,period,period_end,announced,announced_time,value,unit,source,confidence

`read_facts` checks every row and stops at the first problem with one line naming the file, the
row (file line, header = row 1), the column and what was expected. `PointInTimeFacts` applies
the visibility rule of STRATEGY §4: a figure is usable only from the first decision after its
announcement, and a revision (a later row for the same metric and period) replaces the old
value only from its own usable date. Missing figures stay missing: unknown is never zero.
"""

from __future__ import annotations

import bisect
import csv
import difflib
import io
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from data_feeds.errors import DataError

PeriodKind = Literal["quarterly", "annual", "point"]


@dataclass(frozen=True)
class MetricSpec:
    """One known metric: its unit, its period kind, and whether quarters add up (for TTM)."""

    name: str
    unit: str
    kind: PeriodKind
    additive: bool
    description: str


def _spec(name: str, unit: str, kind: PeriodKind, additive: bool, description: str) -> MetricSpec:
    return MetricSpec(name, unit, kind, additive, description)


METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        _spec("revenue", "RMB_m", "quarterly", True, "group revenue of the quarter"),
        _spec("adjusted_net_profit", "RMB_m", "quarterly", True, "adjusted (non-IFRS) net profit"),
        _spec("gross_margin", "pct", "quarterly", False, "group gross margin"),
        _spec("smartphone_shipments", "million_units", "quarterly", True, "smartphones shipped"),
        _spec("smartphone_rank", "rank", "quarterly", False, "global smartphone shipment rank"),
        _spec("ev_revenue", "RMB_m", "quarterly", True, "smart EV segment revenue"),
        _spec("ev_deliveries", "units", "quarterly", True, "EVs delivered"),
        _spec("ev_gross_margin", "pct", "quarterly", False, "smart EV segment gross margin"),
        _spec(
            "ev_segment_result",
            "RMB_m",
            "quarterly",
            True,
            "smart EV segment result (adjusted net in 2024, operating from 2025; + = profit)",
        ),
        _spec("operating_profit", "RMB_m", "annual", True, "operating profit of the year"),
        _spec("profit_before_tax", "RMB_m", "annual", True, "profit before tax of the year"),
        _spec("income_tax", "RMB_m", "annual", True, "income tax expense of the year"),
        _spec("total_equity", "RMB_m", "annual", False, "total equity at the year end"),
        _spec("borrowings", "RMB_m", "annual", False, "borrowings at the year end"),
        _spec("cash", "RMB_m", "annual", False, "cash and cash equivalents at the year end"),
        _spec(
            "short_term_investments",
            "RMB_m",
            "annual",
            False,
            "short-term deposits and investments at the year end",
        ),
        _spec("shares_outstanding", "shares", "point", False, "shares in issue on a date"),
    )
}

# Each figure's physical range: (lowest, highest, lowest allowed itself, a whole number).
# RMB amounts are in millions, so 1e9 is a quadrillion yuan.
_MONEY = 1e9
PHYSICAL_RANGE: dict[str, tuple[float, float, bool, bool]] = {
    "revenue": (0, _MONEY, False, False),
    "adjusted_net_profit": (-_MONEY, _MONEY, True, False),
    "gross_margin": (-100, 100, True, False),
    "smartphone_shipments": (0, 10_000, True, False),
    "smartphone_rank": (1, 1_000, True, True),
    "ev_revenue": (0, _MONEY, True, False),
    "ev_deliveries": (0, 1e9, True, True),
    "ev_gross_margin": (-100, 100, True, False),
    "ev_segment_result": (-_MONEY, _MONEY, True, False),
    "operating_profit": (-_MONEY, _MONEY, True, False),
    "profit_before_tax": (-_MONEY, _MONEY, True, False),
    "income_tax": (-_MONEY, _MONEY, True, False),
    "total_equity": (-_MONEY, _MONEY, True, False),
    "borrowings": (0, _MONEY, True, False),
    "cash": (0, _MONEY, True, False),
    "short_term_investments": (0, _MONEY, True, False),
    "shares_outstanding": (0, 1e13, False, False),
}


def range_problem(metric: str, value: float) -> str | None:
    """What makes `value` impossible for `metric` (a negative revenue, zero shares, a margin
    beyond ±100%), or None when it can be true."""
    bounds = PHYSICAL_RANGE.get(metric)
    spec = METRICS.get(metric)
    if bounds is None or spec is None:
        return None
    low, high, low_allowed, whole = bounds
    unit = spec.unit
    shown = f"{value:g}"
    if whole and not float(value).is_integer():
        return f"{metric} is a whole number ({unit}), got {shown}"
    if value < low or (value == low and not low_allowed):
        if low == 0:
            need = "positive" if not low_allowed else "zero or more"
            return f"{metric} must be {need} ({unit}), got {shown}"
        return f"{metric} must be at least {low:g} ({unit}), got {shown}"
    if value > high:
        return f"{metric} must be at most {high:g} ({unit}), got {shown}"
    return None


REQUIRED_COLUMNS: tuple[str, ...] = (
    "metric",
    "period",
    "period_end",
    "announced",
    "value",
    "unit",
    "source",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("announced_time", "confidence")
CONFIDENCE_LEVELS: tuple[str, ...] = ("H", "M", "L")
_HEADER = "metric,period,period_end,announced,announced_time,value,unit,source,confidence"

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
_FISCAL_YEAR = re.compile(r"^(\d{4})FY$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_QUARTER_END = {1: (3, 31), 2: (6, 30), 3: (9, 30), 4: (12, 31)}


# --- period arithmetic ---------------------------------------------------------------------


def quarter_of(period: str) -> tuple[int, int]:
    """`"2024Q3"` → `(2024, 3)`; ValueError for anything that is not a quarter."""
    match = _QUARTER.match(period)
    if match is None:
        raise ValueError(f"not a quarter like 2024Q3: {period!r}")
    return int(match.group(1)), int(match.group(2))


def quarter_period(year: int, quarter: int) -> str:
    """`(2024, 3)` → `"2024Q3"`."""
    if quarter not in _QUARTER_END:
        raise ValueError(f"quarter must be 1 to 4, got {quarter}")
    return f"{year}Q{quarter}"


def quarter_end(period: str) -> date:
    """The last day of a quarter: `"2024Q3"` → 2024-09-30."""
    year, quarter = quarter_of(period)
    month, day = _QUARTER_END[quarter]
    return date(year, month, day)


def shift_quarter(period: str, quarters: int) -> str:
    """The quarter `quarters` after `period` (negative: before)."""
    year, quarter = quarter_of(period)
    index = year * 4 + (quarter - 1) + quarters
    return quarter_period(index // 4, index % 4 + 1)


def same_quarter_last_year(period: str) -> str:
    """`"2024Q3"` → `"2023Q3"`."""
    return shift_quarter(period, -4)


def previous_quarters(period: str, n: int) -> list[str]:
    """The `n` quarters before `period`, most recent first (`period` itself not included)."""
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}")
    return [shift_quarter(period, -k) for k in range(1, n + 1)]


def fiscal_year_of(period: str) -> int:
    """`"2024FY"` → 2024; ValueError for anything that is not a fiscal year."""
    match = _FISCAL_YEAR.match(period)
    if match is None:
        raise ValueError(f"not a fiscal year like 2024FY: {period!r}")
    return int(match.group(1))


def fiscal_year_period(year: int) -> str:
    """2024 → `"2024FY"` (Xiaomi's fiscal year is the calendar year)."""
    return f"{year}FY"


# --- facts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """One reported figure and when it became public; `row` is its line in the facts file."""

    metric: str
    period: str
    period_end: date
    announced: date
    announced_time: time | None
    value: float
    unit: str
    source: str
    confidence: str | None
    row: int

    @property
    def kind(self) -> PeriodKind:
        """quarterly, annual or point (from `METRICS`)."""
        return METRICS[self.metric].kind

    def as_dict(self) -> dict[str, Any]:
        """Plain values for a decision log (dates as ISO text)."""
        return {
            "metric": self.metric,
            "period": self.period,
            "period_end": self.period_end.isoformat(),
            "announced": self.announced.isoformat(),
            "announced_time": (
                self.announced_time.strftime("%H:%M") if self.announced_time else None
            ),
            "value": self.value,
            "unit": self.unit,
            "source": self.source,
            "confidence": self.confidence,
            "row": self.row,
        }


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _RowReader:
    """Parses the cells of one data row; every complaint names the row and the column.

    A problem is recorded in `problems` and the cell reads as None, so one pass finds every
    problem of the row (`read_facts` reports the first, `facts check` lists them all)."""

    def __init__(self, where: str, line_no: int, cells: dict[str, str]) -> None:
        self.where = where
        self.line_no = line_no
        self.cells = cells
        self.problems: list[DataError] = []

    def fail(self, column: str, message: str) -> DataError:
        return DataError(self.where, f"row {self.line_no}, column {column}", message)

    def problem(self, column: str, message: str) -> None:
        self.problems.append(self.fail(column, message))

    def text(self, column: str) -> str:
        return self.cells.get(column, "").strip()

    def required(self, column: str, what: str) -> str | None:
        value = self.text(column)
        if not value:
            self.problem(column, f"expected {what}, got blank")
            return None
        return value

    def day(self, column: str) -> date | None:
        raw = self.required(column, "a date YYYY-MM-DD")
        if raw is None:
            return None
        parsed = parse_iso_day(raw)
        if parsed is None:
            self.problem(column, f"expected a date YYYY-MM-DD, got {raw!r}")
        return parsed

    def clock(self, column: str) -> time | None:
        raw = self.text(column)
        if not raw:
            return None
        parsed = parse_clock(raw)
        if parsed is None:
            self.problem(column, f"expected a time HH:MM (Hong Kong time) or blank, got {raw!r}")
        return parsed

    def number(self, column: str) -> float | None:
        raw = self.text(column)
        problem = number_problem(raw)
        if problem is not None:
            self.problem(column, problem)
            return None
        return float(raw)


def parse_clock(raw: str) -> time | None:
    """`"16:30"` → that time; None for anything else."""
    match = _CLOCK.match(raw)
    if match is not None:
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour < 24 and minute < 60:
            return time(hour, minute)
    return None


def parse_iso_day(raw: str) -> date | None:
    """`"2024-11-18"` → that date; None for anything else."""
    if _ISO_DATE.match(raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            return None
    return None


def number_problem(raw: str) -> str | None:
    """What is wrong with `raw` as a facts value (None: it is a finite plain number)."""
    unknown = "(leave the row out if the figure is unknown)"
    if not raw:
        return f"expected a number, got blank {unknown}"
    try:
        parsed = float(raw)
    except ValueError:
        parsed = None
    if parsed is not None and not math.isfinite(parsed):
        return f"expected a finite number, got {raw!r} {unknown}"
    if parsed is None or not _NUMBER.match(raw):
        return f"expected a number like 92500 or 20.4, got {raw!r}"
    return None


def period_end_of(spec: MetricSpec, period: str) -> tuple[date | None, str]:
    """The last day of `period` for a metric of `spec`'s kind, or (None, what was expected)."""
    if spec.kind == "quarterly":
        if _QUARTER.match(period):
            return quarter_end(period), ""
        return None, f"expected a quarter like 2024Q3 for quarterly metric {spec.name}"
    if spec.kind == "annual":
        if _FISCAL_YEAR.match(period):
            return date(fiscal_year_of(period), 12, 31), ""
        return None, f"expected a fiscal year like 2024FY for annual metric {spec.name}"
    parsed = parse_iso_day(period)
    if parsed is None:
        return None, f"expected a date YYYY-MM-DD for point metric {spec.name}"
    return parsed, ""


def _check_period(
    reader: _RowReader, spec: MetricSpec, period: str, period_end: date | None
) -> bool:
    """The period's form fits the metric's kind and `period_end` is the period's last day."""
    expected, what = period_end_of(spec, period)
    if expected is None:
        reader.problem("period", f"{what}, got {period!r}")
        return False
    if period_end is not None and period_end != expected:
        where = "the date in period" if spec.kind == "point" else f"the last day of {period}"
        reader.problem(
            "period_end",
            f"expected {expected.isoformat()} ({where}), got {period_end.isoformat()}",
        )
        return False
    return True


def _parse_row(reader: _RowReader) -> Fact | None:
    """The row as a Fact, or None when it has problems (they are in `reader.problems`)."""
    metric = reader.required("metric", "a metric name")
    spec = METRICS.get(metric) if metric is not None else None
    if metric is not None and spec is None:
        hint = _suggest(metric, METRICS) or f" (known: {', '.join(METRICS)})"
        reader.problem("metric", f"unknown metric {metric!r}{hint}")
    period = reader.required("period", "a period like 2024Q3, 2024FY or a date YYYY-MM-DD")
    period_end = reader.day("period_end")
    period_ok = (
        spec is not None and period is not None and _check_period(reader, spec, period, period_end)
    )
    announced = reader.day("announced")
    if period_ok and announced is not None and period_end is not None and announced < period_end:
        reader.problem(
            "announced",
            f"{announced.isoformat()} is before the end of period {period} "
            f"({period_end.isoformat()}); a figure cannot be announced before its period "
            "ends",
        )
    announced_time = reader.clock("announced_time")
    value = reader.number("value")
    impossible = range_problem(metric, value) if metric is not None and value is not None else None
    if impossible is not None:
        reader.problem("value", f"{impossible}: a figure that cannot be true")
    if spec is not None:
        unit = reader.required("unit", f"{spec.unit} for metric {metric}")
        if unit is not None and unit != spec.unit:
            reader.problem("unit", f"expected {spec.unit} for metric {metric}, got {unit!r}")
    else:
        unit = reader.required("unit", "the metric's unit")
    source = reader.required("source", "where the figure comes from")
    confidence = reader.text("confidence") or None
    if confidence is not None and confidence not in CONFIDENCE_LEVELS:
        reader.problem("confidence", f"expected H, M, L or blank, got {confidence!r}")
    if reader.problems:
        return None
    assert metric is not None and period is not None and period_end is not None
    assert announced is not None and value is not None and unit is not None
    assert source is not None
    return Fact(
        metric=metric,
        period=period,
        period_end=period_end,
        announced=announced,
        announced_time=announced_time,
        value=value,
        unit=unit,
        source=source,
        confidence=confidence,
        row=reader.line_no,
    )


def _check_header(where: str, line_no: int, header: list[str]) -> list[str]:
    names = [name.strip() for name in header]
    known = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(where, f"row {line_no}, column {name}", "column appears twice")
        seen.add(name)
        if name not in known:
            raise DataError(
                where,
                f"row {line_no}, column {name or '(blank)'}",
                f"unknown column{_suggest(name, known)}; expected {_HEADER}",
            )
    for name in REQUIRED_COLUMNS:
        if name not in seen:
            raise DataError(
                where,
                f"row {line_no}, column {name}",
                f"required column missing; expected {_HEADER}",
            )
    return names


@dataclass(frozen=True)
class FactsScan:
    """Every row of a facts file read in one pass: the good facts and every problem found."""

    where: str
    facts: tuple[Fact, ...]
    problems: tuple[DataError, ...]
    header: tuple[str, ...]  # the file's columns in order (empty when the header is unusable)


def read_facts_text(path: Path) -> str:
    """The text of a facts file; a file that cannot be read raises a one-line DataError."""
    where = str(path)
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(where, None, f"file not found; expected a facts CSV ({_HEADER})") from None
    except IsADirectoryError:
        raise DataError(where, None, "is a directory, expected a facts CSV file") from None
    except UnicodeDecodeError:
        raise DataError(where, None, "not UTF-8 text, expected a facts CSV file") from None
    except OSError as exc:
        raise DataError(where, None, f"cannot read: {exc.strerror or exc}") from None


def scan_facts(text: str, where: str) -> FactsScan:
    """Read every row of a facts CSV's text, collecting each problem with its row and column.

    A damaged header or an unreadable CSV stops the scan (the rows cannot be trusted); any other
    problem is recorded and the scan goes on with the next row."""
    problems: list[DataError] = []

    def scan(facts: list[Fact], header: list[str] | None = None) -> FactsScan:
        return FactsScan(where, tuple(facts), tuple(problems), tuple(header or ()))

    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        problems.append(DataError(where, None, f"empty file; expected a header {_HEADER}"))
        return scan([])
    rows = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    facts: list[Fact] = []
    first_row: dict[tuple[str, str, date], int] = {}
    while True:
        try:
            cells = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(DataError(where, f"row {rows.line_num}", f"not a readable CSV: {exc}"))
            return scan(facts, header)
        line_no = rows.line_num
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are allowed and keep the numbering
        if header is None:
            try:
                header = _check_header(where, line_no, cells)
            except DataError as exc:
                problems.append(exc)
                return scan(facts)
            continue
        if len(cells) != len(header):
            problems.append(
                DataError(
                    where,
                    f"row {line_no}",
                    f"expected {len(header)} fields like the header, saw {len(cells)}",
                )
            )
            continue
        reader = _RowReader(where, line_no, dict(zip(header, cells, strict=True)))
        fact = _parse_row(reader)
        problems.extend(reader.problems)
        if fact is None:
            continue
        key = (fact.metric, fact.period, fact.announced)
        if key in first_row:
            problems.append(
                DataError(
                    where,
                    f"row {line_no}, column announced",
                    f"duplicate of row {first_row[key]} (same metric, period and announced); "
                    "a revision needs a later announced date",
                )
            )
            continue
        first_row[key] = line_no
        facts.append(fact)
    if not facts and not problems:
        problems.append(DataError(where, None, "no facts after the header row"))
    return scan(facts, header)


def read_facts(path: Path) -> list[Fact]:
    """Every fact in a facts CSV, in file order; the first problem raises a one-line DataError."""
    scan = scan_facts(read_facts_text(path), str(path))
    if scan.problems:
        raise scan.problems[0]
    return list(scan.facts)


# --- point in time ---------------------------------------------------------------------------


THIRD_PARTY_METRICS = frozenset({"smartphone_rank"})
"""Figures others publish (Canalys, IDC), often before Xiaomi's results: they are facts like any
other, but never date a quarterly report, which is Xiaomi's own results announcement."""


class SessionLookup(Protocol):
    """What the visibility rule needs from a trading calendar (`SessionCalendar` has it)."""

    def is_session(self, day: date | str) -> bool: ...

    def next_session(self, day: date | str) -> date: ...


@dataclass(frozen=True)
class QuarterlyReport:
    """One quarterly results report: its quarter, when it was announced and first usable."""

    period: str
    period_end: date
    announced: date
    usable_from: date

    def as_dict(self) -> dict[str, str]:
        """Plain values for a decision log."""
        return {
            "period": self.period,
            "period_end": self.period_end.isoformat(),
            "announced": self.announced.isoformat(),
            "usable_from": self.usable_from.isoformat(),
        }


@dataclass(frozen=True, eq=False)
class _Visible:
    """The winning fact per (metric, period) at one change point (shared by many sessions)."""

    by_key: dict[tuple[str, str], Fact]
    by_metric: dict[str, list[Fact]]  # sorted by period_end


def _check_metric(metric: str) -> MetricSpec:
    spec = METRICS.get(metric)
    if spec is None:
        raise ValueError(f"unknown metric {metric!r}{_suggest(metric, METRICS)}")
    return spec


@dataclass(frozen=True, eq=False)
class FactsSnapshot:
    """The facts a decision after the close of `as_of_session` may use (latest revision wins)."""

    as_of_session: date
    _visible: _Visible = field(repr=False)

    def fact(self, metric: str, period: str) -> Fact | None:
        """The visible fact for `metric` and `period`, or None when unknown at this decision."""
        _check_metric(metric)
        return self._visible.by_key.get((metric, period))

    def value(self, metric: str, period: str) -> float | None:
        """The visible value for `metric` and `period`, or None when unknown."""
        found = self.fact(metric, period)
        return None if found is None else found.value

    def quarter_value(self, metric: str, period: str) -> float | None:
        """The value of a quarterly metric for a quarter like 2024Q3, or None when unknown."""
        spec = _check_metric(metric)
        if spec.kind != "quarterly":
            raise ValueError(f"{metric} is {spec.kind}, not a quarterly metric")
        quarter_of(period)
        return self.value(metric, period)

    def latest(self, metric: str) -> Fact | None:
        """The visible fact of `metric` with the latest period, or None when none is visible."""
        _check_metric(metric)
        found = self._visible.by_metric.get(metric)
        return found[-1] if found else None

    def periods(self, metric: str) -> list[str]:
        """The visible periods of `metric`, oldest first."""
        _check_metric(metric)
        return [f.period for f in self._visible.by_metric.get(metric, [])]

    def history(self, metric: str) -> list[Fact]:
        """The visible facts of `metric`, one per period, oldest first."""
        _check_metric(metric)
        return list(self._visible.by_metric.get(metric, []))

    def facts(self) -> list[Fact]:
        """Every visible fact (one per metric and period), by metric then period."""
        return [f for metric in METRICS for f in self._visible.by_metric.get(metric, [])]


def _as_day(day: date) -> date:
    return day.date() if isinstance(day, datetime) else day


class PointInTimeFacts:
    """Facts with the STRATEGY §4 visibility rule, as of any decision (after a session's close).

    A fact announced on day d with no time is first usable at the decision after the close of
    `calendar.next_session(d)`. With an announcement time: usable at d's own decision when d is a
    session and the time is not after `decision_time`, else at `next_session(d)`.
    """

    def __init__(
        self,
        facts: Iterable[Fact],
        calendar: SessionLookup,
        decision_time: time,
        known_from: Mapping[tuple[str, str, date], date] | None = None,
    ) -> None:
        self.calendar = calendar
        self.decision_time = decision_time
        # a paper account's facts entered late: (metric, period, announced) -> the first
        # session it may use them, when later than the announcement allows
        self._known_from = dict(known_from or {})
        self._facts: tuple[Fact, ...] = tuple(facts)
        seen: dict[tuple[str, str, date], Fact] = {}
        for fact in self._facts:
            key = (fact.metric, fact.period, fact.announced)
            if key in seen:
                raise ValueError(
                    f"facts rows {seen[key].row} and {fact.row} are both {fact.metric} "
                    f"{fact.period} announced {fact.announced}"
                )
            seen[key] = fact
        self._usable: dict[Fact, date] = {f: self._usable_from(f) for f in self._facts}
        ordered = sorted(self._facts, key=lambda f: (self._usable[f], f.announced, f.row))
        self._ordered: tuple[Fact, ...] = tuple(ordered)
        self._ordered_days: list[date] = [self._usable[f] for f in ordered]
        self._changes: list[date] = sorted(set(self._ordered_days))
        self._states: dict[int, _Visible] = {}
        self._reports: tuple[QuarterlyReport, ...] = self._build_reports()

    @property
    def facts(self) -> tuple[Fact, ...]:
        """All facts, in the order given."""
        return self._facts

    def _usable_from(self, fact: Fact) -> date:
        by_announcement = self._announced_usable(fact)
        known = self._known_from.get((fact.metric, fact.period, fact.announced))
        return by_announcement if known is None else max(by_announcement, known)

    def announced_usable_from(self, fact: Fact) -> date:
        """The first session the announcement alone makes `fact` usable from (a backtest's
        rule, whatever a paper account's `known_from` says)."""
        return self._announced_usable(fact)

    def _announced_usable(self, fact: Fact) -> date:
        day = fact.announced
        try:
            if (
                fact.announced_time is not None
                and fact.announced_time <= self.decision_time
                and self.calendar.is_session(day)
            ):
                return day
            return self.calendar.next_session(day)
        except DataError as exc:
            first = getattr(self.calendar, "first_session", None)
            last = getattr(self.calendar, "last_session", None)
            if last is not None and day >= last:
                # announced beyond the calendar (a future date, which `facts check` warns
                # about): usable after every session a run can have, so never
                return day + timedelta(days=1)
            if first is not None and day < first:
                return first  # known before the calendar begins: usable from its start
            raise DataError(
                exc.where,
                f"facts row {fact.row} ({fact.metric} {fact.period})",
                exc.message,
            ) from None

    def usable_from(self, fact: Fact) -> date:
        """The first session whose after-close decision may use `fact`."""
        found = self._usable.get(fact)
        return found if found is not None else self._usable_from(fact)

    def change_sessions(self) -> list[date]:
        """Sorted distinct sessions on which the visible facts change."""
        return list(self._changes)

    def _state(self, index: int) -> _Visible:
        """The visible facts once the first `index` change sessions have passed (cached)."""
        state = self._states.get(index)
        if state is not None:
            return state
        count = bisect.bisect_right(self._ordered_days, self._changes[index - 1]) if index else 0
        by_key: dict[tuple[str, str], Fact] = {}
        for fact in self._ordered[:count]:
            key = (fact.metric, fact.period)
            held = by_key.get(key)
            if held is None or fact.announced > held.announced:
                by_key[key] = fact
        by_metric: dict[str, list[Fact]] = {}
        for fact in by_key.values():
            by_metric.setdefault(fact.metric, []).append(fact)
        for series in by_metric.values():
            series.sort(key=lambda f: f.period_end)
        state = _Visible(by_key, by_metric)
        self._states[index] = state
        return state

    def as_of(self, session: date) -> FactsSnapshot:
        """The facts usable at the decision after the close of `session`."""
        day = _as_day(session)
        index = bisect.bisect_right(self._changes, day)
        return FactsSnapshot(day, self._state(index))

    def _build_reports(self) -> tuple[QuarterlyReport, ...]:
        quarters: dict[str, list[Fact]] = {}
        for fact in self._facts:
            if fact.kind == "quarterly" and fact.metric not in THIRD_PARTY_METRICS:
                quarters.setdefault(fact.period, []).append(fact)
        reports = [
            QuarterlyReport(
                period=period,
                period_end=quarter_end(period),
                announced=min(f.announced for f in group),
                usable_from=min(self._usable[f] for f in group),
            )
            for period, group in quarters.items()
        ]
        reports.sort(key=lambda r: quarter_of(r.period))
        return tuple(reports)

    def reports(self, session: date) -> list[QuarterlyReport]:
        """The quarterly reports usable at the decision after `session`'s close, oldest first."""
        day = _as_day(session)
        return [r for r in self._reports if r.usable_from <= day]


def load_point_in_time(
    path: Path, calendar: SessionLookup, decision_time: time
) -> PointInTimeFacts:
    """`read_facts(path)` wrapped in the visibility rule."""
    return PointInTimeFacts(read_facts(path), calendar, decision_time)


__all__ = [
    "CONFIDENCE_LEVELS",
    "METRICS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "Fact",
    "FactsScan",
    "FactsSnapshot",
    "MetricSpec",
    "PeriodKind",
    "PointInTimeFacts",
    "QuarterlyReport",
    "SessionLookup",
    "fiscal_year_of",
    "fiscal_year_period",
    "load_point_in_time",
    "parse_clock",
    "parse_iso_day",
    "period_end_of",
    "previous_quarters",
    "quarter_end",
    "quarter_of",
    "quarter_period",
    "range_problem",
    "read_facts",
    "read_facts_text",
    "same_quarter_last_year",
    "scan_facts",
    "shift_quarter",
]
