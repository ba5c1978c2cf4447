"""The paper account's own sections of `paper report`'s report.html: the account, its working
orders, the stops in force, how fresh its data is, the orders not filled, and the sessions on
which it and a backtest may decide differently because a fact was entered late.

Self-contained: plain HTML with the report page's own classes (`section`, `scroll`, tables),
built from the ledger alone, so the page that calls it only places the string.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from xmtrade.paper import schema as s
from xmtrade.paper.facts_known import differing_sessions, late_lines
from xmtrade.paper.records import describe_order
from xmtrade.paper.unfilled import orders_not_filled
from xmtrade.reports.page import esc, section

if TYPE_CHECKING:
    from xmtrade.paper.ledger import Account, Ledger


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return '<p class="note">none</p>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


def account_sections(ledger: Ledger, account: Account, *, latest_closed: date | None = None) -> str:
    """The account's sections as HTML (for the top of its report page)."""
    sessions = [b["date"] for b in ledger.table(account, s.bars, "date") if b["kind"] == "session"]
    processed = [d for d in sessions if account.last_session and d <= account.last_session]
    last_close = next(
        (
            float(b["close"])
            for b in reversed(ledger.table(account, s.bars, "date"))
            if b["date"] == account.last_session
        ),
        None,
    )
    runs = ledger.runs(account, limit=1)
    fresh = [f"last session processed: {account.last_session or 'none yet'}"]
    if latest_closed is not None and account.last_session is not None:
        if account.last_session < latest_closed:
            fresh.append(
                f"stale: the latest closed session is {latest_closed} "
                f"({(latest_closed - account.last_session).days} days later)"
            )
        else:
            fresh.append("up to date with the latest closed session")
    if runs:
        run = runs[0]
        fresh.append(
            f"last run {run['finished_at']} UTC ({run['trigger']}): {run['outcome']}"
            + (" (stale data)" if run["stale"] else "")
        )
    home = account.home_folder() or "unknown"
    about = (
        f"<p>Paper account <b>{esc(account.name)}</b>: {esc(account.symbol)} from "
        f"{esc(account.start)}, HK${account.initial_cash:,.2f} at the start; config hash "
        f"{esc(account.config_hash)}; home {esc(home)}; ledger {esc(ledger.where)}.</p>"
        + "<ul>"
        + "".join(f"<li>{esc(line)}</li>" for line in fresh)
        + "</ul>"
    )
    orders = ledger.table(account, s.orders, "seq")
    working = _table(["order"], [[describe_order({**o, "type": o["order_type"]})] for o in orders])
    held = [t for t in ledger.table(account, s.tranches, "id") if t["exit_reason"] == "open"]
    stop_rows = []
    for t in held:
        stop = t["stop_price"]
        room = (
            f"{(last_close - float(stop)) / last_close:.2%}"
            if stop is not None and last_close
            else "n/a"
        )
        stop_rows.append(
            [t["id"], t["stage"], f"{int(t['shares']):,}", t["entry_price"], stop, room]
        )
    stops = _table(
        ["tranche", "stage", "shares", "entry", "stop", "room below the last close"], stop_rows
    )
    unfilled = orders_not_filled(ledger, account)
    unfilled_rows = [
        [
            o.session,
            o.tranche if o.tranche is not None else "",
            o.stage,
            o.side,
            f"{o.shares:,}" if o.shares else "",
            "" if o.reference_price is None else f"{o.reference_price:g}",
            "" if o.planned_stop is None else f"{o.planned_stop:g}",
            o.words,
            o.detail,
        ]
        for o in unfilled
    ]
    not_filled = _table(
        ["session", "tranche", "stage", "side", "shares", "close", "stop", "what", "detail"],
        unfilled_rows,
    )
    late = ledger.late_facts(account)
    differ = differing_sessions(late, processed)
    late_html = (
        "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in late_lines(late)) + "</ul>"
        if late
        else '<p class="note">no fact was entered after its announcement had been processed: '
        "every session is decided as a backtest would decide it</p>"
    )
    if differ:
        late_html += _table(
            ["session", "why paper and a backtest may differ"],
            [[day, "; ".join(why)] for day, why in differ.items()],
        )
    return "".join(
        [
            section("Paper account", about, "paper-account"),
            section(f"Working orders ({len(orders)})", working, "paper-orders"),
            section(f"Stops in force ({len(held)})", stops, "paper-stops"),
            section(
                f"Orders not filled and signals not ordered ({len(unfilled)})",
                not_filled,
                "paper-not-filled",
            ),
            section(
                f"Facts entered late ({len(differ)} sessions may differ from a backtest)",
                late_html,
                "paper-late-facts",
            ),
        ]
    )
