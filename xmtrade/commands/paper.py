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
    from xmtrade.paper.outcome import StepReport

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
        help="send what a step left unsent, then the account's status (--test: a sample)",
        description="Send the notifications a stopped step did not send, then a short status "
        "of the account (last bar, NAV against buy and hold, P&L, tranches and stops, last run) "
        "to every target paper.notify names: apprise URLs, the webhook, the command. --test "
        "sends a sample message to each target in turn. Exit 1 when a target fails.",
    )
    send.add_argument(
        "--test",
        action="store_true",
        help="send a sample message to each target in turn and say which took it",
    )
    send.set_defaults(handler=run_notify)

    from xmtrade.commands import paper_serve

    paper_serve.register(sub, common)


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


def _account_config(args: argparse.Namespace, account: Account) -> tuple[AppConfig, list[str]]:
    """The config of a command on `account`, and its layers: this folder's (./xmtrade.yaml,
    then each -c) when they are the account's, or when -c or --reset says which to use;
    otherwise the layers the account was made with, wherever the command runs (a timer
    without `cd`), never the packaged defaults in their place."""
    from xmtrade.commands.config import load_from_args
    from xmtrade.config import load_config, user_config_path

    given = [str(Path(p).resolve()) for p in getattr(args, "config", None) or []]
    user = user_config_path()
    here = ([str(user.resolve())] if user is not None else []) + given
    here = list(dict.fromkeys(here))
    if given or getattr(args, "reset", False) or tuple(here) == account.config_layers:
        return load_from_args(args), _layers(args)
    recorded = list(account.config_layers)
    folder = account.home_folder() or "(unknown)"
    missing = [p for p in recorded if not Path(p).is_file()]
    if missing:
        raise ConfigError(
            f"paper account '{account.name}'",
            None,
            f"it was made in {folder} with {', '.join(recorded)}, and {missing[0]} no longer "
            "exists: restore it, or run from that folder with the account's -c files (or "
            "--reset to restart the account on this folder's config)",
        )
    from xmtrade.commands.config import NOTES_SAID

    if "paper-home" not in NOTES_SAID:  # once per command (the CLI clears it)
        NOTES_SAID.add("paper-home")
        layers = ", ".join(recorded) or "the packaged defaults only"
        print(
            f"xmtrade: paper account '{account.name}' was made in {folder}: using its "
            f"config ({layers})",
            file=sys.stderr,
        )
    return load_config([Path(p) for p in recorded]), recorded


def _home_of(cfg: AppConfig) -> tuple[str, str]:
    """The folder a command runs in and the facts file its config names (resolved)."""
    return str(Path.cwd().resolve()), str(Path(cfg.fundamentals.file).resolve())


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
        home=_home_of(cfg)[0],
        facts_file=_home_of(cfg)[1],
    )
    span = f"{history.index[0].date()} .. {history.index[-1].date()}" if len(history) else "none"
    print(
        f"paper account '{account.name}' created in {ledger.where}: {symbol} from {start} "
        f"with HK${cash:,.2f}"
    )
    print(f"config hash {account.config_hash}: {HASH_COVERS}")
    layers = ", ".join(account.config_layers) or "the packaged defaults only"
    print(
        f"home: {account.home}; config {layers}; facts file {account.facts_file} (a step run "
        "from anywhere uses these)"
    )
    print(f"price history frozen into the ledger: {len(history):,} bars ({span})")
    print(f"next: xmtrade paper step --account {account.name}")
    return 0


# ---------------------------------------------------------------------- step


def run_step_command(args: argparse.Namespace) -> int:
    """One step; print what it did and send its notifications."""
    from xmtrade.home import resolve_data_dir
    from xmtrade.interrupts import exit_code
    from xmtrade.paper.step import StepRequest, run_step
    from xmtrade.reports.facts_show import stale_warning

    name = _account_name(args)
    asof = parse_day(args.asof, "--asof")
    data_dir = resolve_data_dir(args.data_dir)
    ledger = _open_ledger(args, data_dir, create=False)
    account = ledger.account(name)
    cfg, layers = _account_config(args, account)
    calendar, cache = _market(cfg, data_dir)
    request = StepRequest(name, asof=asof, offline=args.offline, reset=args.reset)
    try:
        report = run_step(ledger, cfg, calendar, cache, request, layers=layers, home=_home_of(cfg))
    except UserInputError as exc:
        _notify_failure(ledger, account, cfg, exc)
        raise
    notified = False
    try:
        stale = stale_warning(cfg, calendar, report.last_session)
        if stale:
            report.notes.append(stale)  # printed with the notes, before the summary line
        for line in report.lines():
            print(line)
        _, warnings = deliver_unsent(ledger, account, cfg.paper.notify, report.run_id)
        notified = True
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
    except KeyboardInterrupt as exc:
        _say_landed(report, account.name, cfg, notified, exc)
        return exit_code(exc)
    return 0


