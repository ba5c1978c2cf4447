"""What the ledger says, for people: `paper status`, `paper history`, and `paper report`'s
`BacktestResult` rebuilt from the ledger (so the report writer draws the same folder a
backtest writes)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from xmtrade.config import AppConfig, default_config_path, merge_layers, read_yaml_mapping
from xmtrade.config import validate_config as _validate
from xmtrade.errors import DataError
from xmtrade.paper import schema as s
from xmtrade.paper.ledger import Account, Ledger, bars_frame
from xmtrade.paper.records import FILL_FIELDS, describe_order
from xmtrade.paper.step import with_cash
from xmtrade.paper.unfilled import OrderNotFilled, orders_not_filled
from xmtrade.reports.terminal import counted

if TYPE_CHECKING:
    from xmtrade.backtest import BacktestResult

__all__ = [
    "OrderNotFilled",
    "account_config",
    "history_lines",
    "ledger_result",
    "orders_not_filled",
    "status_lines",
]

STAGE_NAMES = {0: "flat", 1: "tactical", 2: "core", 3: "full"}
HKT = "Asia/Hong_Kong"


def account_config(account: Account) -> AppConfig:
    """The config the account is bound to (stored at init or --reset), layered over today's
    packaged defaults so that a key added since still has its value."""
    try:
        stored = yaml.safe_load(account.config_yaml)
    except yaml.YAMLError:
        stored = None
    if not isinstance(stored, dict):
        raise DataError(f"paper account '{account.name}'", "config", "the stored config is damaged")
    default = default_config_path()
    where = f"paper account '{account.name}' (stored config)"
    merged, origin = merge_layers([(str(default), read_yaml_mapping(default)), (where, stored)])
    return _validate(merged, origin, [str(default), where])


# ---------------------------------------------------------------------- status


def status_lines(
    ledger: Ledger,
    account: Account,
    config_hash: str | None,
    *,
    latest_closed: date | None = None,
    cached_through: date | None = None,
    today: date | None = None,
    next_run: str | None = None,
) -> list[str]:
    """What a trader reads each evening, one section after the other (a section is a list
    of lines, so another line slots in where it belongs): the account and its config, the
    last bar and how fresh it is, NAV against buy and hold, P&L and fees, the position and
    each tranche's unrealised P&L and distance to its stop, the working orders, the stage and
    risk lines, and the last runs.

    `latest_closed` is the latest session whose close has passed (for the staleness
    warning), `cached_through` the price cache's newest bar, `next_run` the next scheduled
    run in words. On an account whose last step was refused, no line advises a step."""
    equity = ledger.table(account, s.equity, "date")
    sessions = [b for b in ledger.table(account, s.bars, "date") if b["kind"] == "session"]
    tranches = ledger.table(account, s.tranches, "id")
    fills = ledger.table(account, s.fills, "seq")
    last_runs = ledger.runs(account, limit=1)
    refused = last_runs[0] if last_runs and last_runs[0]["outcome"] == "refused" else None
    out = _account_lines(ledger, account, config_hash)
    if not equity or not sessions:
        out.append("no session processed yet: run xmtrade paper step")
        out += _freshness_lines(account, None, latest_closed, cached_through, today)
    else:
        last_bar = sessions[-1]
        out += _freshness_lines(account, last_bar, latest_closed, cached_through, today)
        out += _performance_lines(account, equity, sessions, tranches, fills)
        out += _position_lines(equity[-1], tranches, float(last_bar["close"]))
        stage = int(equity[-1]["stage"])
        out.append(f"stage {stage} ({STAGE_NAMES.get(stage, '?')})")
        out += _line_states(ledger, account, ledger.loads(s.equity.name, equity[-1]["lines"]))
    if not equity:
        out.append("tranches held: none")
    out += _order_lines(ledger, account)
    if account.last_session is not None:
        out += _today_not_filled(ledger, account, account.last_session)
    out += _run_lines(ledger, account)
    if next_run is not None:
        out.append(f"next scheduled run: {next_run}")
    if refused is not None:
        out = [_no_step_advice(line) for line in out]
        out.append(
            "warning: the last step was refused, and a step with the same inputs is refused "
            "again: fix what its line says (or restart the account on purpose with --reset)"
        )
    return out


def _no_step_advice(line: str) -> str:
    """A status line without its advice to run a step (on a refused account)."""
    for advice in (
        ": xmtrade paper step --offline processes them",
        "; run xmtrade paper step to fetch and process it",
        ": run xmtrade paper step",
    ):
        line = line.replace(advice, "")
    return line


def _today_not_filled(ledger: Ledger, account: Account, last: date) -> list[str]:
    """The orders not filled (and signals not ordered) on the last processed session."""
    today = [o for o in orders_not_filled(ledger, account, since=last) if o.session == last]
    if not today:
        return [f"orders not filled on {last}: none"]
    return [f"orders not filled on {last}:", *(f"  {o.describe()}" for o in today)]


def _account_lines(ledger: Ledger, account: Account, config_hash: str | None) -> list[str]:
    out = [
        f"paper account {account.name}: {account.symbol} from {account.start}, "
        f"HK${account.initial_cash:,.2f} at the start; ledger {ledger.where}"
    ]
    if config_hash is None or config_hash == account.config_hash:
        out.append(f"config hash {account.config_hash} (this config matches)")
    else:
        out.append(
            f"config hash {account.config_hash}; this config is {config_hash}: the next step "
            "refuses it (pass the account's -c files, or --reset)"
        )
    return out


def _freshness_lines(
    account: Account,
    last_bar: dict[str, Any] | None,
    latest_closed: date | None,
    cached_through: date | None,
    today: date | None,
) -> list[str]:
    """The last bar's date and close, and a warning when the ledger is behind the market."""
    out: list[str] = []
    last: date | None = last_bar["date"] if last_bar else None
    if last_bar is not None and last is not None:
        age = f", {counted((today - last).days, 'day')} ago" if today else ""
        out.append(f"last bar: {last} close {float(last_bar['close']):g}{age}")
    behind_market = latest_closed is not None and (last is None or last < latest_closed)
    if latest_closed is not None and latest_closed >= account.start and behind_market:
        behind = f"the ledger ends at {last}" if last else "nothing is processed yet"
        how = (
            f"the price cache has bars to {cached_through}: xmtrade paper step --offline "
            "processes them"
            if cached_through is not None and (last is None or cached_through > last)
            else "run xmtrade paper step to fetch and process it"
        )
        out.append(f"warning: stale: {behind}, the latest closed session is {latest_closed}; {how}")
    return out


