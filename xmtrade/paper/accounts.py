"""The ledger's records as Python values: an account, its history, one run, one step's writes,
and the conversions from database rows."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from data_feeds.bars import BAR_COLUMNS, placeholder_mask
from xmtrade.errors import ConfigError

DEFAULT_ACCOUNT = "default"
_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_account_name(name: str) -> str:
    """An account name: letters, digits, `_`, `.`, `-`, up to 64 characters."""
    if not _ACCOUNT_NAME.match(name):
        raise ConfigError(
            "command line",
            "--account",
            f"expected a name of letters, digits, '_', '.' or '-' (up to 64), got {name!r}",
        )
    return name


def now_utc() -> str:
    """The current time as an ISO string in UTC (how the ledger stores times)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Account:
    """One paper account as stored."""

    id: int
    name: str
    symbol: str
    start: date
    initial_cash: float
    config_hash: str
    config_yaml: str
    config_layers: tuple[str, ...]
    facts_digest: str
    last_session: date | None
    version: int
    created_at: str
    home: str | None = None  # the folder `paper init` ran in (None: made before schema 3)
    facts_file: str | None = None  # the facts file its config named, resolved

    def home_folder(self) -> str | None:
        """The folder the account was made in: recorded, or (older accounts) the folder of
        its first config layer."""
        if self.home:
            return self.home
        if self.config_layers:
            from pathlib import Path

            return str(Path(self.config_layers[0]).parent)
        return None


@dataclass(frozen=True)
class LateFact:
    """A facts row first seen after its announcement's session had been processed."""

    metric: str
    period: str
    announced: date
    usable_from: date  # by the announcement (what a backtest uses)
    first_session: date  # what the account uses
    recorded_at: str  # UTC, the step that first saw it


@dataclass(frozen=True)
class History:
    """What an account has recorded: the replay's input and the outputs it must reproduce."""

    bars: pd.DataFrame  # canonical bars: the history stored at init, then every processed bar
    sessions: tuple[date, ...]  # processed sessions, ascending
    equity: list[dict[str, Any]]
    fills: list[dict[str, Any]]
    decisions: list[str]
    known_revisions: frozenset[tuple[date, str | None]]
    facts_content: str | None  # the facts file the last committed step used
    late_facts: tuple[LateFact, ...] = ()


@dataclass
class RunRecord:
    """One row of `paper_runs`."""

    started_at: str
    trigger: str
    outcome: str
    asof: date | None = None
    sessions_processed: int = 0
    first_session: date | None = None
    last_session: date | None = None
    stale: bool = False
    revisions: int = 0
    reset: bool = False
    facts_digest: str | None = None
    config_hash: str | None = None
    notes: list[str] = field(default_factory=list)
    summary: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)  # notifications to send
    notified: bool | None = None  # False: to send; None: nothing to send


@dataclass
class StepWrites:
    """Everything one step adds to an account, written in one transaction."""

    run: RunRecord
    reset: bool
    bars: list[dict[str, Any]]
    fills: list[dict[str, Any]]  # with `seq`
    decisions: list[dict[str, Any]]  # seq, date, action, tranche, record
    equity: list[dict[str, Any]]
    tranches: list[dict[str, Any]]  # the whole set after the step
    orders: list[dict[str, Any]]  # the whole working set after the step
    revisions: list[dict[str, Any]]  # date, ledger, source (JSON texts)
    last_session: date | None
    facts_digest: str
    facts_content: str
    config: tuple[str, str, tuple[str, ...]] | None = None  # new hash, yaml, layers (reset)
    late_facts: list[LateFact] = field(default_factory=list)  # found by this step
    home: tuple[str, str] | None = None  # folder, facts file (set on --reset)


def bars_frame(rows: Sequence[Mapping[Any, Any]]) -> pd.DataFrame:
    """Canonical bars from ledger rows (dates ascending)."""
    index = pd.DatetimeIndex([pd.Timestamp(r["date"]) for r in rows], name="date").as_unit("ns")
    frame = pd.DataFrame(
        {k: [float(r[k]) for r in rows] for k in BAR_COLUMNS}, index=index, dtype="float64"
    )
    frame["no_trading"] = placeholder_mask(frame)
    return frame


def account_from_row(row: Mapping[Any, Any]) -> Account:
    return Account(
        id=row["id"],
        name=row["name"],
        symbol=row["symbol"],
        start=row["start_session"],
        initial_cash=float(row["initial_cash"]),
        config_hash=row["config_hash"],
        config_yaml=row["config_yaml"],
        config_layers=tuple(json.loads(row["config_layers"])),
        facts_digest=row["facts_digest"],
        last_session=row["last_session"],
        version=int(row["version"]),
        created_at=row["created_at"],
        home=row.get("home"),
        facts_file=row.get("facts_file"),
    )


def equity_from_row(row: Mapping[Any, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in ("date", "nav", "cash", "position_value", "shares", "weight")}
    out.update({k: row[k] for k in ("drawdown", "stage", "ps_ratio")})
    out["lines"] = json.loads(row["lines"])
    return out


def fill_from_row(row: Mapping[Any, Any]) -> dict[str, Any]:
    from xmtrade.paper.records import FILL_FIELDS

    out = {k: row[k] for k in FILL_FIELDS}
    out["charges"] = json.loads(row["charges"])
    return out
