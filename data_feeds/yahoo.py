"""Daily bars from Yahoo Finance (yfinance) and the incremental update of the price cache.

yfinance does not raise when it is offline or the symbol is unknown: it logs and returns an
empty frame. Here an empty download is an error unless the caller says the range may be empty,
and every yfinance failure becomes a one-line `DataError` with yfinance's own reason.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from data_feeds.bars import empty_bars, normalize_bars
from data_feeds.cache import MergeReport, PriceCache, merge_bars
from data_feeds.calendar import SessionCalendar
from data_feeds.errors import DataError
from data_feeds.validation import Finding, raise_on_errors, validate_bars

# yfinance's error lines can be long (curl messages); the one-line error keeps this much.
_REASON_CHARS = 300

FetchFunction = Callable[[str, date, date], pd.DataFrame]


class _Collect(logging.Handler):
    """Keeps yfinance's error log lines so they can be shown as the reason of a failure."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().strip()
        if text and "Failed download" not in text:
            self.lines.append(" ".join(text.split()))

    def reason(self) -> str:
        """The per-ticker error lines yfinance logged (else every line), once each, shortened."""
        summary = [line for line in self.lines if line.startswith("['")] or self.lines
        text = "; ".join(dict.fromkeys(summary))
        return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."


@contextmanager
def _yfinance_log() -> Iterator[_Collect]:
    logger = logging.getLogger("yfinance")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def fetch_yahoo(symbol: str, start: date, end: date, allow_empty: bool = False) -> pd.DataFrame:
    """Daily bars of `symbol` from `start` to `end` (both included) as canonical bars.

    Uses raw `Close` (auto_adjust=False); `Adj Close` is dropped. An empty answer is a
    `DataError` unless `allow_empty`.
    """
    import yfinance

    where = f"yfinance {symbol}"
    span = f"{start} .. {end}"
    with _yfinance_log() as log, warnings.catch_warnings():
        # yfinance's own pandas deprecation warnings are not the user's business
        warnings.filterwarnings("ignore", module=r"yfinance(\.|$)")
        try:
            raw = yfinance.download(
                symbol,
                start=start.isoformat(),
                end=(end + timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
                auto_adjust=False,
                progress=False,
                actions=False,
            )
        except Exception as exc:
            reason = str(exc).strip() or type(exc).__name__
            raise DataError(
                where, None, f"download of {span} failed: {type(exc).__name__}: {reason}"
            ) from None
    said = f" (yfinance said: {log.reason()})" if log.lines else ""
    if raw is None or raw.empty:
        if allow_empty:
            return empty_bars()
        raise DataError(
            where,
            None,
            f"no data returned for {span}: offline, unknown symbol, or no sessions in range{said}",
        )
    bars = normalize_bars(raw, where, symbol=symbol)
    if bars.empty and not allow_empty:
        raise DataError(where, None, f"only empty rows returned for {span}{said}")
    return bars


@dataclass(frozen=True)
class FetchReport:
    """What `update_from_yahoo` downloaded and changed."""

    symbol: str
    path: Path
    merge: MergeReport
    fetched_from: date | None  # None when nothing had to be downloaded
    fetched_to: date | None
    received: int
    findings: tuple[Finding, ...]
    note: str  # why there was no new data, or ""

    @property
    def no_new_data(self) -> bool:
        """True when the cache did not change (nothing added, nothing revised)."""
        return not self.merge.changed

    def new_findings(self) -> list[Finding]:
        """Findings dated inside the downloaded range (older ones were there before)."""
        if self.fetched_from is None:
            return []
        start = self.fetched_from
        return [f for f in self.findings if f.date is None or f.date >= start]


def update_from_yahoo(
    cache: PriceCache,
    symbol: str,
    start: date | None,
    end: date,
    calendar: SessionCalendar,
    *,
    history_start: date,
    refetch_sessions: int,
    fetch: FetchFunction = fetch_yahoo,
) -> FetchReport:
    """Download what the cache lacks up to `end`, merge, validate and save atomically.

    With a cache, downloads from `refetch_sessions` sessions before its last bar (to catch
    revisions), or from `start` when that is before the first cached bar. Without one, from
    `start`, else from `history_start` (the listing date). Validation errors stop the update
    with the cache untouched. When the cache already holds the latest session on or before
    `end`, nothing is downloaded and the report says "no new data".
    """
    where = f"yfinance {symbol}"
    if start is not None and start > end:
        raise DataError(where, "start", f"{start} is after the end {end}")
    if refetch_sessions < 0:
        raise DataError(where, "refetch_sessions", f"expected 0 or more, got {refetch_sessions}")
    path = cache.path_for(symbol)
    old = cache.load_or_empty(symbol)
    latest = calendar.session_on_or_before(end)

    def nothing(note: str) -> FetchReport:
        _, report = merge_bars(old, empty_bars(), symbol)
        return FetchReport(symbol, path, replace(report, path=path), None, None, 0, (), note)

    if old.empty:
        fetch_from = start or history_start
    else:
        first = pd.Timestamp(old.index[0]).date()
        last = pd.Timestamp(old.index[-1]).date()
        if start is not None and start < first:
            fetch_from = start
        elif last >= latest:
            return nothing(
                f"the cache already holds the latest session on or before {end} ({latest})"
            )
        else:
            fetch_from = calendar.sessions_back(last, refetch_sessions)
    if latest < fetch_from:
        return nothing(f"no {calendar.code} session from {fetch_from} to {end}")

    fetched = fetch(symbol, fetch_from, end)
    dates = pd.DatetimeIndex(fetched.index)
    fetched = fetched.loc[(dates >= pd.Timestamp(fetch_from)) & (dates <= pd.Timestamp(end))]
    if fetched.empty:
        raise DataError(where, None, f"no bars from {fetch_from} to {end} in the download")
    merged, report = merge_bars(old, fetched, symbol)
    findings = validate_bars(merged, calendar, where)
    raise_on_errors(findings, where, "cache untouched")
    if report.changed:
        cache.save(symbol, merged)
    note = ""
    if not report.changed:
        last_received = pd.Timestamp(fetched.index[-1]).date()
        note = f"yfinance has nothing newer than {last_received} up to {end}"
    return FetchReport(
        symbol=symbol,
        path=path,
        merge=replace(report, path=path),
        fetched_from=fetch_from,
        fetched_to=end,
        received=len(fetched),
        findings=tuple(findings),
        note=note,
    )
