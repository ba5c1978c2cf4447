"""The read model of the live desk (`xmtrade paper serve`): the ledger opened read-only and
every account turned into one JSON-ready snapshot (positions and stops, working orders,
today's decisions with the orders not filled, NAV against buy and hold, fills and fees,
staleness, the last and the next run).

Read-only: an SQLite ledger is opened with `mode=ro` (no write, no journal-mode change, no
migration); a server database through connections whose every transaction is read-only. A
reader never takes a write lock, so it never blocks a step; a snapshot read while a step
commits is read again (the account's `version` moves with every committed step)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from xmtrade.errors import ConfigError, DataError
from xmtrade.paper import schema as s
from xmtrade.paper.desk_unfilled import orders_not_filled
from xmtrade.paper.ledger import Account, Ledger
from xmtrade.paper.records import describe_fill, describe_order

if TYPE_CHECKING:
    from data_feeds.calendar import SessionCalendar
    from xmtrade.config import PaperScheduleConfig

STAGE_NAMES = {0: "flat", 1: "tactical", 2: "core", 3: "full"}
HKT = ZoneInfo("Asia/Hong_Kong")
_READ_ATTEMPTS = 5
_RECENT_FILLS = 200
_RECENT_MISSED = 50
_BUSY_TIMEOUT_MS = 5_000


# ---------------------------------------------------------------------- opening read-only


def open_read_only(target: str) -> Ledger:
    """The ledger at `target` (a file path or a SQLAlchemy URL) opened for reading only.
    A missing ledger, a bad URL, a database that is not an xmtrade ledger of this schema:
    one-line errors naming `--db`."""
    text = target.strip()
    if not text:
        raise ConfigError("--db", None, "expected a file path or a SQLAlchemy URL, got ''")
    if "://" in text:
        try:
            url = sa.make_url(text)
        except sa.exc.ArgumentError:
            raise ConfigError(
                "--db",
                None,
                f"not a SQLAlchemy URL (expected e.g. sqlite:///paper.sqlite): {text!r}",
            ) from None
        if url.get_backend_name() == "sqlite":
            database = url.database or ""
            if database in ("", ":memory:") or database.startswith("file:"):
                raise ConfigError(
                    "--db", None, f"{text!r}: give the ledger's file path or a server URL"
                )
            return _sqlite_ledger(Path(database).expanduser())
        return _server_ledger(url)
    return _sqlite_ledger(Path(text).expanduser())


def _sqlite_ledger(path: Path) -> Ledger:
    shown = str(path)
    if path.is_dir():
        raise ConfigError("--db", None, f"{shown} is a directory, expected a ledger file")
    if not path.is_file() or path.stat().st_size == 0:
        raise ConfigError(
            "--db", None, f"no paper ledger at {shown}; create an account first: xmtrade paper init"
        )
    uri = f"{path.resolve().as_uri()}?mode=ro"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA query_only = ON")
        return conn

    from sqlalchemy.pool import NullPool

    engine = sa.create_engine("sqlite://", creator=connect, poolclass=NullPool)

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN")  # a read transaction: one snapshot of the WAL

    ledger = Ledger(engine, shown, path)
    _check_marker(ledger)
    return ledger


def _server_ledger(url: sa.URL) -> Ledger:
    from sqlalchemy.exc import NoSuchModuleError

    shown = url.render_as_string(hide_password=True)
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        connect_args["options"] = "-c default_transaction_read_only=on"
    try:
        engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    except NoSuchModuleError:
        raise ConfigError(
            "--db", None, f"{shown}: SQLAlchemy has no dialect {url.drivername!r}"
        ) from None
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "--db", None, f"{shown}: the database driver is not installed ({exc})"
        ) from None
    if url.get_backend_name() != "postgresql":
        # elsewhere each transaction is made read-only as it begins
        @sa.event.listens_for(engine, "begin")
        def _read_only(conn: sa.Connection) -> None:
            if conn.dialect.name in ("mysql", "mariadb"):
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")

    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise ConfigError("--db", None, f"cannot connect to {shown}: {reason}") from None
    ledger = Ledger(engine, shown, None)
    _check_marker(ledger)
    return ledger


def _check_marker(ledger: Ledger) -> None:
    """Refuse a database that is not an xmtrade ledger of this schema (nothing is changed:
    an older schema is upgraded by any other `paper` command, never by the desk)."""
    where = ledger.where
    try:
        with ledger.engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            marker = (
                dict(conn.execute(sa.select(s.marker.c.key, s.marker.c.value)).all())
                if s.MARKER_TABLE in names
                else {}
            )
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise ConfigError("--db", None, f"cannot read {where}: {reason}") from None
    if marker.get("application") != s.APPLICATION:
        raise ConfigError(
            "--db", None, f"no paper ledger in {where}; create an account: xmtrade paper init"
        )
    version = marker.get("schema_version", "?")
    if version != str(s.SCHEMA_VERSION):
        raise ConfigError(
            "--db",
            None,
            f"{where} has ledger schema {version}, the desk reads schema {s.SCHEMA_VERSION}: "
            "run any other paper command once (it upgrades the ledger), or upgrade xmtrade",
        )
    missing = sorted(set(s.LEDGER_TABLES) - names)
    if missing:
        raise ConfigError(
            "--db", None, f"{where} is a damaged xmtrade ledger (missing {', '.join(missing)})"
        )


def select_accounts(ledger: Ledger, names: Iterable[str] | None) -> list[Account]:
    """The accounts asked for (each must exist), or every account of the ledger."""
    if not names:
        return ledger.accounts()
    return [ledger.account(name) for name in dict.fromkeys(names)]


def fingerprint(ledger: Ledger, names: Iterable[str] | None) -> str:
    """A short digest that changes whenever a step commits or a run is recorded in any of
    the accounts shown: the page polls it and reads the whole desk only when it moves."""
    wanted = list(names or [])
    path = ledger.sqlite_path
    if path is not None and not path.is_file():
        raise DataError(
            ledger.where, None, "the ledger file is not there any more (moved or deleted?)"
        )
    query = sa.select(
        s.accounts.c.name,
        s.accounts.c.version,
        sa.select(sa.func.max(s.runs.c.id))
        .where(s.runs.c.account_id == s.accounts.c.id)
        .scalar_subquery(),
    ).order_by(s.accounts.c.name)
    if wanted:
        query = query.where(s.accounts.c.name.in_(wanted))
    with ledger.errors(), ledger.engine.connect() as conn:
        rows = conn.execute(query).all()
    return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------- the snapshot


_MARKETS: dict[tuple[str, str], SessionCalendar] = {}


def account_calendar(account: Account) -> SessionCalendar:
    """The exchange calendar of the account's stored config (kept per stored config: reading
    the config is the dearest part of a snapshot)."""
    from data_feeds.calendar import SessionCalendar
    from xmtrade.paper.views import account_config

    key = (account.name, account.config_yaml)
    if key not in _MARKETS:
        market = account_config(account).market
        _MARKETS[key] = SessionCalendar(market.calendar, market.adhoc_closures)
    return _MARKETS[key]


def desk_snapshot(
    ledger: Ledger,
    names: Iterable[str] | None,
    schedule: PaperScheduleConfig,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The whole desk: every account shown, read consistently, and when it was read."""
    when = now or datetime.now(HKT)
    wanted = list(names or [])
    accounts = [
        account_snapshot(ledger, a, schedule, when) for a in select_accounts(ledger, wanted)
    ]
    return {
        "ledger": ledger.where,
        "read_at": when.astimezone(HKT).isoformat(timespec="seconds"),
        "fingerprint": fingerprint(ledger, wanted),
        "accounts": accounts,
    }