def _performance_lines(
    account: Account,
    equity: list[dict[str, Any]],
    sessions: list[dict[str, Any]],
    tranches: list[dict[str, Any]],
    fills: list[dict[str, Any]],
) -> list[str]:
    last = equity[-1]
    change = last["nav"] / account.initial_cash - 1.0
    first_close, last_close = float(sessions[0]["close"]), float(sessions[-1]["close"])
    hold = last_close / first_close - 1.0
    realised = sum(float(t["pnl"] or 0.0) for t in tranches if t["exit_reason"] != "open")
    closed = sum(1 for t in tranches if t["exit_reason"] != "open")
    fees = sum(float(f["fees"]) for f in fills)
    return [
        f"processed through {last['date']} ({counted(len(equity), 'session')}); "
        f"NAV HK${last['nav']:,.2f} ({change:+.2%} since the start), "
        f"drawdown {last['drawdown']:.2%}",
        f"buy and hold: {hold:+.2%} since the close of {sessions[0]['date']} "
        f"({first_close:g} -> {last_close:g}); "
        f"the account {(change - hold) * 100:+.2f} pp against it",
        f"realised P&L {_signed(realised)} after fees ({counted(closed, 'tranche')} closed); "
        f"fees to date HK${fees:,.2f} ({counted(len(fills), 'fill')})",
    ]


def _position_lines(
    last: dict[str, Any], tranches: list[dict[str, Any]], close: float
) -> list[str]:
    out = [
        f"cash HK${last['cash']:,.2f}; position {last['shares']:,} shares worth "
        f"HK${last['position_value']:,.2f} ({last['weight']:.2%} of NAV)"
    ]
    held = [t for t in tranches if t["exit_reason"] == "open"]
    if not held:
        out.append("tranches held: none")
        return out
    total = 0.0
    out.append(f"tranches held (at the last close, {close:g}; unrealised P&L after entry fees):")
    for t in held:
        unrealised = (close - float(t["entry_price"])) * int(t["shares"]) - float(t["fees"])
        total += unrealised
        stop = t["stop_price"]
        if stop is None:
            to_stop = "no stop"
        else:
            room = (close - float(stop)) / close
            where = (
                f"{room:.2%} below the close"
                if room >= 0
                else f"{-room:.2%} above the close: it sells at the next open"
            )
            to_stop = f"stop {float(stop):g} ({where})"
        out.append(
            f"  tranche {t['id']} stage {t['stage']}: {int(t['shares']):,} @ "
            f"{float(t['entry_price']):g} since {t['entry_date']}, "
            f"held {counted(int(t['sessions_held']), 'session')}; unrealised "
            f"{_signed(unrealised)}; {to_stop} (initial {t['initial_stop']:g})"
        )
    out.append(f"  unrealised P&L in all: {_signed(total)}")
    return out


