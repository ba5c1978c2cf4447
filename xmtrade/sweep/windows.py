"""The walk-forward's windows and what a window's test span did: the data types the
walk-forward (xmtrade/sweep/walkforward.py) makes and its page
(xmtrade/reports/walkforward_page.py) draws, kept apart from both so that neither imports the
other."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from xmtrade.errors import ConfigError

if TYPE_CHECKING:
    from xmtrade.sweep.runner import Row

_SPAN = re.compile(r"^\s*(\d+)\s*([ymwd])\s*$")
MAX_YEARS = 100
_MAX_COUNT = {"y": MAX_YEARS, "m": 12 * MAX_YEARS, "w": 52 * MAX_YEARS, "d": 365 * MAX_YEARS}


@dataclass(frozen=True)
class Span:
    """A length of calendar time: 3y, 18m, 26w, 90d."""

    count: int
    unit: str  # y, m, w, d

    @property
    def offset(self) -> pd.DateOffset:
        return self.times(1)

    def times(self, k: int) -> pd.DateOffset:
        """This span k times over."""
        n = self.count * k
        if self.unit == "y":
            return pd.DateOffset(years=n)
        if self.unit == "m":
            return pd.DateOffset(months=n)
        if self.unit == "w":
            return pd.DateOffset(weeks=n)
        return pd.DateOffset(days=n)

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"


def parse_span(text: str, option: str) -> Span:
    """`3y`, `18m`, `26w` or `90d` (years, months, weeks, calendar days)."""
    match = _SPAN.match(text or "")
    if not match or int(match.group(1)) < 1:
        raise ConfigError(
            "command line", option, f"expected a length like 3y, 18m, 26w or 90d, got {text!r}"
        )
    count, unit = int(match.group(1)), match.group(2)
    if count > _MAX_COUNT[unit]:
        raise ConfigError(
            "command line",
            option,
            f"{text.strip()} is longer than {MAX_YEARS} years (at most {_MAX_COUNT[unit]}{unit})",
        )
    return Span(count, unit)


@dataclass(frozen=True)
class Window:
    """One training span and the test span right after it (sessions, both ends included)."""

    number: int
    train_start: date
    train_end: date
    test_start: date
    test_end: date
    partial: bool  # the test span was cut short by the end of the data

    def as_dict(self) -> dict[str, Any]:
        return {
            "window": self.number,
            "train_start": self.train_start,
            "train_end": self.train_end,
            "test_start": self.test_start,
            "test_end": self.test_end,
            "partial": self.partial,
        }


def make_windows(
    sessions: pd.DatetimeIndex, train: Span, test: Span, anchored: bool
) -> list[Window]:
    """The walk-forward windows over `sessions` (the traded range)."""
    if len(sessions) == 0:
        raise ConfigError("walk-forward", None, "no sessions to walk forward over")
    first, last = sessions[0], sessions[-1]
    covers = f"the data covers {first.date()} to {last.date()} ({len(sessions)} sessions)"
    windows: list[Window] = []
    k = 0
    while True:
        boundary = first + train.offset + test.times(k)
        if boundary > last:
            break
        test_until = boundary + test.offset
        train_from = first if anchored else boundary - train.offset
        test_span = sessions[(sessions >= boundary) & (sessions < test_until)]
        k += 1
        if len(test_span) == 0:  # no session in this span (a holiday, a weekend): go on
            continue
        train_span = sessions[(sessions >= train_from) & (sessions < boundary)]
        partial = test_until > last + pd.Timedelta(days=1)
        if not windows and partial:
            break
        if len(train_span) == 0:
            raise ConfigError(
                "--train", None, f"window {len(windows) + 1} has no training sessions; {covers}"
            )
        windows.append(
            Window(
                number=len(windows) + 1,
                train_start=train_span[0].date(),
                train_end=train_span[-1].date(),
                test_start=test_span[0].date(),
                test_end=test_span[-1].date(),
                partial=bool(partial),
            )
        )
    if not windows:
        raise ConfigError(
            "--train/--test",
            None,
            f"train {train} + test {test} is longer than the data; {covers}",
        )
    return windows


def window_label(best: Row | None, test: Row | None, refused: bool = False) -> str:
    """What a window's test span did, when it did not simply trade: `cash` (no combination
    was eligible on the training span, or, `refused`, the winner's in-sample Sharpe was below
    the floor), `no trades`, or `test failed`."""
    if best is None:
        return "cash (in-sample Sharpe below the floor)" if refused else "cash"
    if test is None or test.metrics is None:
        return "test failed"
    if (
        int(test.metrics.get("n_trades") or 0) == 0
        and int(test.metrics.get("open_tranches") or 0) == 0
    ):
        return "no trades"
    return ""
