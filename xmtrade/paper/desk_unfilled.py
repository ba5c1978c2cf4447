"""The live desk's list of orders decided and not filled, in the fields of the paper
ledger's `OrderNotFilled` (/work/coord/paper-api.md).

The one seam between the desk and the paper ledger: `orders_not_filled` uses the ledger's own
`xmtrade.paper.views.orders_not_filled` when this xmtrade has it; until then it reads the same
rows from the stored decision records (paper_decisions.record, the decisions.jsonl line)."""

from __future__ import annotations

from datetime import date
from typing import Any

from xmtrade.paper import schema as s
from xmtrade.paper.ledger import Account, Ledger


def orders_not_filled(ledger: Ledger, account: Account) -> list[dict[str, Any]]:
    """Every order of `account` decided and not (or not wholly) filled, and every signal
    blocked before it became an order, oldest first, as JSON rows in the fields of the paper
    ledger's `OrderNotFilled` (/work/coord/paper-api.md): session, decided, tranche, stage,
    side, shares, reference_price, planned_stop, reason (a code), words, detail, line.

    The one seam to the paper ledger: its `xmtrade.paper.views.orders_not_filled` when this
    xmtrade has it, else the same rows read here from the stored decision records."""
    from xmtrade.paper import views

    listed = getattr(views, "orders_not_filled", None)
    if listed is None:
        return _not_filled_from_decisions(ledger, account)
    return [
        {
            **{k: getattr(o, k) for k in _NOT_FILLED_FIELDS},
            "words": o.words,
            "line": o.describe(),
        }
        for o in listed(ledger, account)
    ]


_NOT_FILLED_FIELDS = (
    "session",
    "decided",
    "tranche",
    "stage",
    "side",
    "shares",
    "reference_price",
    "planned_stop",
    "reason",
    "detail",
)
_WORDS = {
    "gap_skip": "skipped at the open: gap below the planned stop",
    "stop_hit_at_open": "cancelled at the open: a held stop triggered",
    "size_at_open": "skipped at the open: no lot fits the size rules",
    "resized_at_open": "re-sized at the open",
    "cancelled": "cancelled before it filled",
    "rejected": "rejected by the broker",
    "blocked_breaker": "signal blocked by the drawdown breaker",
    "blocked_line": "signal blocked by a risk line",
    "blocked": "signal not ordered",
}
_CHECKS = {"skip_gap": "gap_skip", "skip_stop_hit": "stop_hit_at_open", "skip_size": "size_at_open"}


def _not_filled_from_decisions(ledger: Ledger, account: Account) -> list[dict[str, Any]]:
    """`orders_not_filled` from the decision records (paper_decisions.record, the
    decisions.jsonl line) for an xmtrade whose ledger does not list them itself."""
    plans: dict[int, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for row in ledger.table(account, s.decisions, "seq"):
        if row["action"] not in ("enter", "add", "pre_open_check", "order_not_filled", "skip"):
            continue
        record = ledger.loads(s.decisions.name, row["record"])
        if row["action"] in ("enter", "add") and row["tranche"] is not None:
            plans[int(row["tranche"])] = record
            continue
        missed = _missed(row["date"], record, plans)
        if missed is not None:
            words = _WORDS.get(missed["reason"], missed["reason"])
            what = f"tranche {missed['tranche']}" if missed["tranche"] is not None else "signal"
            line = f"{missed['session']} {what}: {words}: {missed['detail']}"
            out.append({**missed, "words": words, "line": line})
    return out


def _missed(
    day: date, d: dict[str, Any], plans: dict[int, dict[str, Any]]
) -> dict[str, Any] | None:
    action = d.get("action")
    tranche = d.get("tranche")
    plan = plans.get(int(tranche)) if tranche is not None else None
    row: dict[str, Any] = {
        "session": day,
        "decided": date.fromisoformat(str(plan["date"])[:10]) if plan else None,
        "tranche": tranche,
        "stage": d.get("stage", plan.get("stage") if plan else None),
        "side": "buy",
        "shares": int((plan or {}).get("order", {}).get("shares") or 0),
        "reference_price": plan.get("close") if plan else d.get("close"),
        "planned_stop": d.get("planned_stop") or ((plan or {}).get("stop") or {}).get("price"),
    }
    if action == "pre_open_check":
        why = str(d.get("why") or "")
        planned = int(d.get("planned_shares") or row["shares"])
        if d.get("check") != "buy":
            return {**row, "shares": planned, "reason": _CHECKS.get(str(d.get("check")), "blocked"),
                    "detail": why}  # fmt: skip
        bought = min(int((d.get("sizing_at_open") or {}).get("shares") or planned), planned)
        if bought >= planned:
            return None
        return {**row, "shares": planned - bought, "reason": "resized_at_open", "detail": why}
    if action == "order_not_filled":
        status = str(d.get("status") or "")
        kind = str(d.get("order") or "entry")
        reason = "cancelled" if status == "Canceled" else "rejected"
        return {
            **row,
            "side": "buy" if kind == "entry" else "sell",
            "shares": row["shares"] if kind == "entry" else 0,
            "reason": reason,
            "detail": f"the {kind} order was {status.lower() or 'not filled'}",
        }
    if action == "skip":
        why = str(d.get("why") or "")
        reason = (
            "blocked_breaker"
            if "breaker" in why
            else "blocked_line"
            if why.startswith("risk lines")
            else "blocked"
        )
        signal = d.get("signal")
        return {
            **row,
            "tranche": None,
            "decided": None,
            "shares": 0,
            "planned_stop": None,
            "reason": reason,
            "detail": f"{signal}: {why}" if signal else why,
        }
    return None
