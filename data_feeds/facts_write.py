"""Adding figures to a facts file: validated, atomic, and never an overwrite.

A figure for a metric and period the file already holds is appended as a revision row (a later
`announced`), so a backtest still sees the old figure at every decision before the revision was
known. The new text is checked with `facts check`'s rules before it replaces the file; a problem
anywhere writes nothing. The copy inside the installed package is never written.
"""

from __future__ import annotations

import csv
import io
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from data_feeds.errors import DataError
from data_feeds.facts_check import check_facts_text
from data_feeds.fundamentals import (
    CONFIDENCE_LEVELS,
    METRICS,
    Fact,
    number_problem,
    parse_clock,
    parse_iso_day,
    period_end_of,
    range_problem,
    read_facts_text,
)

# other units a figure may be given in, as multiples of the metric's unit
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "RMB_m": {"RMB": 1e-6, "RMB_k": 1e-3, "RMB_bn": 1e3},
    "million_units": {"units": 1e-6},
    "units": {"thousand_units": 1e3},
    "shares": {"million_shares": 1e6},
}

AddKind = Literal["new", "revision", "unchanged"]


@dataclass(frozen=True)
class NewFigure:
    """One figure to add, as given; `origin` says where it came from for error messages."""

    metric: str
    period: str
    value: str
    announced: str
    source: str
    origin: str
    unit: str | None = None
    period_end: str | None = None
    announced_time: str | None = None
    confidence: str | None = None


@dataclass(frozen=True)
class Added:
    """What became of one figure: a new row, a revision row, or nothing (already there)."""

    kind: AddKind
    metric: str
    period: str
    value: float
    unit: str
    announced: date
    row: int | None  # the file line written (None when unchanged)
    previous: Fact | None  # the figure it revises, or the row that already holds it
    note: str = ""  # e.g. a unit conversion


def packaged_facts_dir() -> Path:
    """The folder of the facts files shipped inside the installed package."""
    import configs

    return Path(configs.__file__).resolve().parent


def refuse_packaged(path: Path) -> None:
    """A one-line refusal when `path` is the copy inside the installed package."""
    try:
        Path(path).resolve().relative_to(packaged_facts_dir())
    except ValueError:
        return
    raise DataError(
        str(path),
        None,
        "is the facts file packaged with xmtrade and is never written; put a copy in your "
        "own directory with `xmtrade init`, or name your own file with --file",
    )


def _number(text: str) -> str:
    """A float as the shortest plain text that reads back to it (no trailing .0)."""
    return text[:-2] if text.endswith(".0") else text


def format_value(value: float) -> str:
    """A value as written into the file."""
    return _number(repr(float(value)))


