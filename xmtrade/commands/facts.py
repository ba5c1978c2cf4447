"""`xmtrade facts check|show|add|fetch`: keeping the fundamentals file current."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xmtrade.commands.dates import parse_day
from xmtrade.errors import ConfigError

if TYPE_CHECKING:
    from xmtrade.config import AppConfig


def register(verbs: Any, common: argparse.ArgumentParser) -> None:
    """Add the `facts` verb and its sub-verbs."""
    parser = verbs.add_parser(
        "facts",
        help="check, show, add to or fetch the fundamentals facts file",
        description="The facts file holds what Xiaomi reported and when it became public. "
        "Check it, see what the strategy knew on a day, add a figure or a revision, or fetch "
        "what yfinance publishes.",
    )
    sub = parser.add_subparsers(dest="facts_verb", metavar="ACTION", parser_class=type(parser))
    sub.required = True

    check = sub.add_parser(
        "check",
        parents=[common],
        help="list every problem of a facts file with its row; exit 2 on errors",
        description="Validate a facts file (default: the config's fundamentals.file) and list "
        "every finding with its row: errors (unknown metric, wrong unit, bad period or date, "
        "announced before the period ends, duplicates, values that are not finite numbers) "
        "and warnings (a quarter missing between two known ones, a full year without its Q4 "
        "report, figures announced after their report or in the future); revisions are listed "
        "as notes. Exit 2 when there is an error.",
    )
    check.add_argument("file", nargs="?", metavar="FILE", help="facts CSV to check")
    check.set_defaults(handler=run_check)

    target = argparse.ArgumentParser(add_help=False)
    target.add_argument(
        "--file",
        metavar="FILE",
        help="facts CSV to use (default: the config's fundamentals.file)",
    )

    add = sub.add_parser(
        "add",
        parents=[common, target],
        help="append a figure (or a revision) to your facts file",
        description="Append one figure to your facts file, or many with --from. A figure for a "
        "metric and period the file already holds is written as a revision row (never an "
        "overwrite). The whole file is checked before it is replaced in one step; a problem "
        "anywhere writes nothing. The facts file packaged with xmtrade is never written.",
    )
    add.add_argument("metric", nargs="?", metavar="METRIC", help="e.g. revenue, ev_gross_margin")
    add.add_argument("period", nargs="?", metavar="PERIOD", help="2025Q4, 2025FY or YYYY-MM-DD")
    add.add_argument("value", nargs="?", metavar="VALUE", help="the figure, in --unit")
    add.add_argument("--announced", metavar="YYYY-MM-DD", help="the day the figure became public")
    add.add_argument("--source", metavar="TEXT", help="where the figure comes from")
    add.add_argument(
        "--unit",
        metavar="UNIT",
        help="the figure's unit (default: the metric's; RMB, RMB_k, RMB_bn convert to RMB_m)",
    )
    add.add_argument(
        "--time",
        dest="announced_time",
        metavar="HH:MM",
        help="announcement time, Hong Kong (default: unknown, used from the next session)",
    )
    add.add_argument("--confidence", choices=("H", "M", "L"), help="confidence grade")
    add.add_argument(
        "--from",
        dest="from_file",
        metavar="CSV",
        help="add every row of a CSV in the facts layout (period_end, unit, source optional)",
    )
    add.add_argument(
        "--dry-run", action="store_true", help="say what would be written, write nothing"
    )
    add.set_defaults(handler=run_add)

    show = sub.add_parser(
        "show",
        parents=[common, target],
        help="what the strategy knew at the decision after the close of a session",
        description="What the strategy knew at the decision after the close of session D: the "
        "newest usable report, each gate test with its figure, threshold and verdict, the "
        "passing streak, ROIC and WACC with the figures behind them, each risk line's state, "
        "TTM revenue per share and the P/S ceiling price, and the next report due. Computed by "
        "the strategy's own code, so it matches the backtest's decision records.",
    )
    show.add_argument(
        "--asof",
        metavar="YYYY-MM-DD",
        help="the session (default: the latest closed one; a non-session day means the last "
        "session before it)",
    )
    show.add_argument("--json", action="store_true", help="one JSON object instead of text")
    show.set_defaults(handler=run_show)

    fetch = sub.add_parser(
        "fetch",
        parents=[common, target],
        help="add the group-level quarterly figures yfinance publishes",
        description="Fetch yfinance's quarterly income statement, balance sheet and earnings "
        "dates and add what the facts file lacks: revenue, gross margin, the full-year "
        "operating profit, profit before tax and income tax (when all four quarters are "
        "there), the year-end equity, borrowings, cash and short-term investments, and the "
        "shares outstanding. New figures are dated by the earnings date; a value that differs "
        "from the file's is added as a revision dated today. EV segment figures and the "
        "smartphone rank are not in yfinance: the command names what it could not refresh.",
    )
    fetch.add_argument(
        "--symbol", metavar="SYMBOL", help="Yahoo symbol (default: instrument.symbol)"
    )
    fetch.add_argument(
        "--announced",
        metavar="YYYY-MM-DD",
        help="the results day of a quarter yfinance gives no earnings date for",
    )
    fetch.add_argument(
        "--dry-run", action="store_true", help="say what would be written, write nothing"
    )
    fetch.set_defaults(handler=run_fetch)


def _facts_path(args: argparse.Namespace, given: str | None) -> tuple[Path, AppConfig | None]:
    """The facts file named on the command line, else the config's."""
    if given:
        return Path(given).expanduser(), None
    from xmtrade.commands.config import load_from_args

    cfg = load_from_args(args)
    return cfg.fundamentals.file, cfg


