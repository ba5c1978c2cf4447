"""Orders decided and never filled, read back from the decision log.

A tranche decided after a close can still die before it fills: the pre-opening check skips it
(the open at or below its planned stop, a held stop triggered by the same open, too little room
at the open), a risk demand cancels it, the broker rejects it. Its tranche id is then never
used by a fill. A signal can also be blocked before any order exists (the drawdown breaker, a
risk line, the P/S ceiling, the stage gate). This module turns those decision records into
small rows a trader reads, for the step, `paper history`, `paper status`, the notification and
the pages.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xmtrade.paper.ledger import Account, Ledger

# reason codes (stable: other modules and pages match on them)
GAP_SKIP = "gap_skip"  # the open at or below the planned stop (entry.gap_rule: skip)
STOP_HIT_AT_OPEN = "stop_hit_at_open"  # a held stop triggered by the same open
SIZE_AT_OPEN = "size_at_open"  # the size checked at the open leaves no lot
RESIZED_AT_OPEN = "resized_at_open"  # bought, but fewer shares than decided
CANCELLED = "cancelled"  # cancelled by a risk demand (exit, trim) before it filled
REJECTED = "rejected"  # the broker refused it (not enough cash, margin)
BLOCKED_BREAKER = "blocked_breaker"  # a signal blocked by the drawdown breaker
BLOCKED_LINE = "blocked_line"  # a signal blocked by a risk line in alarm
BLOCKED = "blocked"  # a signal blocked for another reason (gate, P/S, spacing, size)

REASON_WORDS = {
    GAP_SKIP: "skipped at the open: gap below the planned stop",
    STOP_HIT_AT_OPEN: "cancelled at the open: a held stop triggered",
    SIZE_AT_OPEN: "skipped at the open: no lot fits the size rules",
    RESIZED_AT_OPEN: "re-sized at the open",
    CANCELLED: "cancelled before it filled",
    REJECTED: "rejected by the broker",
    BLOCKED_BREAKER: "signal blocked by the drawdown breaker",
    BLOCKED_LINE: "signal blocked by a risk line",
    BLOCKED: "signal not ordered",
}


@dataclass(frozen=True)
class OrderNotFilled:
    """One order decided and not (or not wholly) filled, or one signal blocked before it
    became an order.

    `session` is the session it was dropped on (the open for the pre-opening check, the
    decision's close for a block); `decided` the close it was decided after (None for a
    block: no order existed). `shares` are the shares not bought (0 when no order was sized).
    `reference_price` is the close the order was sized at, `planned_stop` its planned stop.
    `reason` is one of this module's codes, `detail` one sentence with the numbers."""

    session: date
    decided: date | None
    tranche: int | None
    stage: int | None
    side: str
    shares: int
    reference_price: float | None
    planned_stop: float | None
    reason: str
    detail: str

    @property
    def words(self) -> str:
        """The reason in words (`skipped at the open: gap below the planned stop`)."""
        return REASON_WORDS.get(self.reason, self.reason)

    def describe(self) -> str:
        """One line: `2025-10-21 tranche 3 stage 1 buy 2,000 (decided 2025-10-20 at close
        30.1, stop 28.9): skipped at the open: gap below the planned stop: the open ...`."""
        what = f"tranche {self.tranche}" if self.tranche is not None else "signal"
        stage = f" stage {self.stage}" if self.stage is not None else ""
        if self.tranche is None:
            what, stage = stage.strip() or "signal", ""
        numbers = []
        if self.decided is not None and self.reference_price is not None:
            numbers.append(f"decided {self.decided} at close {self.reference_price:g}")
        elif self.reference_price is not None:
            numbers.append(f"close {self.reference_price:g}")
        if self.planned_stop is not None:
            numbers.append(f"stop {self.planned_stop:g}")
        size = f" {self.side} {self.shares:,}" if self.shares else ""
        inner = f" ({', '.join(numbers)})" if numbers else ""
        return f"{self.session} {what}{stage}{size}{inner}: {self.words}: {self.detail}"


def from_records(
    records: Iterable[Mapping[str, Any]], since: date | None = None
) -> list[OrderNotFilled]:
    """Every order not filled in `records` (decision records in log order, dates as dates or
    ISO strings), from `since` on."""
    decided: dict[int, Mapping[str, Any]] = {}
    out: list[OrderNotFilled] = []
    for record in records:
        action = record.get("action")
        tranche = record.get("tranche")
        if action in ("enter", "add") and tranche is not None:
            decided[int(tranche)] = record
            continue
        found = _one(record, action, decided)
        if found is not None and (since is None or found.session >= since):
            out.append(found)
    return out