def account_snapshot(
    ledger: Ledger, account: Account, schedule: PaperScheduleConfig, now: datetime
) -> dict[str, Any]:
    """One account, read until no step committed in the middle of the reading."""
    for _ in range(_READ_ATTEMPTS):
        snap = _read_account(ledger, account, schedule, now)
        current = ledger.find_account(account.name)
        if current is None or current.version == account.version:
            return snap
        account = current
    return snap


def _read_account(
    ledger: Ledger, account: Account, schedule: PaperScheduleConfig, now: datetime
) -> dict[str, Any]:
    equity = ledger.table(account, s.equity, "date")
    sessions = [b for b in ledger.table(account, s.bars, "date") if b["kind"] == "session"]
    tranches = ledger.table(account, s.tranches, "id")
    fills = ledger.table(account, s.fills, "seq")
    orders = ledger.table(account, s.orders, "seq")
    runs = ledger.runs(account, limit=10)
    missed = orders_not_filled(ledger, account)
    calendar = account_calendar(account)
    last_bar = sessions[-1] if sessions else None
    last_close = float(last_bar["close"]) if last_bar else None
    today = last_bar["date"] if last_bar else None
    out: dict[str, Any] = {
        "name": account.name,
        "symbol": account.symbol,
        "start": account.start,
        "initial_cash": account.initial_cash,
        "config_hash": account.config_hash,
        "version": account.version,
        "sessions_processed": len(equity),
        "freshness": _freshness(calendar, account, today, now),
        "next_run": _next_run(schedule, calendar, now),
        "performance": _performance(account, equity, sessions, tranches, fills),
        "positions": _positions(tranches, last_close),
        "orders": [_order(o) for o in orders],
        "today": _today(ledger, account, today, fills, missed),
        "not_filled": missed[-_RECENT_MISSED:][::-1],
        "not_filled_count": len(missed),
        "fills": [_fill(f) for f in fills[-_RECENT_FILLS:][::-1]],
        "runs": [_run(r, ledger) for r in runs[:5]],
        "lines": ledger.loads(s.equity.name, equity[-1]["lines"]) if equity else {},
        "chart": nav_figure(account, equity, sessions, fills),
    }
    return out