class _Figure:
    """One NewFigure parsed and converted to the metric's unit; problems raise DataError."""

    def __init__(self, figure: NewFigure) -> None:
        self.origin = figure.origin

        spec = METRICS.get(figure.metric.strip())
        if spec is None:
            import difflib

            close = difflib.get_close_matches(figure.metric, list(METRICS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(METRICS)})"
            raise self.fail("metric", f"unknown metric {figure.metric!r}{hint}")
        self.metric = spec.name
        self.period = figure.period.strip()
        end, what = period_end_of(spec, self.period)
        if end is None:
            raise self.fail("period", f"{what}, got {figure.period!r}")
        if figure.period_end:
            given = parse_iso_day(figure.period_end.strip())
            if given != end:
                raise self.fail(
                    "period_end",
                    f"expected {end} (the end of {self.period}), got {figure.period_end!r}",
                )
        self.period_end = end
        announced = parse_iso_day(figure.announced.strip())
        if announced is None:
            raise self.fail("announced", f"expected a date YYYY-MM-DD, got {figure.announced!r}")
        if announced < end:
            raise self.fail(
                "announced",
                f"{announced} is before the end of {self.period} ({end}); a figure cannot be "
                "announced before its period ends",
            )
        self.announced = announced
        raw = figure.value.strip().replace(",", "").replace("_", "")
        problem = number_problem(raw)
        if problem is not None:
            raise self.fail("value", problem)
        value = float(raw)
        unit = (figure.unit or "").strip() or spec.unit
        self.note = ""
        if unit != spec.unit:
            factor = UNIT_FACTORS.get(spec.unit, {}).get(unit)
            if factor is None:
                others = ", ".join(UNIT_FACTORS.get(spec.unit, {}))
                also = f" (or {others}, converted)" if others else ""
                raise self.fail(
                    "unit", f"expected {spec.unit}{also} for metric {self.metric}, got {unit!r}"
                )
            converted = round(value * factor, 6)
            self.note = f"{format_value(value)} {unit} = {format_value(converted)} {spec.unit}"
            value = converted
            raw = format_value(value)
        if not math.isfinite(value):
            raise self.fail("value", f"expected a finite number, got {raw!r}")
        impossible = range_problem(self.metric, value)
        if impossible is not None:
            raise self.fail("value", f"{impossible}: a figure that cannot be true")
        self.value = value
        self.value_text = format_value(value)
        self.unit = spec.unit
        self.source = " ".join(figure.source.split())
        if not self.source:
            raise self.fail("source", "expected where the figure comes from, got blank")
        self.announced_time = (figure.announced_time or "").strip()
        if self.announced_time:
            parsed = parse_clock(self.announced_time)
            if parsed is None:
                raise self.fail(
                    "announced_time",
                    f"expected a time HH:MM (Hong Kong time) or blank, got {self.announced_time!r}",
                )
        self.confidence = (figure.confidence or "").strip()
        if self.confidence and self.confidence not in CONFIDENCE_LEVELS:
            raise self.fail("confidence", f"expected H, M, L or blank, got {self.confidence!r}")

    def fail(self, column: str, message: str) -> DataError:
        return DataError(self.origin, column, message)

    def cells(self) -> dict[str, str]:
        return {
            "metric": self.metric,
            "period": self.period,
            "period_end": self.period_end.isoformat(),
            "announced": self.announced.isoformat(),
            "announced_time": self.announced_time,
            "value": self.value_text,
            "unit": self.unit,
            "source": self.source,
            "confidence": self.confidence,
        }


