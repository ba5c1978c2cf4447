"""`xmtrade data fetch|import|check`: fill, extend and inspect the local price cache."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xmtrade.commands.dates import parse_window
from xmtrade.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from data_feeds.cache import MergeReport, PriceCache
    from data_feeds.calendar import SessionCalendar
    from data_feeds.validation import Finding
    from xmtrade.config import AppConfig

# At most this many dates are listed one by one; longer lists are shown as a range.
_LIST_AT_MOST = 10


def register(verbs: Any, common: argparse.ArgumentParser) -> None:
    """Add the `data` verb and its sub-verbs."""
    parser = verbs.add_parser("data", help="fetch, import and check daily prices")
    sub = parser.add_subparsers(dest="data_verb", metavar="ACTION", parser_class=type(parser))
    sub.required = True

    fetch = sub.add_parser(
        "fetch",
        parents=[common],
        help="download missing daily bars from Yahoo Finance into the cache",
        description="Download the daily bars the cache lacks (plus the last few sessions, to "
        "catch revisions), validate them and save the cache atomically.",
    )
    fetch.add_argument("--symbol", help="Yahoo ticker (default: instrument.symbol of the config)")
    fetch.add_argument(
        "--start",
        metavar="YYYY-MM-DD",
        help="first session to download when the cache is empty or starts later "
        "(default: the IPO, 2018-07-09)",
    )
    fetch.add_argument(
        "--end",
        metavar="YYYY-MM-DD",
        help="last session to download (default: the latest session whose close is over)",
    )
    fetch.set_defaults(handler=run_fetch)

    imp = sub.add_parser(
        "import",
        parents=[common],
        help="import a price CSV (Yahoo export or date,open,high,low,close,volume)",
        description="Read, normalise and validate a price CSV, then merge it into the cache "
        "(or replace the cache with --replace). Errors stop the import; warnings are kept.",
    )
    imp.add_argument("file", metavar="FILE", help="the CSV file to import")
    imp.add_argument("--symbol", help="Yahoo ticker (default: instrument.symbol of the config)")
    imp.add_argument(
        "--replace", action="store_true", help="replace the cache instead of merging into it"
    )
    imp.set_defaults(handler=run_import)

    check = sub.add_parser(
        "check",
        parents=[common],
        help="validate the cache (or a file) against the HKEX calendar",
        description="List every finding with its date and a summary; exit 1 when any is an error.",
    )
    check.add_argument("--symbol", help="Yahoo ticker (default: instrument.symbol of the config)")
    check.add_argument("--file", metavar="FILE", help="check this CSV instead of the cache")
    check.set_defaults(handler=run_check)


@dataclass(frozen=True)
class _Context:
    config: AppConfig
    symbol: str
    calendar: SessionCalendar
    cache: PriceCache


def _context(args: argparse.Namespace) -> _Context:
    from data_feeds.cache import PriceCache
    from xmtrade.commands.config import load_from_args
    from xmtrade.config import session_calendar
    from xmtrade.home import prices_dir, resolve_data_dir

    cfg = load_from_args(args)
    symbol = args.symbol.strip() if args.symbol else cfg.instrument.symbol
    if args.symbol is not None:
        from data_feeds.symbols import SYMBOL, SYMBOL_EXPECTED

        if not SYMBOL.match(symbol):
            raise ConfigError("command line", "--symbol", f"{SYMBOL_EXPECTED}, got {symbol!r}")
    calendar = session_calendar(cfg)
    cache = PriceCache(prices_dir(resolve_data_dir(args.data_dir)))
    cache.path_for(symbol)  # reject a malformed symbol before any work
    return _Context(cfg, symbol, calendar, cache)


def _dates(days: Sequence[date]) -> str:
    if len(days) <= _LIST_AT_MOST:
        return ", ".join(str(d) for d in days)
    return f"{days[0]} .. {days[-1]}"


def _bars_word(count: int) -> str:
    return f"{count:,} bar" + ("" if count == 1 else "s")


def _print_merge(report: MergeReport) -> None:
    if report.added:
        print(f"added {_bars_word(len(report.added))}: {_dates(report.added)}")
    if report.revised:
        print(f"revised {_bars_word(len(report.revised))} (new values kept):")
        for revision in report.revised:
            print(f"  {revision.describe()}")


def _print_cache(path: Path, bars: pd.DataFrame) -> None:
    span = f", {bars.index[0].date()} .. {bars.index[-1].date()}" if len(bars) else ""
    print(f"cache: {path} ({_bars_word(len(bars))}{span})")


def _print_findings(findings: Sequence[Finding], file: Any = None) -> None:
    for finding in findings:
        print(finding.line(), file=file or sys.stdout)


def run_fetch(args: argparse.Namespace) -> int:
    """Download what the cache lacks and report what was added, revised, or that nothing was."""
    start, end = parse_window(args.start, args.end)
    ctx = _context(args)
    from data_feeds.validation import summary_line
    from data_feeds.yahoo import update_from_yahoo

    for option, day in (("--start", start), ("--end", end)):
        known = (ctx.calendar.first_session, ctx.calendar.last_session)
        if day is not None and not known[0] <= day <= known[1]:
            raise ConfigError(
                "command line",
                option,
                f"{day} is outside the {ctx.calendar.code} calendar's sessions "
                f"({known[0]} .. {known[1]}); a daily bar exists only for a past session",
            )
    if end is None:
        end = ctx.calendar.latest_closed_session()
        if start and end < start:
            raise ConfigError(
                "command line", "--start", f"{start} is after the latest closed session {end}"
            )
    report = update_from_yahoo(
        ctx.cache,
        ctx.symbol,
        start,
        end,
        ctx.calendar,
        history_start=ctx.config.data.history_start,
        refetch_sessions=ctx.config.data.refetch_sessions,
    )
    if report.fetched_from is not None:
        print(
            f"{ctx.symbol}: downloaded {report.fetched_from} .. {report.fetched_to} from "
            f"yfinance ({_bars_word(report.received)})"
        )
    _print_merge(report.merge)
    if report.no_new_data:
        print(f"no new data: {report.note}")
    new = report.new_findings()
    _print_findings([f for f in new if f.severity != "info"])
    if report.findings:
        print(f"cache findings: {summary_line(report.findings)} (details: xmtrade data check)")
    if ctx.cache.exists(ctx.symbol):
        _print_cache(report.path, ctx.cache.load(ctx.symbol))
    else:
        print(f"cache: {report.path} (not written)")
    return 0


def run_import(args: argparse.Namespace) -> int:
    """Import a price CSV into the cache; validation errors stop it with nothing written."""
    from data_feeds.bars import read_price_csv
    from data_feeds.cache import merge_bars
    from data_feeds.validation import raise_on_errors, validate_bars

    ctx = _context(args)
    source = Path(args.file)
    bars = read_price_csv(source)
    findings = validate_bars(bars, ctx.calendar, str(source))
    if any(f.severity == "error" for f in findings):
        _print_findings([f for f in findings if f.severity == "error"], sys.stderr)
    raise_on_errors(findings, str(source), "nothing imported")
    _print_findings(findings)

    if args.replace or not ctx.cache.exists(ctx.symbol):
        before = len(ctx.cache.load(ctx.symbol)) if ctx.cache.exists(ctx.symbol) else 0
        path = ctx.cache.save(ctx.symbol, bars)
        verb = "replaced the cache with" if args.replace and before else "imported"
        was = f" (was {_bars_word(before)})" if args.replace and before else ""
        print(f"{verb} {_bars_word(len(bars))} from {source}{was}")
    else:
        old = ctx.cache.load(ctx.symbol)
        merged, report = merge_bars(old, bars, ctx.symbol)
        merged_findings = validate_bars(merged, ctx.calendar, str(source))
        if any(f.severity == "error" for f in merged_findings):
            _print_findings([f for f in merged_findings if f.severity == "error"], sys.stderr)
        raise_on_errors(merged_findings, str(source), "nothing imported")
        if report.changed:
            ctx.cache.save(ctx.symbol, merged)
        path = ctx.cache.path_for(ctx.symbol)
        print(
            f"merged {_bars_word(len(bars))} from {source}: {len(report.added):,} added, "
            f"{len(report.revised):,} revised, {report.unchanged:,} unchanged"
        )
        _print_merge(report)
    _print_cache(path, ctx.cache.load(ctx.symbol))
    return 0


def run_check(args: argparse.Namespace) -> int:
    """List every finding about the cache (or a file); exit 1 when any is an error."""
    from data_feeds.bars import read_price_csv
    from data_feeds.validation import count_by_severity, summary_line, validate_bars

    ctx = _context(args)
    if args.file:
        where = str(Path(args.file))
        bars = read_price_csv(Path(args.file))
    else:
        where = str(ctx.cache.path_for(ctx.symbol))
        bars = ctx.cache.load(ctx.symbol)
    closures = ", ".join(str(d) for d in ctx.calendar.adhoc_closures) or "none"
    span = f", {bars.index[0].date()} .. {bars.index[-1].date()}" if len(bars) else ""
    print(
        f"checking {where}: {_bars_word(len(bars))}{span} against the {ctx.calendar.code} "
        f"calendar (ad-hoc closures: {closures})"
    )
    findings = validate_bars(bars, ctx.calendar, where)
    _print_findings(findings)
    print(summary_line(findings))
    return 1 if count_by_severity(findings)["error"] else 0