def _signed(amount: float) -> str:
    return f"{'-' if amount < 0 else '+'}HK${abs(amount):,.2f}"


def _order_lines(ledger: Ledger, account: Account) -> list[str]:
    orders = ledger.table(account, s.orders, "seq")
    if not orders:
        return ["working orders: none"]
    return [
        f"working orders (after {orders[0]['as_of']}):",
        *(f"  {describe_order({**o, 'type': o['order_type']})}" for o in orders),
    ]


def _run_lines(ledger: Ledger, account: Account) -> list[str]:
    """The last run; when it processed nothing, also the last run that did."""
    runs = ledger.runs(account, limit=50)
    if not runs:
        return ["last run: none yet"]
    out = [_describe_run("last run", runs[0])]
    out += [f"  {note}" for note in ledger.loads(s.runs.name, runs[0]["notes"])]
    if not runs[0]["sessions_processed"]:
        worked = next((r for r in runs if r["sessions_processed"]), None)
        if worked is not None:
            out.append(_describe_run("last run that processed sessions", worked))
    return out


def _describe_run(label: str, run: dict[str, Any]) -> str:
    done = int(run["sessions_processed"])
    span = ""
    if done and run["first_session"] is not None:
        span = (
            f" ({run['first_session']})"
            if run["first_session"] == run["last_session"]
            else f" ({run['first_session']} .. {run['last_session']})"
        )
    return (
        f"{label}: {_hkt(run['finished_at'])} ({run['trigger']}): {run['outcome']}"
        + (" (stale data)" if run["stale"] else "")
        + f", {counted(done, 'session')} processed{span}"
    )