def deliver_unsent(
    ledger: Ledger, account: Account, cfg: Any, current_run: int | None = None
) -> tuple[int, list[str]]:
    """`xmtrade.paper.notify.deliver_unsent`, imported when used."""
    from xmtrade.paper.notify import deliver_unsent as deliver

    return deliver(ledger, account, cfg, current_run)


def _say_landed(
    report: StepReport, name: str, cfg: AppConfig, notified: bool, exc: BaseException
) -> None:
    """What a stop after the commit leaves: the step landed; its notification went out or
    waits for the next step or `paper notify`."""
    from xmtrade.interrupts import exit_code
    from xmtrade.paper.notify import has_targets

    what = "terminated" if exit_code(exc) == 143 else "interrupted"
    span = f"{report.sessions[0]} .. {report.sessions[-1]}" if report.sessions else "no new session"
    if not has_targets(cfg.paper.notify):
        state = "no notification is configured"
    elif notified:
        state = "its notification went out"
    else:
        state = (
            "its notification was not sent: the next step or "
            f"`xmtrade paper notify --account {name}` sends it"
        )
    print(
        f"xmtrade: {what} after the step landed (run {report.run_id}, {span}, committed to "
        f"the ledger); {state}",
        file=sys.stderr,
    )


def _notify_failure(ledger: Ledger, account: Account, cfg: AppConfig, exc: UserInputError) -> None:
    """Send a refused or failed step's message (stored with its run; sent directly when the
    ledger itself failed)."""
    from xmtrade.paper.events import failure_message
    from xmtrade.paper.notify import has_targets, send_messages

    if not has_targets(cfg.paper.notify):
        return
    try:
        latest = ledger.runs(account, limit=1)
        current = int(latest[0]["id"]) if latest else None
        _, warnings = deliver_unsent(ledger, account, cfg.paper.notify, current)
    except UserInputError:
        message = failure_message(account.name, "failed", exc.line(), cfg.paper.notify.max_length)
        warnings = send_messages([message], {"account": account.name}, cfg.paper.notify)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


# ---------------------------------------------------------------------- run