def _freshness(
    calendar: SessionCalendar, account: Account, last: date | None, now: datetime
) -> dict[str, Any]:
    latest = calendar.latest_closed_session(now)
    behind = latest >= account.start and (last is None or last < latest)
    missing = len(calendar.sessions(last, latest)) - 1 if behind and last is not None else None
    if not behind:
        line = f"up to date: the last bar is {last}, the latest closed session"
    elif last is None:
        line = f"stale: nothing processed yet; the latest closed session is {latest}"
    else:
        line = (
            f"stale: the last bar is {last}, the latest closed session is {latest} "
            f"({missing} session{'s' if missing != 1 else ''} behind)"
        )
    return {
        "last_bar": last,
        "latest_closed": latest,
        "stale": behind,
        "sessions_behind": missing,
        "line": line,
    }


def _next_run(
    schedule: PaperScheduleConfig, calendar: SessionCalendar, now: datetime
) -> dict[str, Any]:
    from xmtrade.paper.scheduler import next_runs

    runs = next_runs(now.astimezone(ZoneInfo(schedule.timezone)), 1, schedule, calendar)
    label = f"{schedule.day_of_week} {schedule.hour:02d}:{schedule.minute:02d} {schedule.timezone}"
    if not runs:
        return {"at": None, "line": f"none known (the calendar ends at {calendar.last_session})"}
    return {"at": runs[0].isoformat(), "line": f"{runs[0]:%Y-%m-%d %a %H:%M %Z} ({label})"}


