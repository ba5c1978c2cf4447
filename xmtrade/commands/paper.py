"""`xmtrade paper init|step|run|status|history|report`: the strategy on paper, one session at
a time, on a ledger in the data directory (or any SQLAlchemy URL with --db)."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from xmtrade.commands.dates import parse_day
from xmtrade.errors import ConfigError, UserInputError

if TYPE_CHECKING:
    from data_feeds.cache import PriceCache
    from data_feeds.calendar import SessionCalendar
    from xmtrade.config import AppConfig
    from xmtrade.paper.ledger import Account, Ledger

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
        help="the backtest's run folder (summary, trades, fills, equity, report) from the ledger",
        description="Write the backtest's run folder (summary.json, trades.csv, fills.csv, "
        "equity.csv, decisions.jsonl, report.html, chart.png) from the ledger alone.",
    )
    from xmtrade.reports import add_report_option

    add_report_option(report)
    report.add_argument(
        "--out",
        metavar="DIR",
        help="run folder (default: a new folder under DATA_DIR/runs)",
    )
    report.set_defaults(handler=run_report)

    send = sub.add_parser(
        "notify",
        parents=parents,
        help="send the account's status to the configured notifications (to try them)",
        description="Send a short status of the account (last bar, NAV against buy and hold, "
        "P&L, tranches and stops, last run) to every target paper.notify names: apprise "
        "URLs, the webhook, the command. Exit 1 when a target fails.",
    )
    send.set_defaults(handler=run_notify)


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
    from xmtrade.commands.config import config_files

    return [str(p.resolve()) for p in config_files(args)]


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

    from data_feeds.facts_check import require_usable_facts
    from xmtrade.commands.config import load_from_args
    from xmtrade.config import HASH_COVERS
    from xmtrade.errors import DataError
    from xmtrade.home import resolve_data_dir
    from xmtrade.paper.step import account_config_hash, read_facts_file

    name = _account_name(args)
    asked = parse_day(args.start, "--start")
    cash_arg = parse_cash(args.cash)
    cfg = load_from_args(args)
    require_usable_facts(cfg.fundamentals.file)  # a broken facts file is never accepted
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
        f"with HK${cash:,.2f}"
    )
    print(f"config hash {account.config_hash}: {HASH_COVERS}")
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
    from xmtrade.reports.facts_show import stale_warning

    stale = stale_warning(cfg, calendar, report.last_session)
    if stale:
        report.notes.append(stale)  # printed with the notes, before the summary line
    for line in report.lines():
        print(line)
    sent = notify(
        report.message(cfg.paper.notify.max_length),
        payload_of(report),
        cfg.paper.notify,
        title=report.title(),
        log_warnings=False,
    )
    for warning in sent:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------- run


def run_scheduler(args: argparse.Namespace) -> int:
    """Catch up, then step on every session (or print the next run times with --next)."""
    from datetime import date

    from xmtrade.commands.config import load_from_args
    from xmtrade.home import resolve_data_dir
    from xmtrade.paper.ledger import RunRecord, now_utc
    from xmtrade.paper.notify import notify
    from xmtrade.paper.outcome import StepReport
    from xmtrade.paper.scheduler import PaperService, check_schedule, next_runs, serve
    from xmtrade.paper.step import StepRequest, account_config_hash, run_step
    from xmtrade.reports.facts_show import stale_warning

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
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ZonedFormatter(ZoneInfo(schedule.timezone)))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # yfinance's own error lines reach the log inside the step's one-line reason
    logging.getLogger("yfinance").propagate = False
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    layers = _layers(args)

    def step(record_idle: bool) -> StepReport:
        current = load_from_args(args)  # picks up edits of the config and the facts file
        request = StepRequest(name, trigger="scheduler", record_idle=record_idle)
        report = run_step(ledger, current, calendar, cache, request, layers=layers)
        stale = stale_warning(current, calendar, report.last_session)
        if stale:
            report.notes.append(stale)  # logged with the step's lines
        return report

    def record_no_bar(session: date, outcome: str, line: str) -> None:
        run = RunRecord(
            started_at=now_utc(),
            trigger="scheduler",
            outcome=outcome,
            asof=session,
            config_hash=account_config_hash(cfg),
            notes=[line],
            summary=line,
        )
        ledger.record_run(account, run)

    def send(summary: str, payload: dict[str, Any], title: str | None) -> None:
        current = load_from_args(args).paper.notify
        notify(summary, {"account": name, **payload}, current, title=title)

    service = PaperService(
        step=step,
        record_no_bar=record_no_bar,
        notify=send,
        schedule=schedule,
        retry=cfg.paper.retry,
        calendar=calendar,
        max_length=cfg.paper.notify.max_length,
    )
    serve(service, schedule, calendar)
    return 0


class ZonedFormatter(logging.Formatter):
    """Log lines stamped in the schedule's time zone, with the zone (`... 17:15:02 HKT`), so
    the log and the run times it names read on one clock; continuation lines indented."""

    def __init__(self, zone: ZoneInfo) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")
        self.zone = zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The record's time in the schedule's zone."""
        return f"{datetime.fromtimestamp(record.created, self.zone):%Y-%m-%d %H:%M:%S %Z}"

    def format(self, record: logging.LogRecord) -> str:
        """One record, its later lines indented under the first."""
        return super().format(record).replace("\n", "\n    ")


