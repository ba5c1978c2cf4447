"""Rows between a `BacktestResult` and the ledger, in plain Python values.

A replayed session and a stored one are compared through these rows, so both sides go through
the same conversion: numpy scalars become Python numbers, NaN becomes None, timestamps become
dates. Decisions are stored as the exact JSON line `decisions.jsonl` would hold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from data_feeds.bars import BAR_COLUMNS
from xmtrade.backtest import FILL_FIELDS
from xmtrade.reports.figures import decision_line, json_default

EQUITY_FIELDS = (
    "nav",
    "cash",
    "position_value",
    "shares",
    "weight",
    "drawdown",
    "stage",
    "ps_ratio",
)
ORDER_FIELDS = ("tranche", "stage", "kind", "side", "type", "shares", "price", "reason")


def plain(value: Any) -> Any:
    """`value` as a plain Python value: numpy scalars unwrapped, NaN and NaT as None,
    timestamps as dates."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.date()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    return value


def decision_text(record: Mapping[str, Any]) -> str:
    """The JSON line of one decision, exactly as the backtest writes it."""
    return decision_line(dict(record))


def to_json(value: Any) -> str:
    """Compact JSON for the ledger's JSON columns."""
    return json.dumps(value, default=json_default, separators=(",", ":"))


def fill_rows(frame: pd.DataFrame, fee_kinds: Iterable[str]) -> list[dict[str, Any]]:
    """The fills of a result, each with its charges as a {kind: HK$} mapping."""
    kinds = list(fee_kinds)
    rows = []
    for raw in frame.to_dict("records"):
        row = {name: plain(raw[name]) for name in FILL_FIELDS}
        row["charges"] = {kind: plain(raw[kind]) for kind in kinds}
        rows.append(row)
    return rows


def equity_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The NAV rows of a result, one per session, with the risk lines' states as a mapping."""
    lines = sorted(c for c in frame.columns if str(c).startswith("line"))
    rows = []
    for stamp, raw in zip(frame.index, frame.to_dict("records"), strict=True):
        row: dict[str, Any] = {"date": pd.Timestamp(stamp).date()}
        row.update({name: plain(raw[name]) for name in EQUITY_FIELDS})
        row["lines"] = {name: plain(raw[name]) for name in lines}
        rows.append(row)
    return rows


def tranche_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The tranches of a result (trades.csv's rows) in plain values."""
    return [{str(k): plain(v) for k, v in raw.items()} for raw in frame.to_dict("records")]


def order_rows(orders: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The working orders of a result in plain values."""
    return [{name: plain(order.get(name)) for name in ORDER_FIELDS} for order in orders]


def bar_row(day: date, values: Mapping[Any, Any]) -> dict[str, Any]:
    """One bar's OHLCV as plain floats."""
    row: dict[str, Any] = {"date": day}
    row.update({name: float(values[name]) for name in BAR_COLUMNS})
    return row


def describe_order(order: Mapping[str, Any]) -> str:
    """`stop sell 1,400 @ 31.44 (tranche 14)` or `entry buy 1,400 at the open (tranche 15)`."""
    price = order.get("price")
    where = f"@ {price:g}" if price is not None else "at the open"
    return (
        f"{order['kind']} {order['side']} {int(order['shares']):,} {where} "
        f"(tranche {order['tranche']})"
    )


def describe_fill(fill: Mapping[str, Any]) -> str:
    """`buy 1,400 @ 30.12 (tranche 1 entry, fees HK$43.21)`."""
    return (
        f"{fill['side']} {int(fill['shares']):,} @ {fill['price']:g} "
        f"(tranche {fill['tranche']} {fill['kind']}, fees HK${fill['fees']:,.2f})"
    )