def _csv_line(cells: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


def plan_additions(
    text: str, where: str, figures: Sequence[NewFigure], today: date | None = None
) -> tuple[str, list[Added]]:
    """The file's new text with `figures` appended, and what became of each figure.

    Raises a one-line DataError (nothing is planned) when the file has errors, a figure is
    invalid, or it conflicts with a row of the file."""
    check = check_facts_text(text, where, today)
    if not check.ok:
        first = check.of("error")[0]
        raise DataError(
            where,
            first.field,
            f"{first.message}; the file has {len(check.of('error'))} error(s): fix them first "
            f"(xmtrade facts check {where}), nothing was written",
        )
    header = list(_header(text))
    known: dict[tuple[str, str], list[Fact]] = {}
    for fact in check.facts:
        known.setdefault((fact.metric, fact.period), []).append(fact)
    lines: list[str] = []
    added: list[Added] = []
    next_row = _line_count(text) + 1
    for figure in figures:
        parsed = _Figure(figure)
        held = sorted(known.get((parsed.metric, parsed.period), []), key=lambda f: f.announced)
        kind: AddKind = "new"
        previous: Fact | None = None
        if held:
            latest = held[-1]
            same_day = [f for f in held if f.announced == parsed.announced]
            if same_day and same_day[0].value != parsed.value:
                raise parsed.fail(
                    "announced",
                    f"row {same_day[0].row} of {where} already holds {parsed.metric} "
                    f"{parsed.period} announced {parsed.announced} ({same_day[0].value:g}); a "
                    "revision needs a later --announced date",
                )
            if same_day or latest.value == parsed.value:
                match = same_day[0] if same_day else latest
                added.append(
                    Added(
                        "unchanged",
                        parsed.metric,
                        parsed.period,
                        parsed.value,
                        parsed.unit,
                        parsed.announced,
                        None,
                        match,
                        parsed.note,
                    )
                )
                continue
            if parsed.announced < latest.announced:
                raise parsed.fail(
                    "announced",
                    f"{parsed.announced} is before row {latest.row} ({parsed.metric} "
                    f"{parsed.period} announced {latest.announced}); a revision must be "
                    "announced after the figure it revises",
                )
            kind, previous = "revision", latest
        cells = parsed.cells()
        for column in ("announced_time", "confidence"):
            if cells[column] and column not in header:
                raise parsed.fail(column, f"{where} has no {column} column; leave it out")
        lines.append(_csv_line([cells.get(column, "") for column in header]))
        fact = Fact(
            metric=parsed.metric,
            period=parsed.period,
            period_end=parsed.period_end,
            announced=parsed.announced,
            announced_time=parse_clock(parsed.announced_time) if parsed.announced_time else None,
            value=parsed.value,
            unit=parsed.unit,
            source=parsed.source,
            confidence=parsed.confidence or None,
            row=next_row,
        )
        known.setdefault((fact.metric, fact.period), []).append(fact)
        added.append(
            Added(
                kind,
                fact.metric,
                fact.period,
                fact.value,
                fact.unit,
                fact.announced,
                next_row,
                previous,
                parsed.note,
            )
        )
        next_row += 1
    if not lines:
        return text, added
    body = text if text.endswith("\n") or not text else text + "\n"
    new_text = body + "".join(lines)
    after = check_facts_text(new_text, where, today)
    if not after.ok:  # a safety net: each figure was checked above
        first = after.of("error")[0]
        raise DataError(where, first.field, f"{first.message}; nothing was written")
    return new_text, added


def _header(text: str) -> list[str]:
    for cells in csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")):
        if any(c.strip() for c in cells):
            return [c.strip() for c in cells]
    return []


def _line_count(text: str) -> int:
    """The number of the file's last line (a CSV line as `csv` counts them)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    for _ in reader:
        pass
    return reader.line_num


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step: a reader sees the old file or the new one."""
    path = Path(path)
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def add_figures(
    path: Path, figures: Sequence[NewFigure], today: date | None = None, dry_run: bool = False
) -> list[Added]:
    """Append `figures` to the facts file at `path` (revisions as revision rows), atomically;
    `dry_run` plans and writes nothing (so it may look at the packaged copy)."""
    if not dry_run:
        refuse_packaged(path)
    text = read_facts_text(path)
    new_text, added = plan_additions(text, str(path), figures, today)
    if new_text != text and not dry_run:
        try:
            write_atomically(path, new_text)
        except OSError as exc:
            raise DataError(str(path), None, f"cannot write: {exc.strerror or exc}") from None
    return added


FROM_COLUMNS = (
    "metric",
    "period",
    "period_end",
    "announced",
    "announced_time",
    "value",
    "unit",
    "source",
    "confidence",
)


def read_new_figures(path: Path, default_source: str) -> list[NewFigure]:
    """The figures of a small CSV in the facts layout (period_end, unit, source optional)."""
    import difflib

    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(where, None, "file not found; expected a CSV of figures to add") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise DataError(where, None, f"cannot read: {reason}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    figures: list[NewFigure] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [c.strip() for c in cells]
                for name in header:
                    if name not in FROM_COLUMNS:
                        close = difflib.get_close_matches(name, FROM_COLUMNS, n=1)
                        hint = f" (did you mean {close[0]!r}?)" if close else ""
                        raise DataError(
                            where,
                            f"row {reader.line_num}, column {name or '(blank)'}",
                            f"unknown column{hint}; expected {','.join(FROM_COLUMNS)}",
                        )
                for name in ("metric", "period", "announced", "value"):
                    if name not in header:
                        raise DataError(
                            where,
                            f"row {reader.line_num}, column {name}",
                            "required column missing (metric, period, announced and value are "
                            "required; period_end, unit, source and the rest are optional)",
                        )
                continue
            if len(cells) != len(header):
                raise DataError(
                    where,
                    f"row {reader.line_num}",
                    f"expected {len(header)} fields like the header, saw {len(cells)}",
                )
            row = dict(zip(header, cells, strict=True))
            figures.append(
                NewFigure(
                    metric=row["metric"],
                    period=row["period"],
                    value=row["value"],
                    announced=row["announced"],
                    source=row.get("source", "").strip() or default_source,
                    origin=f"{where}: row {reader.line_num}",
                    unit=row.get("unit") or None,
                    period_end=row.get("period_end") or None,
                    announced_time=row.get("announced_time") or None,
                    confidence=row.get("confidence") or None,
                )
            )
    except csv.Error as exc:
        raise DataError(where, f"row {reader.line_num}", f"not a readable CSV: {exc}") from None
    if not figures:
        raise DataError(where, None, "no figures after the header row")
    return figures


__all__ = [
    "UNIT_FACTORS",
    "Added",
    "NewFigure",
    "add_figures",
    "format_value",
    "packaged_facts_dir",
    "plan_additions",
    "read_new_figures",
    "refuse_packaged",
    "write_atomically",
]
