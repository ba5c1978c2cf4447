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

if TYPE_CHECKING:
    from xmtrade.backtest import BacktestResult

STAGE_NAMES = {0: "flat", 1: "tactical", 2: "core", 3: "full"}


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


def status_lines(ledger: Ledger, account: Account, config_hash: str | None) -> list[str]:
    """Cash, position, tranches with stops, working orders, stage, risk lines, NAV, last run."""
    out = [
        f"paper account {account.name}: {account.symbol} from {account.start}, "
        f"HK${account.initial_cash:,.2f} at the start; ledger {ledger.where}"
    ]
    if config_hash is None or config_hash == account.config_hash:
        out.append(f"config: hash {account.config_hash} (this config matches)")
    else:
        out.append(
            f"config: hash {account.config_hash}; this config is {config_hash}: the next step "
            "refuses it (pass the account's -c files, or --reset)"
        )
    equity = ledger.table(account, s.equity, "date")
    if not equity:
        out.append("no session processed yet: run xmtrade paper step")
    else:
        last = equity[-1]
        change = last["nav"] / account.initial_cash - 1.0
        out.append(
            f"processed through {last['date']} ({len(equity)} sessions); "
            f"NAV HK${last['nav']:,.2f} ({change:+.2%}), drawdown {last['drawdown']:.2%}"
        )
        out.append(
            f"cash HK${last['cash']:,.2f}; position {last['shares']:,} shares worth "
            f"HK${last['position_value']:,.2f} ({last['weight']:.2%} of NAV)"
        )
        stage = int(last["stage"])
        out.append(f"stage {stage} ({STAGE_NAMES.get(stage, '?')})")
        out += _line_states(ledger, account, ledger.loads(s.equity.name, last["lines"]))
    held = [t for t in ledger.table(account, s.tranches, "id") if t["exit_reason"] == "open"]
    if held:
        out.append("tranches held:")
        for t in held:
            out.append(
                f"  tranche {t['id']} stage {t['stage']}: {t['shares']:,} @ {t['entry_price']:g} "
                f"since {t['entry_date']}, stop {t['stop_price']:g} (initial "
                f"{t['initial_stop']:g}), held {t['sessions_held']} sessions"
            )
    else:
        out.append("tranches held: none")
    orders = ledger.table(account, s.orders, "seq")
    if orders:
        out.append(f"working orders (after {orders[0]['as_of']}):")
        out += [f"  {describe_order({**o, 'type': o['order_type']})}" for o in orders]
    else:
        out.append("working orders: none")
    runs = ledger.runs(account, limit=1)
    if runs:
        run = runs[0]
        out.append(
            f"last run: {run['finished_at']} ({run['trigger']}): {run['outcome']}"
            + (" (stale data)" if run["stale"] else "")
            + f", {run['sessions_processed']} session(s)"
        )
        out += [f"  {note}" for note in ledger.loads(s.runs.name, run["notes"])]
    else:
        out.append("last run: none yet")
    return out


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
