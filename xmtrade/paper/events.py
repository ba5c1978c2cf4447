"""The notifications of a step, one message per kind of event a trader acts on: new orders
(side, shares, reference price, planned stop, risk, reason), fills, exits (reason, P&L, days
held), orders not filled (why), stale or missing data; refusals and errors come from the
command. With `paper.notify.digest` the step sends one digest instead.

A message is a title and a body; the body never repeats the title. The messages are stored
with the step's run in the ledger (in the step's own transaction) until they are sent, so a
step stopped after its commit loses none: the next step or `paper notify` sends them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from xmtrade.paper.outcome import StepReport, cap
from xmtrade.reports.terminal import counted

NEW_ORDER = "new_order"
FILL = "fill"
EXIT = "exit"
NOT_FILLED = "not_filled"
STALE = "stale"
REFUSED = "refused"
ERROR = "error"
DIGEST = "digest"
STATUS = "status"
TEST = "test"


@dataclass(frozen=True)
class Message:
    """One notification: its kind, title, body (without the title) and JSON fields."""

    kind: str
    title: str
    body: str
    fields: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain values (stored as JSON with the run)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Message:
        """A message read back from the ledger."""
        return cls(
            kind=str(raw.get("kind", "")),
            title=str(raw.get("title", "")),
            body=str(raw.get("body", "")),
            fields=dict(raw.get("fields") or {}),
        )

    def text(self) -> str:
        """Title and body as one text (for a command, a log)."""
        return f"{self.title}\n{self.body}" if self.body else self.title


def _head(report: StepReport, what: str) -> str:
    return f"xmtrade paper {report.account} ({report.symbol}): {what}"


def _nav_line(report: StepReport) -> str | None:
    if report.equity is None:
        return None
    nav = report.equity["nav"]
    change = nav / report.initial_cash - 1.0
    return f"NAV HK${nav:,.2f} ({change:+.2%}), stage {report.equity['stage']}"


def _money(amount: float) -> str:
    return f"{'-' if amount < 0 else '+'}HK${abs(amount):,.2f}"


def step_messages(report: StepReport, max_length: int, digest: bool) -> list[Message]:
    """The messages of one step (none when nothing happened a trader acts on)."""
    base = {"account": report.account, "outcome": report.outcome}
    if digest:
        lines = report.message(max_length).splitlines()[1:]
        return [Message(DIGEST, report.title(), cap("\n".join(lines), max_length), {**base})]
    out: list[Message] = []
    orders = [_order_line(d) for d in report.decisions if _is_order(d)]
    if orders:
        out.append(
            Message(
                NEW_ORDER,
                _head(report, "new order" if len(orders) == 1 else f"{len(orders)} new orders"),
                cap("\n".join(orders), max_length),
                {**base, "orders": len(orders)},
            )
        )
    entries = [f for f in report.fills if f.get("kind") == "entry"]
    if entries:
        body = [_fill_line(f, report.tranches) for f in entries]
        nav = _nav_line(report)
        out.append(
            Message(
                FILL,
                _head(report, "fill" if len(entries) == 1 else counted(len(entries), "fill")),
                cap("\n".join([*body, *([nav] if nav else [])]), max_length),
                {**base, "fills": len(entries)},
            )
        )
    exits = [f for f in report.fills if f.get("kind") != "entry"]
    if exits:
        body = [_exit_line(f, report.tranches) for f in exits]
        nav = _nav_line(report)
        out.append(
            Message(
                EXIT,
                _head(report, "exit" if len(exits) == 1 else counted(len(exits), "exit")),
                cap("\n".join([*body, *([nav] if nav else [])]), max_length),
                {**base, "exits": len(exits)},
            )
        )
    unfilled = [o for o in report.not_filled if o.tranche is not None]
    if unfilled:
        out.append(
            Message(
                NOT_FILLED,
                _head(
                    report,
                    "order not filled"
                    if len(unfilled) == 1
                    else f"{len(unfilled)} orders not filled",
                ),
                cap("\n".join(o.describe() for o in unfilled), max_length),
                {**base, "not_filled": [o.reason for o in unfilled]},
            )
        )
    if report.stale or (report.expected is not None and not report.up_to_date):
        notes = [n for n in report.notes if "stale" in n or "no bar" in n] or report.notes
        what = "stale data" if report.stale else "missing data"
        out.append(
            Message(
                STALE,
                _head(report, what),
                cap(
                    "\n".join(
                        [f"processed through {report.last_session or 'nothing yet'}", *notes]
                    ),
                    max_length,
                ),
                {**base, "stale": report.stale},
            )
        )
    return out


def failure_message(account: str, outcome: str, line: str, max_length: int) -> Message:
    """The message of a refused or failed step."""
    kind = REFUSED if outcome == "refused" else ERROR
    return Message(
        kind,
        f"xmtrade paper {account}: step {outcome}",
        cap(line, max_length),
        {"account": account, "outcome": outcome},
    )


def sample_messages(account: str) -> list[Message]:
    """What `paper notify --test` sends: a sample new order, marked as a test."""
    body = (
        "TEST (a sample, not an order): buy 1,200 at the open of the next session, reference "
        "close 37.70, planned stop 37.28, risk 0.52% of NAV; reason: rsi_oversold "
        "(RSI 23.76 < 30); tranche 9 stage 1"
    )
    return [Message(TEST, f"xmtrade paper {account}: test notification", body, {"test": True})]


def _is_order(d: Mapping[str, Any]) -> bool:
    action = d.get("action")
    if action in ("enter", "add"):
        return True
    return action == "exit" and isinstance(d.get("order"), Mapping)


def _order_line(d: Mapping[str, Any]) -> str:
    order = d.get("order") or {}
    shares = int(order.get("shares") or 0)
    when = order.get("fills_on")
    at = f"at the open of {when}" if when else "at the next open"
    if d.get("action") == "exit":
        return f"sell {shares:,} {at} (tranche {d.get('tranche')}): {d.get('reason')}" + (
            f" ({d.get('detail')})" if d.get("detail") else ""
        )
    stop = (d.get("stop") or {}).get("price")
    sizing = d.get("sizing") or {}
    risk = sizing.get("planned_risk_pct_nav")
    parts = [f"buy {shares:,} {at}", f"reference close {float(d.get('close') or 0):g}"]
    if stop is not None:
        parts.append(f"planned stop {float(stop):g}")
    if risk is not None:
        parts.append(f"risk {float(risk):.2f}% of NAV")
    return (
        ", ".join(parts)
        + f"; reason: {d.get('reason') or 'signal'}; tranche {d.get('tranche')} stage "
        f"{d.get('stage')}"
    )


def _tranche(tranches: Sequence[Mapping[str, Any]], tid: Any) -> Mapping[str, Any] | None:
    return next((t for t in tranches if t.get("id") == tid), None)


def _fill_line(f: Mapping[str, Any], tranches: Sequence[Mapping[str, Any]]) -> str:
    t = _tranche(tranches, f.get("tranche"))
    stop = t.get("stop_price") if t else None
    tail = f"; stop {float(stop):g}" if stop is not None else ""
    return (
        f"bought {int(f['shares']):,} @ {float(f['price']):g} on {f['date']} (tranche "
        f"{f['tranche']} stage {f['stage']}, fees HK${float(f['fees']):,.2f}){tail}"
    )


def _exit_line(f: Mapping[str, Any], tranches: Sequence[Mapping[str, Any]]) -> str:
    t = _tranche(tranches, f.get("tranche"))
    head = (
        f"sold {int(f['shares']):,} @ {float(f['price']):g} on {f['date']} (tranche {f['tranche']})"
    )
    reason = f.get("reason") or f.get("kind")
    if t is None or t.get("pnl") is None:
        return f"{head}: {reason}"
    pnl = float(t["pnl"])
    pct = t.get("pnl_pct_nav")
    pct_text = f" ({float(pct):+.2f}% of NAV)" if pct is not None else ""
    held = counted(int(t.get("sessions_held") or 0), "session")
    entry, exit_ = t.get("entry_date"), t.get("exit_date")
    if entry is not None and exit_ is not None:
        held += f", {counted((_as_date(exit_) - _as_date(entry)).days, 'day')}"
    return f"{head}: {reason}; P&L {_money(pnl)}{pct_text} after fees; held {held}"


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