# ---------------------------------------------------------------------- check


def run_check(args: argparse.Namespace) -> int:
    """Print every finding; exit 2 when the file has errors."""
    from data_feeds.facts_check import check_facts

    path, _ = _facts_path(args, args.file)
    result = check_facts(path)
    print(f"facts check {path}")
    for finding in result.findings:
        print(f"  {finding.line()}")
    verdict = "OK" if result.ok else "NOT USABLE"
    print(f"{result.summary()}: {verdict}")
    if not result.ok:
        print(
            f"xmtrade: error: {path}: {len(result.of('error'))} error(s) above; the strategy "
            "refuses the file until they are fixed",
            file=sys.stderr,
        )
        return 2
    return 0


# ---------------------------------------------------------------------- add


def run_add(args: argparse.Namespace) -> int:
    """Append the figures; print each row written."""
    from data_feeds.facts_write import NewFigure, add_figures, read_new_figures, refuse_packaged

    path, cfg = _facts_path(args, args.file)
    if not args.dry_run:
        refuse_packaged(path)
    today = date.today()
    positional = [args.metric, args.period, args.value]
    if args.from_file:
        if any(p is not None for p in positional):
            raise ConfigError(
                "command line", "--from", "give METRIC PERIOD VALUE or --from CSV, not both"
            )
        default = args.source or f"{Path(args.from_file).name} (xmtrade facts add --from, {today})"
        figures = read_new_figures(Path(args.from_file), default)
        if args.announced or args.unit or args.announced_time or args.confidence:
            raise ConfigError(
                "command line",
                "--from",
                "--announced, --unit, --time and --confidence are columns of the CSV with --from",
            )
    else:
        if any(p is None for p in positional):
            raise ConfigError(
                "command line",
                "METRIC PERIOD VALUE",
                "expected a metric, a period and a value (e.g. revenue 2025Q4 116500 "
                "--announced 2026-03-24), or --from CSV",
            )
        if not args.announced:
            raise ConfigError(
                "command line",
                "--announced",
                "required: the day the figure became public, YYYY-MM-DD",
            )
        figures = [
            NewFigure(
                metric=args.metric,
                period=args.period,
                value=args.value,
                announced=args.announced,
                source=args.source or f"entered by hand (xmtrade facts add, {today})",
                origin="command line",
                unit=args.unit,
                announced_time=args.announced_time,
                confidence=args.confidence,
            )
        ]
    added = add_figures(path, figures, today=today, dry_run=args.dry_run)
    for line in describe_added(added, path, cfg, args):
        print(line)
    return 0