# ---------------------------------------------------------------------- status, history, report


def _account_status(args: argparse.Namespace) -> tuple[AppConfig, Account, list[str]]:
    """The config, the account and its status lines (the staleness warning last)."""
    from datetime import date

    import pandas as pd

    from xmtrade.commands.config import load_from_args
    from xmtrade.home import resolve_data_dir
    from xmtrade.paper.step import account_config_hash
    from xmtrade.paper.views import status_lines
    from xmtrade.reports.facts_show import stale_warning

    cfg = load_from_args(args)
    data_dir = resolve_data_dir(args.data_dir)
    ledger = _open_ledger(args, data_dir, create=False)
    account = ledger.account(_account_name(args))
    calendar, cache = _market(cfg, data_dir)
    cached = cache.load_or_empty(account.symbol)
    lines = status_lines(
        ledger,
        account,
        account_config_hash(cfg),
        latest_closed=calendar.latest_closed_session(),
        cached_through=pd.Timestamp(cached.index[-1]).date() if len(cached) else None,
        today=date.today(),
    )
    stale = stale_warning(cfg, calendar, account.last_session)
    if stale:
        lines.append(stale)
    return cfg, account, lines


def run_status(args: argparse.Namespace) -> int:
    """Print the account's state from the ledger."""
    _, _, lines = _account_status(args)
    for line in lines:
        print(line)
    return 0


def run_notify(args: argparse.Namespace) -> int:
    """Send the status to the configured notifications now."""
    from xmtrade.commands.config import load_from_args
    from xmtrade.paper.notify import notify
    from xmtrade.paper.outcome import cap
    from xmtrade.reports.terminal import counted

    name = _account_name(args)
    targets = load_from_args(args).paper.notify
    if targets.apprise_urls_env is None and targets.webhook_url_env is None and not targets.command:
        raise ConfigError(
            "paper.notify",
            None,
            "names no target: set apprise_urls_env (or webhook_url_env, or command) in "
            "xmtrade.yaml or a -c layer",
        )
    _, account, lines = _account_status(args)
    # the first line names the ledger and the second the hash: a phone needs neither
    title = f"xmtrade paper {account.name} ({account.symbol}): status"
    message = cap("\n".join([title, *_compact(lines[2:])]), targets.max_length)
    warnings = notify(
        message, {"account": name, "outcome": "status"}, targets, title=title, log_warnings=False
    )
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    what = f"the status of paper account {account.name} ({len(message):,} characters)"
    if warnings:
        print(f"{what}: {counted(len(warnings), 'target')} failed")
        return 1
    print(f"sent {what}")
    return 0


def _compact(lines: list[str]) -> list[str]:
    """Status lines for a small screen: the risk lines and the working orders each on one
    line (`risk lines: line1 ok, line2 ok, line3 ok`)."""
    out: list[str] = []
    joining = False
    for line in lines:
        if joining and line.startswith("  "):
            out[-1] += ("" if out[-1].endswith(":") else ",") + " " + line.strip()
            continue
        joining = line.startswith(("risk lines:", "working orders ("))
        out.append(line)
    return out


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
    from xmtrade.home import resolve_data_dir, runs_dir
    from xmtrade.paper.views import ledger_result
    from xmtrade.reports import parse_formats
    from xmtrade.reports.run_folder import write_run
    from xmtrade.reports.stats import run_summary
    from xmtrade.reports.terminal import print_summary

    formats = parse_formats(args.report)
    name = _account_name(args)
    data_dir = resolve_data_dir(args.data_dir)
    ledger = _open_ledger(args, data_dir, create=False)
    account = ledger.account(name)
    result = ledger_result(ledger, account)
    summary = run_summary(result)
    if args.out:
        out = Path(args.out)
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = runs_dir(data_dir) / f"paper-{account.name}-{stamp}"
    folder = write_run(result, summary, out, formats)
    print_summary(summary)
    print(f"run folder: {folder}")
    return 0