def orders_not_filled(
    ledger: Ledger, account: Account, since: date | None = None
) -> list[OrderNotFilled]:
    """Every order of `account` decided and not filled (and every signal blocked before it
    became an order), oldest first, from the session `since` on (all when None)."""
    from xmtrade.paper import schema as s

    rows = ledger.table(account, s.decisions, "seq")
    return from_records((ledger.loads(s.decisions.name, r["record"]) for r in rows), since)


def unused_tranche_ids(
    filled: Iterable[int], not_filled: Iterable[OrderNotFilled]
) -> dict[int, OrderNotFilled]:
    """The tranche ids no fill uses, each with the order that died under it."""
    used = set(filled)
    return {
        o.tranche: o
        for o in not_filled
        if o.tranche is not None and o.tranche not in used and o.reason != RESIZED_AT_OPEN
    }


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _one(
    record: Mapping[str, Any], action: Any, decided: Mapping[int, Mapping[str, Any]]
) -> OrderNotFilled | None:
    tranche = record.get("tranche")
    plan = decided.get(int(tranche)) if tranche is not None else None
    plan_close = _float(plan.get("close")) if plan else None
    plan_day = _day(plan["date"]) if plan else None
    plan_stop = _float((plan.get("stop") or {}).get("price")) if plan else None
    plan_shares = int((plan.get("order") or {}).get("shares") or 0) if plan else 0
    if action == "pre_open_check":
        check = record.get("check")
        planned_shares = int(record.get("planned_shares") or plan_shares)
        stop = _float(record.get("planned_stop")) or plan_stop
        common: dict[str, Any] = {
            "session": _day(record["date"]),
            "decided": plan_day,
            "tranche": int(tranche) if tranche is not None else None,
            "stage": record.get("stage"),
            "side": "buy",
            "reference_price": plan_close,
            "planned_stop": stop,
        }
        why = str(record.get("why") or "")
        if check == "buy":
            bought = int((record.get("sizing_at_open") or {}).get("shares") or planned_shares)
            bought = min(bought, planned_shares)
            if bought >= planned_shares:
                return None
            return OrderNotFilled(
                **common,
                shares=planned_shares - bought,
                reason=RESIZED_AT_OPEN,
                detail=why,
            )
        reason = {
            "skip_gap": GAP_SKIP,
            "skip_stop_hit": STOP_HIT_AT_OPEN,
            "skip_size": SIZE_AT_OPEN,
        }.get(str(check), str(check))
        return OrderNotFilled(**common, shares=planned_shares, reason=reason, detail=why)
    if action == "order_not_filled":
        status = str(record.get("status") or "")
        kind = str(record.get("order") or "entry")
        reason = CANCELLED if status == "Canceled" else REJECTED
        detail = f"the {kind} order was {status.lower() or 'not filled'}"
        if reason == CANCELLED:
            detail += " (a risk demand of the same close: exit or trim)"
        return OrderNotFilled(
            session=_day(record["date"]),
            decided=plan_day,
            tranche=int(tranche) if tranche is not None else None,
            stage=plan.get("stage") if plan else None,
            side="buy" if kind == "entry" else "sell",
            shares=plan_shares if kind == "entry" else 0,
            reference_price=plan_close,
            planned_stop=plan_stop,
            reason=reason,
            detail=detail,
        )
    if action == "skip":
        why = str(record.get("why") or "")
        if "breaker" in why:
            reason = BLOCKED_BREAKER
        elif why.startswith("risk lines"):
            reason = BLOCKED_LINE
        else:
            reason = BLOCKED
        sizing = record.get("sizing") or {}
        signal = record.get("signal")
        detail = f"{signal}: {why}" if signal else why
        return OrderNotFilled(
            session=_day(record["date"]),
            decided=None,
            tranche=None,
            stage=record.get("stage"),
            side="buy",
            shares=0,
            reference_price=_float(record.get("close")),
            planned_stop=_float((record.get("stop") or {}).get("price")) if sizing else None,
            reason=reason,
            detail=detail,
        )
    return None


def from_texts(texts: Iterable[str], since: date | None = None) -> list[OrderNotFilled]:
    """`from_records` over JSON lines (decisions.jsonl, the ledger's decision column)."""
    return from_records((json.loads(t) for t in texts), since)