def run_scheduler(args: argparse.Namespace) -> int:
    """Catch up, then step on every session (or print the next run times with --next)."""
    from datetime import date

    from xmtrade.home import resolve_data_dir
    from xmtrade.paper.ledger import RunRecord, now_utc
    from xmtrade.paper.scheduler import PaperService, check_schedule, next_runs, serve
    from xmtrade.paper.step import StepRequest, account_config_hash, run_step
    from xmtrade.reports.facts_show import stale_warning

    name = _account_name(args)
    if args.next is not None and args.next < 1:
        raise ConfigError("command line", "--next", f"expected 1 or more, got {args.next}")
    data_dir = resolve_data_dir(args.data_dir)
    ledger = _open_ledger(args, data_dir, create=False)
    account = ledger.account(name)
    cfg, layers = _account_config(args, account)
    calendar, cache = _market(cfg, data_dir)
    schedule = cfg.paper.schedule
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

    def step(record_idle: bool) -> StepReport:
        current, _ = _account_config(args, account)  # edits of the config and facts file
        request = StepRequest(name, trigger="scheduler", record_idle=record_idle)
        report = run_step(ledger, current, calendar, cache, request, layers=layers)
        stale = stale_warning(current, calendar, report.last_session)
        if stale:
            report.notes.append(stale)  # logged with the step's lines
        return report

    def record_no_bar(session: date, outcome: str, line: str) -> None:
        from xmtrade.paper.events import STALE, Message
        from xmtrade.paper.notify import has_targets

        current = _account_config(args, account)[0].paper.notify
        message = Message(STALE, f"xmtrade paper {name}: {outcome}", line, {"outcome": outcome})
        run = RunRecord(
            started_at=now_utc(),
            trigger="scheduler",
            outcome=outcome,
            asof=session,
            config_hash=account_config_hash(cfg),
            notes=[line],
            summary=line,
            messages=[message.as_dict()],
            notified=False if has_targets(current) else None,
        )
        ledger.record_run(account, run)

    def send(summary: str, payload: dict[str, Any], title: str | None) -> None:
        # every message waits in the ledger with its run: send what has not gone out
        current = _account_config(args, account)[0].paper.notify
        latest = ledger.runs(account, limit=1)  # the run this message is about: not "late"
        newest = int(latest[0]["id"]) if latest else None
        for warning in deliver_unsent(ledger, account, current, newest)[1]:
            logging.getLogger("xmtrade.paper").warning(warning)

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

    from xmtrade.home import resolve_data_dir
    from xmtrade.paper.step import account_config_hash
    from xmtrade.paper.views import status_lines
    from xmtrade.reports.facts_show import stale_warning

    data_dir = resolve_data_dir(args.data_dir)
    ledger = _open_ledger(args, data_dir, create=False)
    account = ledger.account(_account_name(args))
    cfg, _ = _account_config(args, account)
    calendar, cache = _market(cfg, data_dir)
    cached = cache.load_or_empty(account.symbol)
    lines = status_lines(
        ledger,
        account,
        account_config_hash(cfg),
        latest_closed=calendar.latest_closed_session(),
        cached_through=pd.Timestamp(cached.index[-1]).date() if len(cached) else None,
        today=date.today(),
        next_run=_next_run(cfg, calendar),
    )
    stale = stale_warning(cfg, calendar, account.last_session)
    if stale:
        lines.append(stale)
    return cfg, account, lines


def _next_run(cfg: AppConfig, calendar: SessionCalendar) -> str | None:
    """The next run paper.schedule names, in words (None past the calendar's end)."""
    from xmtrade.paper.scheduler import next_runs

    schedule = cfg.paper.schedule
    try:
        runs = next_runs(datetime.now(ZoneInfo(schedule.timezone)), 1, schedule, calendar)
    except (UserInputError, ValueError):
        return None
    if not runs:
        return None
    return (
        f"{runs[0]:%Y-%m-%d %a %H:%M %Z} (paper.schedule: {schedule.day_of_week} "
        f"{schedule.hour:02d}:{schedule.minute:02d} on {calendar.code} sessions; "
        "run by xmtrade paper run or your timer)"
    )


def run_status(args: argparse.Namespace) -> int:
    """Print the account's state from the ledger."""
    _, _, lines = _account_status(args)
    for line in lines:
        print(line)
    return 0


def run_notify(args: argparse.Namespace) -> int:
    """Send what waits (notifications a stopped step did not send), then the status; with
    --test, a sample message to every target, one by one."""
    from xmtrade.paper.notify import notify
    from xmtrade.paper.outcome import cap
    from xmtrade.reports.terminal import counted

    name = _account_name(args)
    if args.test:
        return _notify_test(args, name)
    cfg, account, lines = _account_status(args)
    targets = cfg.paper.notify
    _require_targets(targets)
    ledger = _open_ledger(args, _data_dir(args), create=False)
    waiting, late_warnings = deliver_unsent(ledger, account, targets)
    for warning in late_warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if waiting:
        print(f"sent {counted(waiting, 'notification')} a step had not sent")
    # the first line names the ledger and the second the hash: a phone needs neither
    title = f"xmtrade paper {account.name} ({account.symbol}): status"
    message = cap("\n".join(_compact(lines[2:])), targets.max_length)
    warnings = notify(
        message, {"account": name, "outcome": "status"}, targets, title=title, log_warnings=False
    )
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    what = f"the status of paper account {account.name} ({len(message):,} characters)"
    if warnings or late_warnings:
        print(f"{what}: {counted(len(warnings) + len(late_warnings), 'target')} failed")
        return 1
    print(f"sent {what}")
    return 0