def describe_added(
    added: list[Any], path: Path, cfg: AppConfig | None, args: argparse.Namespace
) -> list[str]:
    """One line per figure: the row written (new or revision) or why nothing was."""
    written = sum(1 for a in added if a.kind != "unchanged")
    verb = "would write" if args.dry_run else "wrote"
    out: list[str] = []
    usable = _usable_days(path, cfg, args, [a for a in added if a.row is not None])
    for a in added:
        value = f"{a.metric} {a.period} = {_shown(a.value)} {a.unit}"
        conversion = f" ({a.note})" if a.note else ""
        if a.kind == "unchanged":
            out.append(
                f"unchanged: {value} is already row {a.previous.row} (announced "
                f"{a.previous.announced}); nothing written"
            )
            continue
        when = usable.get(a.row)
        use = f", used from the decision after the close of {when}" if when else ""
        if a.kind == "revision":
            head = (
                f"row {a.row}: revision of {a.metric} {a.period}: {_shown(a.previous.value)} -> "
                f"{_shown(a.value)} {a.unit}{conversion}, announced {a.announced}{use} (row "
                f"{a.previous.row} stays for the decisions before)"
            )
        else:
            head = f"row {a.row}: {value}{conversion}, announced {a.announced}{use}"
        out.append(head)
    out.append(f"{verb} {written} row(s) to {path}")
    if written and not args.dry_run:
        from data_feeds.facts_check import check_facts

        rows = {a.row for a in added if a.row is not None}
        out += [f"  {f.line()}" for f in check_facts(path).of("warning") if f.row in rows]
        out += _partial_quarter(path, cfg, args)
    return out


def _partial_quarter(path: Path, cfg: AppConfig | None, args: argparse.Namespace) -> list[str]:
    """The gate metrics the newest quarter still lacks, and what the gate reads meanwhile."""
    from data_feeds.calendar import SessionCalendar
    from data_feeds.fundamentals import PointInTimeFacts, read_facts
    from xmtrade.commands.config import load_from_args
    from xmtrade.paper.facts_known import partial_quarter_lines

    cfg = cfg or load_from_args(args)
    calendar = SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)
    try:
        pit = PointInTimeFacts(read_facts(path), calendar, cfg.fundamentals.decision_time)
        return [f"note: {line}" for line in partial_quarter_lines(cfg, pit)]
    except Exception:  # a date past the calendar's end: the checker has said it already
        return []


def _shown(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 1e6 else f"{value:g}"


def _usable_days(
    path: Path, cfg: AppConfig | None, args: argparse.Namespace, rows: list[Any]
) -> dict[int, date]:
    """The first decision session of each written row (with the config's calendar)."""
    if not rows or args.dry_run:
        return {}
    from data_feeds.calendar import SessionCalendar
    from data_feeds.fundamentals import PointInTimeFacts, read_facts
    from xmtrade.commands.config import load_from_args

    cfg = cfg or load_from_args(args)
    calendar = SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)
    pit = PointInTimeFacts(read_facts(path), calendar, cfg.fundamentals.decision_time)
    wanted = {a.row for a in rows}
    out: dict[int, date] = {}
    for fact in pit.facts:
        if fact.row in wanted:
            try:
                out[fact.row] = pit.usable_from(fact)
            except Exception:  # a date past the calendar's end: say nothing rather than fail
                continue
    return out


# ---------------------------------------------------------------------- show


def run_show(args: argparse.Namespace) -> int:
    """Print what the strategy knew at the decision after the close of --asof."""
    import json

    from data_feeds.cache import PriceCache
    from data_feeds.calendar import SessionCalendar
    from data_feeds.fundamentals import PointInTimeFacts, read_facts
    from strategies.fundamental_state import FundamentalTimeline
    from xmtrade.backtest import load_fundamentals
    from xmtrade.commands.config import load_from_args
    from xmtrade.home import prices_dir, resolve_data_dir
    from xmtrade.reports.facts_show import build_view, view_lines
    from xmtrade.reports.figures import json_default

    asked = parse_day(args.asof, "--asof")
    cfg = load_from_args(args)
    calendar = SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)
    if asked is None:
        asked = calendar.latest_closed_session()
    session = calendar.session_on_or_before(asked)
    if args.file:
        path = Path(args.file).expanduser()
        pit = PointInTimeFacts(read_facts(path), calendar, cfg.fundamentals.decision_time)
        timeline = FundamentalTimeline(pit, cfg)
    else:
        path = cfg.fundamentals.file
        timeline = load_fundamentals(cfg, calendar)
    close = None
    bars = PriceCache(prices_dir(resolve_data_dir(args.data_dir))).load_or_empty(
        cfg.instrument.symbol
    )
    if len(bars):
        import pandas as pd

        at = pd.Timestamp(session)
        if at in bars.index:
            close = float(bars["close"].loc[at])
    view = build_view(timeline, cfg, asked, session, close)
    if args.json:
        print(json.dumps(view.as_dict(cfg), default=json_default, sort_keys=True))
        return 0
    for line in view_lines(view, cfg, str(path)):
        print(line)
    return 0