def _performance(
    account: Account,
    equity: list[dict[str, Any]],
    sessions: list[dict[str, Any]],
    tranches: list[dict[str, Any]],
    fills: list[dict[str, Any]],
) -> dict[str, Any]:
    closed = [t for t in tranches if t["exit_reason"] != "open"]
    out: dict[str, Any] = {
        "fees": round(sum(float(f["fees"]) for f in fills), 2),
        "fills": len(fills),
        "realised": round(sum(float(t["pnl"] or 0.0) for t in closed), 2),
        "closed_tranches": len(closed),
    }
    if not equity or not sessions:
        return {**out, "nav": account.initial_cash, "cash": account.initial_cash}
    last = equity[-1]
    first_close, last_close = float(sessions[0]["close"]), float(sessions[-1]["close"])
    change = float(last["nav"]) / account.initial_cash - 1.0
    hold = last_close / first_close - 1.0
    return {
        **out,
        "date": last["date"],
        "nav": float(last["nav"]),
        "cash": float(last["cash"]),
        "shares": int(last["shares"]),
        "position_value": float(last["position_value"]),
        "weight": float(last["weight"]),
        "drawdown": float(last["drawdown"]),
        "stage": int(last["stage"]),
        "stage_name": STAGE_NAMES.get(int(last["stage"]), "?"),
        "change": change,
        "hold_change": hold,
        "against_hold_pp": (change - hold) * 100,
        "last_close": last_close,
    }


def _positions(tranches: list[dict[str, Any]], close: float | None) -> list[dict[str, Any]]:
    out = []
    for t in tranches:
        if t["exit_reason"] != "open":
            continue
        stop = None if t["stop_price"] is None else float(t["stop_price"])
        entry, shares = float(t["entry_price"]), int(t["shares"])
        row: dict[str, Any] = {
            "tranche": t["id"],
            "stage": t["stage"],
            "shares": shares,
            "entry_date": t["entry_date"],
            "entry_price": entry,
            "stop": stop,
            "initial_stop": t["initial_stop"],
            "stop_method": t["stop_method"],
            "sessions_held": t["sessions_held"],
            "close": close,
            "unrealised": None,
            "to_stop_pct": None,
            "stop_triggered": False,
        }
        if close is not None:
            row["unrealised"] = round((close - entry) * shares - float(t["fees"]), 2)
            if stop is not None and close > 0:
                row["to_stop_pct"] = (close - stop) / close * 100
                row["stop_triggered"] = stop >= close
        out.append(row)
    return out


def _order(o: dict[str, Any]) -> dict[str, Any]:
    order = {
        "tranche": o["tranche"],
        "stage": o["stage"],
        "kind": o["kind"],
        "side": o["side"],
        "type": o["order_type"],
        "shares": o["shares"],
        "price": o["price"],
        "reason": o["reason"],
        "as_of": o["as_of"],
    }
    return {**order, "text": describe_order(order)}


def _fill(f: dict[str, Any]) -> dict[str, Any]:
    keep = ("date", "tranche", "stage", "side", "kind", "shares", "price", "value", "fees")
    return {**{k: f[k] for k in keep}, "reason": f["reason"], "text": describe_fill(f)}


def _today(
    ledger: Ledger,
    account: Account,
    day: date | None,
    fills: list[dict[str, Any]],
    missed: list[dict[str, Any]],
) -> dict[str, Any]:
    """The last processed session: its fills, its decisions, its orders not filled."""
    if day is None:
        return {"date": None, "fills": [], "decisions": [], "not_filled": []}
    with ledger.errors(), ledger.engine.connect() as conn:
        rows = conn.execute(
            sa.select(s.decisions.c.action, s.decisions.c.tranche, s.decisions.c.record)
            .where(s.decisions.c.account_id == account.id)
            .where(s.decisions.c.date == day)
            .order_by(s.decisions.c.seq)
        ).all()
    decisions = []
    for action, tranche, text in rows:
        record = ledger.loads(s.decisions.name, text)
        decisions.append({"action": action, "tranche": tranche, "text": _decision_text(record)})
    return {
        "date": day,
        "fills": [_fill(f) for f in fills if f["date"] == day],
        "decisions": decisions,
        "not_filled": [m for m in missed if m["session"] == day],
    }


