"""What one paper step did, in words: the lines `paper step` prints and the one-line summary
the log and the notifications get."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from xmtrade.paper.records import describe_fill, describe_order
from xmtrade.paper.unfilled import OrderNotFilled
from xmtrade.reports.terminal import counted


@dataclass
class StepReport:
    """What one step did, for the terminal, the log and the notification."""

    account: str
    symbol: str
    outcome: str  # processed | no new bar
    asof: date
    expected: date | None  # the latest session up to asof: what a complete price record holds
    sessions: list[date]
    last_session: date | None
    initial_cash: float
    fills: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    equity: dict[str, Any] | None = None
    stale: bool = False
    revisions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fetch_lines: list[str] = field(default_factory=list)
    reset: bool = False
    run_id: int | None = None
    fetch_failed: bool = False  # the price update could not reach the source (network)
    not_filled: list[OrderNotFilled] = field(default_factory=list)  # this step's sessions
    tranches: list[dict[str, Any]] = field(default_factory=list)  # every tranche after the step

    @property
    def up_to_date(self) -> bool:
        """True when the ledger holds the latest session up to asof."""
        if self.expected is None:
            return True
        return self.last_session is not None and self.last_session >= self.expected

    def alarms(self) -> list[str]:
        """Risk lines in alarm, forced exits and trims, data warnings."""
        found: list[str] = []
        if self.equity is not None:
            found += [f"{n} alarm" for n, v in sorted(self.equity["lines"].items()) if v == "alarm"]
        for d in self.decisions:
            if d.get("action") in ("exit", "trim") and "tranches" in d:
                found.append(f"{d['action']} {d['reason']} on {d['date']}")
        if self.stale:
            found.append("stale data")
        if self.revisions:
            found.append(f"{counted(len(self.revisions), 'price revision')} kept out of the ledger")
        return found

    def _span(self) -> str:
        first, last = self.sessions[0], self.sessions[-1]
        return f"{first}" if first == last else f"{first} .. {last}"

    def summary(self) -> str:
        """The one-line summary: sessions, fills, working orders, NAV, alarms."""
        head = f"xmtrade paper {self.account} ({self.symbol})"
        if self.sessions:
            what = f"{counted(len(self.sessions), 'session')} ({self._span()})"
            if self.reset:
                what = f"reset, {what}"
        else:
            through = self.last_session or "none yet"
            what = f"no new bar (processed through {through})"
        parts = [f"{head}: {what}"]
        if self.fills:
            parts.append("fills: " + ", ".join(_short_fill(f) for f in self.fills))
        elif self.sessions:
            parts.append("no fills")
        if self.not_filled:
            parts.append("not filled: " + ", ".join(_short_not_filled(o) for o in self.not_filled))
        parts.append(
            "working: " + ", ".join(_short_order(o) for o in self.orders)
            if self.orders
            else "no working orders"
        )
        if self.equity is not None:
            nav = self.equity["nav"]
            change = nav / self.initial_cash - 1.0
            parts.append(f"NAV HK${nav:,.2f} ({change:+.2%}), stage {self.equity['stage']}")
        alarms = self.alarms()
        parts.append("alarms: " + (", ".join(alarms) if alarms else "none"))
        return "; ".join(parts)

    def title(self) -> str:
        """The notification's title: account, what happened, NAV."""
        what = (
            f"{counted(len(self.sessions), 'session')} ({self._span()})"
            if self.sessions
            else "no new bar"
        )
        return f"xmtrade paper {self.account} ({self.symbol}): {what}"

    def message(self, max_length: int) -> str:
        """The multi-line summary a person reads on a phone: what was processed, each fill,
        the working orders, NAV and the alarms, at most `max_length` characters (fills past
        what fits are counted, not listed)."""
        head = [self.title()]
        if not self.sessions:
            head.append(f"processed through {self.last_session or 'nothing yet'}")
        tail = []
        if self.orders:
            tail.append("working orders:")
            tail += [f"  {_short_order(o)}" for o in self.orders]
        else:
            tail.append("working orders: none")
        if self.equity is not None:
            nav = self.equity["nav"]
            change = nav / self.initial_cash - 1.0
            tail.append(f"NAV HK${nav:,.2f} ({change:+.2%}), stage {self.equity['stage']}")
        alarms = self.alarms()
        tail.append("alarms: " + (", ".join(alarms) if alarms else "none"))
        fills = [f"  {f['date']} {_short_fill(f)}" for f in self.fills]
        for shown in range(len(fills), -1, -1):
            middle = []
            if self.fills:
                middle.append(f"{counted(len(self.fills), 'fill')}:")
                middle += fills[:shown]
                if shown < len(fills):
                    middle.append(f"  ... {len(fills) - shown} more: xmtrade paper history")
            elif self.sessions:
                middle.append("no fills")
            if self.not_filled and shown == len(fills):
                middle.append(f"{counted(len(self.not_filled), 'order')} not filled:")
                middle += [f"  {_short_not_filled(o)}" for o in self.not_filled]
            elif self.not_filled:
                middle.append(
                    f"{counted(len(self.not_filled), 'order')} not filled: xmtrade paper history"
                )
            text = "\n".join([*head, *middle, *tail])
            if len(text) <= max_length:
                return text
        return cap(text, max_length)

    def lines(self) -> list[str]:
        """What `paper step` prints."""
        out = list(self.fetch_lines)
        if self.sessions:
            reset = " after --reset" if self.reset else ""
            out.append(
                f"paper account {self.account}: processed "
                f"{counted(len(self.sessions), 'session')}{reset}, {self._span()}"
            )
            out += _session_lines(self.sessions, self.fills, self.decisions, self.not_filled)
        else:
            out.append(
                f"no new bar: paper account {self.account} is processed through "
                f"{self.last_session or '(nothing yet)'}; nothing changed"
            )
        if self.orders:
            out.append("working orders: " + "; ".join(describe_order(o) for o in self.orders))
        out += [f"warning: {r}" for r in self.revisions]
        out += self.notes
        out.append("summary:")
        out += [f"  {line}" for line in self.message(max_length=sys.maxsize).splitlines()]
        return out