# ---------------------------------------------------------------------- fetch


def run_fetch(args: argparse.Namespace) -> int:
    """Fetch yfinance's statements and add what the file lacks."""
    from data_feeds import facts_yahoo
    from data_feeds.facts_check import check_facts
    from data_feeds.facts_write import add_figures, refuse_packaged
    from xmtrade.commands.config import load_from_args

    announced = parse_day(args.announced, "--announced")
    cfg = load_from_args(args)
    path = Path(args.file).expanduser() if args.file else cfg.fundamentals.file
    if not args.dry_run:
        refuse_packaged(path)
    check = check_facts(path)
    check.raise_on_errors()
    symbol = args.symbol or cfg.instrument.symbol
    today = date.today()
    statements = facts_yahoo.fetch_statements(symbol)
    scan_columns = _columns(path)
    plan = facts_yahoo.plan_fetch(
        statements, check.facts, today, announced, str(path), columns=scan_columns
    )
    added = add_figures(path, plan.figures, today=today, dry_run=args.dry_run)
    print(
        f"yfinance {symbol}: {len(plan.new) + len(plan.revised) + len(plan.unchanged)} figures; "
        f"{len(plan.new)} new, {len(plan.revised)} revised, {len(plan.unchanged)} already in "
        "the file"
    )
    for line in describe_added(added, path, cfg, args):
        print(line)
    for note in plan.notes:
        print(f"note: {note}")
    missing = not_refreshed(cfg)
    if missing:
        print(
            "not in yfinance, so not refreshed: "
            + "; ".join(f"{metric} ({', '.join(uses)})" for metric, uses in missing.items())
        )
        newest = max(plan.new, key=lambda f: f.quarter, default=None)
        if newest is not None:
            day = next(
                (a.announced for a in added if a.kind == "new" and a.period == newest.period),
                None,
            )
            when = day.isoformat() if day else "YYYY-MM-DD"
            for metric in missing:
                print(
                    f"  add: xmtrade facts add {metric} {newest.quarter} VALUE --announced {when}"
                )
        else:
            print(
                "  add them by hand: xmtrade facts add METRIC PERIOD VALUE --announced YYYY-MM-DD"
            )
    return 0


def _columns(path: Path) -> tuple[str, ...]:
    from data_feeds.fundamentals import read_facts_text, scan_facts

    return scan_facts(read_facts_text(path), str(path)).header


DERIVED_FROM: dict[str, tuple[str, ...]] = {
    "roic_pct": ("operating_profit", "profit_before_tax", "income_tax", "total_equity"),
    "roic_minus_wacc_pp": ("operating_profit", "profit_before_tax", "income_tax", "total_equity"),
    "gross_margin_yoy_pp": ("gross_margin",),
    "ev_segment_result_best": ("ev_segment_result",),
}


def not_refreshed(cfg: AppConfig) -> dict[str, list[str]]:
    """The metrics the gate and the risk lines read that yfinance does not give, with who
    reads them."""
    from data_feeds.facts_yahoo import FETCHED_METRICS

    uses: dict[str, list[str]] = {}
    gate = ["ev_gross_margin"] + (["ev_deliveries"] if cfg.gate.ev_scale.enabled else [])
    for metric in gate:
        uses.setdefault(metric, []).append("gate")
    for rule in cfg.risk.rules:
        for metric in DERIVED_FROM.get(rule.metric, (rule.metric,)):
            uses.setdefault(metric, []).append(rule.name)
    return {m: who for m, who in uses.items() if m not in FETCHED_METRICS}


__all__ = ["register"]