def _hkt(stamp: str) -> str:
    """A stored UTC time stamp in Hong Kong time, with the zone."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    return f"{when.astimezone(ZoneInfo(HKT)):%Y-%m-%d %H:%M:%S} HKT"


def _line_states(ledger: Ledger, account: Account, states: dict[str, Any]) -> list[str]:
    if not states:
        return ["risk lines: none configured"]
    details: dict[str, Any] = {}
    with ledger.errors(), ledger.engine.connect() as conn:
        import sqlalchemy as sa

        text = conn.execute(
            sa.select(s.decisions.c.record)
            .where(s.decisions.c.account_id == account.id)
            .where(s.decisions.c.action == "fundamentals")
            .order_by(s.decisions.c.seq.desc())
            .limit(1)
        ).scalar()
    if text:
        details = ledger.loads(s.decisions.name, text).get("lines") or {}
    out = ["risk lines:"]
    for name, status in sorted(states.items()):
        detail = details.get(name) or {}
        alarms = [r.get("rule") for r in detail.get("rules", []) if r.get("status") == "alarm"]
        extra = f" ({detail.get('action')}: {', '.join(str(a) for a in alarms)})" if alarms else ""
        out.append(f"  {name} {status}{extra}")
    return out


# ---------------------------------------------------------------------- history


def history_lines(ledger: Ledger, account: Account, since: date | None) -> list[str]:
    """Every fill, then NAV per session (from `since`)."""
    fills = [
        f for f in ledger.table(account, s.fills, "seq") if since is None or f["date"] >= since
    ]
    equity = [
        e for e in ledger.table(account, s.equity, "date") if since is None or e["date"] >= since
    ]
    out = [f"fills of paper account {account.name} ({len(fills)}):"]
    if fills:
        out.append(
            f"  {'date':<10}  {'tranche':>7}  {'stage':>5}  {'side':<4}  {'kind':<5}  "
            f"{'shares':>7}  {'price':>8}  {'value':>12}  {'fees':>8}  reason"
        )
    for f in fills:
        out.append(
            f"  {f['date']!s:<10}  {f['tranche']:>7}  {f['stage']:>5}  {f['side']:<4}  "
            f"{f['kind']:<5}  {f['shares']:>7,}  {f['price']:>8.3f}  {f['value']:>12,.2f}  "
            f"{f['fees']:>8,.2f}  {f['reason'] or ''}"
        )
    out += not_filled_lines(ledger, account, since, [int(f["tranche"]) for f in fills])
    out.append(f"NAV per session ({len(equity)}):")
    if equity:
        out.append(
            f"  {'date':<10}  {'NAV':>14}  {'cash':>14}  {'shares':>7}  {'weight':>7}  "
            f"{'drawdown':>8}  stage"
        )
    for e in equity:
        out.append(
            f"  {e['date']!s:<10}  {e['nav']:>14,.2f}  {e['cash']:>14,.2f}  {e['shares']:>7,}  "
            f"{e['weight']:>7.2%}  {e['drawdown']:>8.2%}  {e['stage']}"
        )
    return out


def not_filled_lines(
    ledger: Ledger, account: Account, since: date | None, filled: list[int]
) -> list[str]:
    """The orders decided and not filled (from `since`), then the tranche ids no fill uses
    and why: every gap in the tranche numbers is explained."""
    from xmtrade.paper.unfilled import unused_tranche_ids

    orders = orders_not_filled(ledger, account, since)
    out = [f"orders not filled, and signals not ordered ({len(orders)}):"]
    out += [f"  {o.describe()}" for o in orders]
    unused = unused_tranche_ids(filled, orders)
    if unused:
        out.append(
            "tranche ids with no fill: "
            + ", ".join(f"{tid} ({o.words}, {o.session})" for tid, o in sorted(unused.items()))
        )
    return out


# ---------------------------------------------------------------------- report


def ledger_result(ledger: Ledger, account: Account) -> BacktestResult:
    """The account's sessions as a `BacktestResult`, built from the ledger alone."""
    from data_feeds.calendar import SessionCalendar
    from xmtrade.backtest import (
        TRADES_CSV_COLUMNS,
        BacktestResult,
        cash_rate,
        risk_free,
        sessions_per_year,
    )
    from xmtrade.costs import HkCostModel

    cfg = with_cash(account_config(account), account.initial_cash)
    equity_rows = ledger.table(account, s.equity, "date")
    if not equity_rows:
        raise DataError(
            f"paper account '{account.name}'",
            None,
            "no session processed yet, nothing to report: run xmtrade paper step",
        )
    records = []
    for row in equity_rows:
        record = {k: row[k] for k in ("date", "nav", "cash", "position_value", "shares")}
        record.update({k: row[k] for k in ("weight", "stage", "ps_ratio")})
        record.update(ledger.loads(s.equity.name, row["lines"]))
        records.append(record)
    equity = pd.DataFrame.from_records(records)
    equity["date"] = pd.to_datetime(equity["date"])
    equity = equity.set_index("date")
    equity["drawdown"] = [row["drawdown"] for row in equity_rows]

    fee_kinds = HkCostModel(cfg.market, cfg.costs).kinds()
    fills = []
    for row in ledger.table(account, s.fills, "seq"):
        charges = ledger.loads(s.fills.name, row["charges"])
        fill = {k: row[k] for k in FILL_FIELDS if k not in ("fees", "reason")}
        fill.update({kind: charges.get(kind) for kind in fee_kinds})
        fill.update(fees=row["fees"], reason=row["reason"])
        fills.append(fill)
    fill_columns = [*(k for k in FILL_FIELDS if k not in ("fees", "reason")), *fee_kinds]
    fills_frame = pd.DataFrame.from_records(fills, columns=[*fill_columns, "fees", "reason"])

    trades = pd.DataFrame(
        [
            {k: row[k] for k in TRADES_CSV_COLUMNS}
            for row in ledger.table(account, s.tranches, "id")
        ],
        columns=TRADES_CSV_COLUMNS,
    )
    decisions = [
        ledger.loads(s.decisions.name, row["record"])
        for row in ledger.table(account, s.decisions, "seq")
    ]
    sessions = [b for b in ledger.table(account, s.bars, "date") if b["kind"] == "session"]
    bars = bars_frame(sessions)
    orders = [
        {
            "tranche": o["tranche"],
            "stage": o["stage"],
            "kind": o["kind"],
            "side": o["side"],
            "type": o["order_type"],
            "shares": o["shares"],
            "price": o["price"],
            "reason": o["reason"],
        }
        for o in ledger.table(account, s.orders, "seq")
    ]
    return BacktestResult(
        config=cfg,
        start=equity_rows[0]["date"],
        end=equity_rows[-1]["date"],
        equity=equity,
        trades=trades,
        fills=fills_frame,
        decisions=decisions,
        benchmark=bars["close"].astype(float),
        bars=bars,
        fee_kinds=fee_kinds,
        open_orders=orders,
        periods_per_year=sessions_per_year(
            SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures),
            equity_rows[0]["date"],
            equity_rows[-1]["date"],
        ),
        risk_free=risk_free(bars.index, cash_rate(cfg)),
    )