def _data_dir(args: argparse.Namespace) -> Path:
    from xmtrade.home import resolve_data_dir

    return resolve_data_dir(args.data_dir)


def _require_targets(targets: Any) -> None:
    from xmtrade.paper.notify import has_targets

    if not has_targets(targets):
        raise ConfigError(
            "paper.notify",
            None,
            "names no target: set apprise_urls_env (or webhook_url_env, or command) in "
            "xmtrade.yaml or a -c layer",
        )


def _notify_test(args: argparse.Namespace, name: str) -> int:
    """`paper notify --test`: a sample message to each target in turn, each said ok or not."""
    from xmtrade.paper.events import sample_messages
    from xmtrade.paper.notify import send_messages

    ledger = _open_ledger(args, _data_dir(args), create=False)
    cfg, _ = _account_config(args, ledger.account(name))
    targets = cfg.paper.notify
    _require_targets(targets)
    sample = sample_messages(name)
    each: list[tuple[str, dict[str, Any]]] = []
    if targets.apprise_urls_env is not None:
        env = targets.apprise_urls_env
        each.append((f"apprise (${env})", {"apprise_urls_env": env}))
    if targets.webhook_url_env is not None:
        env = targets.webhook_url_env
        each.append((f"webhook (${env})", {"webhook_url_env": env}))
    if targets.command:
        each.append((f"command {targets.command[0]}", {"command": targets.command}))
    failed = 0
    for label, only in each:
        one = targets.model_copy(
            update={"apprise_urls_env": None, "webhook_url_env": None, "command": None, **only}
        )
        warnings = send_messages(sample, {"account": name, "test": True}, one)
        if warnings:
            failed += 1
            print(f"{label}: failed: {'; '.join(warnings)}")
        else:
            print(f"{label}: sent the test message")
    return 1 if failed else 0


def _latest_closed(result: Any) -> Any:
    """The latest closed session of the account's calendar (None when it cannot be told)."""
    from xmtrade.config import session_calendar

    try:
        return session_calendar(result.config).latest_closed_session()
    except (UserInputError, ValueError):
        return None


def _late_fact_lines(ledger: Ledger, account: Account) -> list[str]:
    """`paper report`'s word on the sessions where the account and a backtest may differ
    because a fact was entered late."""
    from xmtrade.paper import schema as s
    from xmtrade.paper.facts_known import differing_sessions, late_lines

    late = ledger.late_facts(account)
    if not late:
        return []
    sessions = [b["date"] for b in ledger.table(account, s.bars, "date") if b["kind"] == "session"]
    differ = differing_sessions(late, sessions)
    days = ", ".join(str(d) for d in list(differ)[:8]) + (" ..." if len(differ) > 8 else "")
    return [
        *(f"fact entered late: {line}" for line in late_lines(late)),
        f"sessions where this account and a backtest may decide differently: {days or 'none'} "
        "(report.html lists them)",
    ]


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
    import dataclasses

    from xmtrade.commands.paths import out_folder
    from xmtrade.errors import writing
    from xmtrade.home import resolve_data_dir, runs_dir
    from xmtrade.paper.page_sections import account_sections
    from xmtrade.paper.views import ledger_result
    from xmtrade.reports import parse_formats
    from xmtrade.reports.run_folder import write_run
    from xmtrade.reports.stats import run_summary
    from xmtrade.reports.terminal import print_summary

    formats = parse_formats(args.report)
    given_out = out_folder(args.out)  # blank, a dangling link, a file: one line, before work
    name = _account_name(args)
    data_dir = resolve_data_dir(args.data_dir)
    ledger = _open_ledger(args, data_dir, create=False)
    account = ledger.account(name)
    result = ledger_result(ledger, account)
    result = dataclasses.replace(
        result,
        page_sections=account_sections(ledger, account, latest_closed=_latest_closed(result)),
    )
    summary = run_summary(result)
    if given_out is not None:
        out = given_out
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = runs_dir(data_dir) / f"paper-{account.name}-{stamp}"
    with writing(out):  # a full disk names the folder, not "output file"
        folder = write_run(result, summary, out, formats)
    print_summary(summary)
    for line in _late_fact_lines(ledger, account):
        print(line)
    print(f"run folder: {folder}")
    return 0