def cap(text: str, max_length: int) -> str:
    """`text` cut to `max_length` characters, saying so."""
    if len(text) <= max_length:
        return text
    return text[: max_length - 12].rstrip() + "\n[truncated]"


def _short_fill(fill: dict[str, Any]) -> str:
    return f"{fill['side']} {int(fill['shares']):,} @ {fill['price']:g} (t{fill['tranche']})"


def _short_order(order: dict[str, Any]) -> str:
    price = order.get("price")
    where = f"@ {price:g}" if price is not None else "at open"
    return f"{order['kind']} {order['side']} {int(order['shares']):,} {where} (t{order['tranche']})"


def _short_not_filled(order: OrderNotFilled) -> str:
    """`t3 buy 1,200 (cancelled at the open: a held stop triggered)` or, for a blocked
    signal, `stage 1 signal 2025-04-07 (signal blocked by a risk line)`."""
    if order.tranche is None:
        return f"stage {order.stage} signal {order.session} ({order.words})"
    return f"t{order.tranche} {order.side} {order.shares:,} on {order.session} ({order.words})"


def _session_lines(
    sessions: Sequence[date],
    fills: Sequence[dict[str, Any]],
    decisions: Sequence[dict[str, Any]],
    not_filled: Sequence[OrderNotFilled] = (),
) -> list[str]:
    """One line per session that had a fill, a decision worth reading or an order not
    filled (with its reason and numbers)."""
    by_day: dict[date, list[str]] = {}
    for f in fills:
        by_day.setdefault(f["date"], []).append("fill " + describe_fill(f))
    for d in decisions:
        text = _describe_decision(d)
        if text:
            by_day.setdefault(d["date"], []).append(text)
    for o in not_filled:
        head = f"tranche {o.tranche} not filled" if o.tranche is not None else "not ordered"
        numbers = []
        if o.tranche is not None:
            numbers.append(f"{o.side} {o.shares:,}")
            if o.decided is not None and o.reference_price is not None:
                numbers.append(f"decided {o.decided} at {o.reference_price:g}")
            if o.planned_stop is not None:
                numbers.append(f"stop {o.planned_stop:g}")
        inner = f" ({', '.join(numbers)})" if numbers else ""
        by_day.setdefault(o.session, []).append(f"{head}{inner}: {o.words}: {o.detail}")
    return [f"  {day}  " + "; ".join(by_day[day]) for day in sessions if day in by_day]


def _describe_decision(d: dict[str, Any]) -> str | None:
    action = d.get("action")
    if action in ("enter", "add"):
        order = d.get("order", {})
        stop = (d.get("stop") or {}).get("price")
        return (
            f"{action} stage {d['stage']} (tranche {d['tranche']}): buy "
            f"{int(order.get('shares', 0)):,} at the next open, stop {stop}"
        )
    if action in ("exit", "trim") and "tranches" in d:
        return f"{action} tranches {d['tranches']}: {d['reason']}"
    if action == "exit":
        return f"exit tranche {d['tranche']}: {d['reason']} ({d.get('detail')})"
    if action in ("place_stop", "raise_stop"):
        stop = d["stop"]
        return f"{action.replace('_', ' ')} tranche {d['tranche']}: {stop['to']} ({stop['basis']})"
    if action == "breaker":
        detail = d.get("detail") or {}
        below = -float(detail.get("drawdown") or 0)
        return (
            f"drawdown breaker fired with nothing to sell: NAV {below:.2%} "
            f"below its peak (reset: {detail.get('reset')})"
        )
    # skip, pre_open_check and order_not_filled: told by the orders not filled
    if action == "fundamentals" and d.get("newest_report"):
        report = d["newest_report"]
        return (
            f"fundamentals updated (newest report {report.get('period')}, announced "
            f"{report.get('announced')}; {d.get('consecutive_passes')} passing in a row)"
        )
    return None
