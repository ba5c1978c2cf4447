"""`xmtrade paper init|step|run|status|history|report`: the strategy on paper, one session at
a time, on a ledger in the data directory (or any SQLAlchemy URL with --db)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xmtrade.commands.dates import parse_day
from xmtrade.errors import ConfigError, UserInputError

if TYPE_CHECKING:
    from data_feeds.cache import PriceCache
    from data_feeds.calendar import SessionCalendar
    from xmtrade.config import AppConfig
    from xmtrade.paper.ledger import Ledger

DEFAULT_ACCOUNT = "default"


def register(verbs: Any, common: argparse.ArgumentParser) -> None:
    """Add the `paper` verb and its sub-verbs."""
    parser = verbs.add_parser(
        "paper",
        help="paper trading: the strategy every session on a ledger",
        description="Paper trading: the backtest's strategy run session by session on a ledger "
        "(SQLite in the data directory unless --db says otherwise).",
    )
    sub = parser.add_subparsers(dest="paper_verb", metavar="ACTION", parser_class=type(parser))
    sub.required = True
    ledger = argparse.ArgumentParser(add_help=False)
    ledger.add_argument(
        "--account",
        default=DEFAULT_ACCOUNT,
        metavar="NAME",
        help=f"paper account (default: {DEFAULT_ACCOUNT})",
    )
    ledger.add_argument(
        "--db",
        metavar="URL",
        help="ledger: a file path or a SQLAlchemy URL (default: DATA_DIR/paper.sqlite)",
    )
    parents = [common, ledger]

    init = sub.add_parser(
        "init",
        parents=parents,
        help="create a paper account bound to the config",
        description="Create a paper account: its start session, starting cash and config (by "
        "hash), and a frozen copy of the price history before the start.",
    )
    init.add_argument(
        "--start",
        metavar="YYYY-MM-DD",
        help="first session (default: the next session whose close is still to come)",
    )
    init.add_argument(
        "--cash", metavar="HKD", help="starting cash (default: backtest.initial_nav of the config)"
    )
    init.add_argument(
        "--offline", action="store_true", help="use the price cache only (no download)"
    )
    init.set_defaults(handler=run_init)

    step = sub.add_parser(
        "step",
        parents=parents,
        help="process every session not yet processed (fills, then the decision after the close)",
        description="Bring prices up to date, then for every session not yet processed up to "
        "the newest bar on or before --asof: fill pending orders at the open or at the stop, "
        "decide after the close, record the new orders. One transaction; running it again "
        "with no new bar changes nothing.",
    )
    step.add_argument(
        "--asof",
        metavar="YYYY-MM-DD",
        help="process sessions up to this date (default: the latest closed session)",
    )
    step.add_argument(
        "--offline", action="store_true", help="use the price cache only (no download)"
    )
    step.add_argument(
        "--reset",
        action="store_true",
        help="clear the account's sessions and replay them from its start with this config",
    )
    step.set_defaults(handler=run_step_command)

    run = sub.add_parser(
        "run",
        parents=parents,
        help="run a step on every session after the close (APScheduler)",
        description="Catch up what was missed, then run a step on every session at the time "
        "paper.schedule says, retrying until paper.retry.cutoff while the bar is not published.",
    )
    run.add_argument(
        "--next",
        type=int,
        metavar="N",
        help="print the next N run times and exit",
    )
    run.set_defaults(handler=run_scheduler)

    status = sub.add_parser(
        "status",
        parents=parents,
        help="cash, position, tranches and stops, working orders, risk lines, NAV, last run",
        description="Show a paper account: cash, position and weight, the tranches held with "
        "their stops, the working orders, the stage, each risk line's state, NAV and drawdown, "
        "and the last run with its outcome.",
    )
    status.set_defaults(handler=run_status)

    history = sub.add_parser(
        "history",
        parents=parents,
        help="every fill and the NAV of every session",
        description="List every fill of a paper account with its fees, then NAV, cash, shares, "
        "weight, drawdown and stage of every session.",
    )
    history.add_argument("--since", metavar="YYYY-MM-DD", help="from this date on")
    history.set_defaults(handler=run_history)

    report = sub.add_parser(
        "report",
        parents=parents,
        help="the backtest's run folder (summary, trades, fills, equity, chart) from the ledger",
        description="Write the backtest's run folder (summary.json, trades.csv, fills.csv, "
        "equity.csv, decisions.jsonl, chart.png) from the ledger alone.",
    )
    report.add_argument(
        "--out",
        metavar="DIR",
        help="run folder (default: a new folder under DATA_DIR/runs)",
    )
    report.set_defaults(handler=run_report)


# ---------------------------------------------------------------------- shared


def _account_name(args: argparse.Namespace) -> str:
    from xmtrade.paper.ledger import check_account_name

    return check_account_name(args.account)


def _open_ledger(args: argparse.Namespace, data_dir: Path, create: bool) -> Ledger:
    from xmtrade.paper.ledger import Ledger, default_target

    if args.db is None:
        return Ledger.open(default_target(data_dir), create)
    # a --db in a folder that does not exist is most likely a typo: refuse, create nothing
    return Ledger.open(args.db, create, make_folder=False)


def _market(cfg: AppConfig, data_dir: Path) -> tuple[SessionCalendar, PriceCache]:
    from data_feeds.cache import PriceCache
    from xmtrade.config import session_calendar
    from xmtrade.home import prices_dir

    calendar = session_calendar(cfg)
    return calendar, PriceCache(prices_dir(data_dir))


def _layers(args: argparse.Namespace) -> list[str]:
    return [str(Path(p).resolve()) for p in args.config]


def parse_cash(value: str | None) -> float | None:
    """`--cash`: a positive HK$ amount (commas allowed)."""
    if value is None:
        return None
    try:
        cash = float(value.replace(",", "").replace("_", "").strip())
    except ValueError:
        cash = math.nan
    if not math.isfinite(cash) or cash <= 0:
        raise ConfigError(
            "command line", "--cash", f"expected a positive amount in HK$, got {value!r}"
        )
    return cash


# ---------------------------------------------------------------------- init


def run_init(args: argparse.Namespace) -> int:
    """Create the account with its frozen price history."""
    import pandas as pd

    from xmtrade.commands.config import load_from_args
    from xmtrade.errors import DataError
    from xmtrade.home import resolve_data_dir
    from xmtrade.paper.step import account_config_hash, read_facts_file

    name = _account_name(args)
    asked = parse_day(args.start, "--start")
    cash_arg = parse_cash(args.cash)
    cfg = load_from_args(args)
    cash = cash_arg if cash_arg is not None else cfg.backtest.initial_nav
    data_dir = resolve_data_dir(args.data_dir)
    calendar, cache = _market(cfg, data_dir)
    if asked is None:
        start = calendar.next_session(calendar.latest_closed_session())
    else:
        if not calendar.is_session(asked):
            raise ConfigError(
                "command line",
                "--start",
                f"{asked} is not an {calendar.code} session (the next one is "
                f"{calendar.next_session(asked)})",
            )
        start = asked
    ledger = _open_ledger(args, data_dir, create=True)
    if ledger.find_account(name) is not None:
        raise ConfigError(
            "--account",
            None,
            f"paper account '{name}' already exists in {ledger.where}; choose another name, "
            "or restart it with a new config: xmtrade paper step --reset",
        )
    symbol = cfg.instrument.symbol
    before = calendar.previous_session(start)
    have = cache.load_or_empty(symbol)
    if not args.offline and (have.empty or have.index[-1] < pd.Timestamp(before)):
        from data_feeds.yahoo import update_from_yahoo

        update_from_yahoo(
            cache,
            symbol,
            None,
            before,
            calendar,
            history_start=cfg.data.history_start,
            refetch_sessions=cfg.data.refetch_sessions,
        )
    bars = cache.load(symbol)
    newest = bars.index[-1].date()
    if newest < before:
        raise DataError(
            str(cache.path_for(symbol)),
            None,
            f"the prices end at {newest}; an account starting on {start} needs every bar up "
            f"to {before}"
            + (" (run `xmtrade data fetch` first)" if args.offline else " (the source has none)"),
        )
    history = bars.loc[bars.index < pd.Timestamp(start)]
    digest, content = read_facts_file(cfg)
    account = ledger.create_account(
        name=name,
        symbol=symbol,
        start=start,
        cash=cash,
        config_hash=account_config_hash(cfg),
        config_yaml=cfg.to_yaml(),
        config_layers=_layers(args),
        facts_digest=digest,
        facts_content=content,
        history=history,
    )
    span = f"{history.index[0].date()} .. {history.index[-1].date()}" if len(history) else "none"
    print(
        f"paper account '{account.name}' created in {ledger.where}: {symbol} from {start} "
        f"with HK${cash:,.2f}; config {account.config_hash}"
    )
    print(f"price history frozen into the ledger: {len(history):,} bars ({span})")
    print(f"next: xmtrade paper step --account {account.name}")
    return 0


# ---------------------------------------------------------------------- step


def run_step_command(args: argparse.Namespace) -> int:
    """One step; print what it did and send the summary."""
    from xmtrade.commands.config import load_from_args
    from xmtrade.home import resolve_data_dir
    from xmtrade.paper.notify import notify
    from xmtrade.paper.scheduler import payload_of
    from xmtrade.paper.step import StepRequest, run_step

    name = _account_name(args)
    asof = parse_day(args.asof, "--asof")
    cfg = load_from_args(args)
    data_dir = resolve_data_dir(args.data_dir)
    ledger = _open_ledger(args, data_dir, create=False)
    calendar, cache = _market(cfg, data_dir)
    request = StepRequest(name, asof=asof, offline=args.offline, reset=args.reset)
    try:
        report = run_step(ledger, cfg, calendar, cache, request, layers=_layers(args))
    except UserInputError as exc:
        for warning in notify(
            f"xmtrade paper {name}: step failed: {exc.line()}",
            {"account": name, "outcome": "failed"},
            cfg.paper.notify,
            log_warnings=False,
        ):
            print(f"warning: {warning}", file=sys.stderr)
        raise
    for line in report.lines():
        print(line)
    sent = notify(report.summary(), payload_of(report), cfg.paper.notify, log_warnings=False)
    for warning in sent:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------- run


def run_scheduler(args: argparse.Namespace) -> int:
    """Catch up, then step on every session (or print the next run times with --next)."""
    import logging
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from xmtrade.commands.config import load_from_args
    from xmtrade.home import resolve_data_dir
    from xmtrade.paper.ledger import RunRecord, now_utc
    from xmtrade.paper.notify import notify
    from xmtrade.paper.outcome import StepReport
    from xmtrade.paper.scheduler import PaperService, check_schedule, next_runs, serve
    from xmtrade.paper.step import StepRequest, account_config_hash, run_step

    name = _account_name(args)
    cfg = load_from_args(args)
    data_dir = resolve_data_dir(args.data_dir)
    calendar, cache = _market(cfg, data_dir)
    schedule = cfg.paper.schedule
    if args.next is not None and args.next < 1:
        raise ConfigError("command line", "--next", f"expected 1 or more, got {args.next}")
    ledger = _open_ledger(args, data_dir, create=False)
    account = ledger.account(name)
    check_schedule(schedule, calendar)
    if args.next is not None:
        runs = next_runs(datetime.now(ZoneInfo(schedule.timezone)), args.next, schedule, calendar)
        for when in runs:
            print(f"{when:%Y-%m-%d %a %H:%M %Z}")
        if len(runs) < args.next:
            print(
                f"note: the {calendar.code} calendar ends at {calendar.last_session}; "
                "later run times are not known yet",
                file=sys.stderr,
            )
        return 0
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # yfinance's own error lines reach the log inside the step's one-line reason
    logging.getLogger("yfinance").propagate = False
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    layers = _layers(args)

    def step(record_idle: bool) -> StepReport:
        current = load_from_args(args)  # picks up edits of the config and the facts file
        request = StepRequest(name, trigger="scheduler", record_idle=record_idle)
        return run_step(ledger, current, calendar, cache, request, layers=layers)

    def record_no_bar(session: date, line: str) -> None:
        run = RunRecord(
            started_at=now_utc(),
            trigger="scheduler",
            outcome="no bar published",
            asof=session,
            config_hash=account_config_hash(cfg),
            notes=[line],
            summary=line,
        )
        ledger.record_run(account, run)

    def send(summary: str, payload: dict[str, Any]) -> None:
        notify(summary, {"account": name, **payload}, load_from_args(args).paper.notify)

    service = PaperService(
        step=step,
        record_no_bar=record_no_bar,
        notify=send,
        schedule=schedule,
        retry=cfg.paper.retry,
        calendar=calendar,
    )
    serve(service, schedule, calendar)
    return 0


# ---------------------------------------------------------------------- status, history, report


def run_status(args: argparse.Namespace) -> int:
    """Print the account's state from the ledger."""
    from xmtrade.commands.config import load_from_args
    from xmtrade.home import resolve_data_dir
    from xmtrade.paper.step import account_config_hash
    from xmtrade.paper.views import status_lines

    name = _account_name(args)
    cfg = load_from_args(args)
    ledger = _open_ledger(args, resolve_data_dir(args.data_dir), create=False)
    account = ledger.account(name)
    for line in status_lines(ledger, account, account_config_hash(cfg)):
        print(line)
    return 0


def run_history(args: argparse.Namespace) -> int:
    """Print every fill and the NAV per session."""
    from xmtrade.home import resolve_data_dir
    from xmtrade.paper.views import history_lines

    name = _account_name(args)
    since = parse_day(args.since, "--since")
    ledger = _open_ledger(args, resolve_data_dir(args.data_dir), create=False)
    account = ledger.account(name)
    for line in history_lines(ledger, account, since):
        print(line)
    return 0


def run_report(args: argparse.Namespace) -> int:
    """Write the backtest's run folder from the ledger."""
    from datetime import datetime

    from xmtrade.home import resolve_data_dir, runs_dir
    from xmtrade.paper.views import ledger_result
    from xmtrade.report import metrics_table, summarize, write_run

    name = _account_name(args)
    data_dir = resolve_data_dir(args.data_dir)
    ledger = _open_ledger(args, data_dir, create=False)
    account = ledger.account(name)
    result = ledger_result(ledger, account)
    summary = summarize(result)
    if args.out:
        out = Path(args.out)
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = runs_dir(data_dir) / f"paper-{account.name}-{stamp}"
    folder = write_run(result, summary, out)
    print(metrics_table(summary))
    print(f"run folder: {folder}")
    return 0