def _decision_text(d: dict[str, Any]) -> str:
    """One decision record in a line (the record's own reason words)."""
    action = str(d.get("action"))
    tranche = f" tranche {d['tranche']}" if d.get("tranche") is not None else ""
    if action in ("enter", "add"):
        order = d.get("order") or {}
        stop = (d.get("stop") or {}).get("price")
        return (
            f"{action} stage {d.get('stage')}{tranche}: buy {int(order.get('shares', 0)):,} at "
            f"the next open, planned stop {stop}; {d.get('reason')}"
        )
    if action in ("place_stop", "raise_stop"):
        stop = d.get("stop") or {}
        return f"{action.replace('_', ' ')}{tranche}: {stop.get('to')} ({stop.get('basis')})"
    if action == "pre_open_check":
        return f"pre-opening check{tranche}: {d.get('why')}"
    if action == "fundamentals":
        report = d.get("newest_report") or {}
        return (
            f"fundamentals: newest report {report.get('period')} (announced "
            f"{report.get('announced')}), {d.get('consecutive_passes')} passing in a row"
        )
    for key in ("why", "reason", "detail", "status"):
        if d.get(key):
            return f"{action.replace('_', ' ')}{tranche}: {d[key]}"
    return f"{action.replace('_', ' ')}{tranche}"


def _run(r: dict[str, Any], ledger: Ledger) -> dict[str, Any]:
    try:
        finished = datetime.fromisoformat(r["finished_at"]).astimezone(HKT)
        shown = f"{finished:%Y-%m-%d %H:%M:%S} HKT"
    except (TypeError, ValueError):
        shown = str(r["finished_at"])
    return {
        "finished_at": shown,
        "trigger": r["trigger"],
        "outcome": r["outcome"],
        "stale": bool(r["stale"]),
        "sessions_processed": int(r["sessions_processed"]),
        "first_session": r["first_session"],
        "last_session": r["last_session"],
        "notes": ledger.loads(s.runs.name, r["notes"]),
    }


# ---------------------------------------------------------------------- the chart


def nav_figure(
    account: Account,
    equity: list[dict[str, Any]],
    sessions: list[dict[str, Any]],
    fills: list[dict[str, Any]],
) -> dict[str, Any]:
    """NAV against buy and hold, both rebased to 100 at the start (the report's growth chart:
    its colours, its linear / log switch), with the account's fills marked; plotly JSON."""
    import plotly.graph_objects as go

    from xmtrade.reports.page import LOG_SWITCH

    days = [e["date"] for e in equity]
    nav = [float(e["nav"]) / account.initial_cash * 100.0 for e in equity]
    closes = {b["date"]: float(b["close"]) for b in sessions}
    first = float(sessions[0]["close"]) if sessions else None
    hold = [closes[d] / first * 100.0 if first else None for d in days]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            mode="lines",
            x=days,
            y=nav,
            name="account NAV",
            line={"color": "#1f77b4", "width": 1.6},
            hovertemplate="%{x|%Y-%m-%d} account %{y:.2f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            mode="lines",
            x=days,
            y=hold,
            name="buy and hold",
            line={"color": "#7f7f7f", "width": 1},
            hovertemplate="%{x|%Y-%m-%d} buy and hold %{y:.2f}<extra></extra>",
        )
    )
    by_day = dict(zip(days, nav, strict=True))
    for side, colour, symbol in (("buy", "#15803d", "triangle-up"), ("sell", "#b91c1c", "x")):
        marked = [f for f in fills if f["side"] == side and f["date"] in by_day]
        if not marked:
            continue
        fig.add_trace(
            go.Scatter(
                mode="markers",
                x=[f["date"] for f in marked],
                y=[by_day[f["date"]] for f in marked],
                name=f"{side}s",
                marker={"color": colour, "symbol": symbol, "size": 9},
                hovertext=[describe_fill(f) for f in marked],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    fig.update_layout(
        yaxis={"title": "growth of 100", "type": "linear"},
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0.14},
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
        updatemenus=LOG_SWITCH,
        height=360,
    )
    figure: dict[str, Any] = fig.to_plotly_json()
    return figure
