"""The live desk's list of orders decided and not filled: the paper ledger's own
`xmtrade.paper.views.orders_not_filled` as JSON rows."""

from __future__ import annotations

from typing import Any

from xmtrade.paper.ledger import Account, Ledger
from xmtrade.paper.views import orders_not_filled as listed


def orders_not_filled(ledger: Ledger, account: Account) -> list[dict[str, Any]]:
    """Every order of `account` decided and not (or not wholly) filled, and every signal
    blocked before it became an order, oldest first, as JSON rows: session, decided, tranche,
    stage, side, shares, reference_price, planned_stop, reason (a code), words, detail, line."""
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
