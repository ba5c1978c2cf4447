"""The ledger's tables (SQLAlchemy Core). Every table but the marker is prefixed `paper_`, so a
ledger can live in a server database next to other applications' tables.

Money and prices are floats (SQL REAL, double precision): they are stored exactly as the
backtest computed them, so a replay can be compared with the ledger bit for bit.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

APPLICATION = "xmtrade paper ledger"
SCHEMA_VERSION = 3
# what turns a ledger of each older schema into the next one: columns added (all nullable, so
# the rows a ledger already holds stay as they were); applied in one transaction on open
MIGRATIONS: dict[int, list[tuple[str, str]]] = {
    # schema 2: the stop method and the risk at the fill and at the exit of each tranche
    1: [
        ("paper_tranches", "stop_method"),
        ("paper_tranches", "risk_at_fill_pct_nav"),
        ("paper_tranches", "realised_risk_pct_nav"),
    ],
    # schema 3: the account's home (the folder, the facts file it was made with); the table of
    # facts entered after their announcement had already been processed (below)
    2: [
        ("paper_accounts", "home"),
        ("paper_accounts", "facts_file"),
        ("paper_runs", "messages"),
        ("paper_runs", "notified"),
    ],
}
# tables a schema adds (created in the same transaction as its columns)
NEW_TABLES: dict[int, list[str]] = {2: ["paper_facts_late"]}
SQLITE_APPLICATION_ID = 0x786D7472  # "xmtr", in the SQLite file header
MARKER_TABLE = "xmtrade_ledger"

metadata = MetaData()

# key/value facts about the ledger itself: application, schema_version, created_at, created_by
marker = Table(
    MARKER_TABLE,
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

accounts = Table(
    "paper_accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("symbol", String(32), nullable=False),
    Column("start_session", Date, nullable=False),
    Column("initial_cash", Float, nullable=False),
    # the config the account is bound to: hash without the facts file, merged YAML, -c files
    Column("config_hash", String(32), nullable=False),
    Column("config_yaml", Text, nullable=False),
    Column("config_layers", Text, nullable=False),
    # sha256 of the facts file the last committed step used (its text is in paper_facts_files)
    Column("facts_digest", String(80), nullable=False),
    Column("last_session", Date),  # the last session processed; NULL before the first
    Column("version", Integer, nullable=False),  # +1 per committed step: optimistic lock
    Column("created_at", String(40), nullable=False),
    # where the account was made: the folder (resolved) and the facts file its config named;
    # with config_layers, what a step run from anywhere else uses (NULL: before schema 3)
    Column("home", Text),
    Column("facts_file", Text),
)

runs = Table(
    "paper_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("paper_accounts.id"), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40), nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("asof", Date),
    # processed | no new bar | no bar published | network unreachable | refused | failed
    Column("outcome", String(32), nullable=False),
    Column("sessions_processed", Integer, nullable=False),
    Column("first_session", Date),
    Column("last_session", Date),
    Column("stale", Boolean, nullable=False),
    Column("revisions", Integer, nullable=False),
    Column("reset", Boolean, nullable=False),
    Column("facts_digest", String(80)),
    Column("config_hash", String(32)),
    Column("notes", Text, nullable=False),  # JSON list of lines
    Column("summary", Text, nullable=False),
    # the run's notifications (JSON list of {kind, title, body, fields}) and whether they went
    # out: false until every target took them (the next step or `paper notify` retries)
    Column("messages", Text),
    Column("notified", Boolean),
    Index("ix_paper_runs_account", "account_id", "id"),
)

bars = Table(
    "paper_bars",
    metadata,
    Column("account_id", Integer, ForeignKey("paper_accounts.id"), nullable=False),
    Column("date", Date, nullable=False),
    Column("open", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("close", Float, nullable=False),
    Column("volume", Float, nullable=False),
    Column("kind", String(8), nullable=False),  # history (stored at init) | session (processed)
    Column("run_id", Integer),
    PrimaryKeyConstraint("account_id", "date"),
)

revisions = Table(
    "paper_revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("paper_accounts.id"), nullable=False),
    Column("run_id", Integer, nullable=False),
    Column("date", Date, nullable=False),
    Column("ledger", Text),  # JSON bar the ledger keeps (NULL: the ledger has no bar that day)
    Column("source", Text),  # JSON bar the price cache now has (NULL: the cache lost it)
)

fills = Table(
    "paper_fills",
    metadata,
    Column("account_id", Integer, ForeignKey("paper_accounts.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("date", Date, nullable=False),
    Column("tranche", Integer, nullable=False),
    Column("stage", Integer, nullable=False),
    Column("side", String(8), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("order_price", Float),
    Column("shares", Integer, nullable=False),
    Column("price", Float, nullable=False),
    Column("value", Float, nullable=False),
    Column("fees", Float, nullable=False),
    Column("charges", Text, nullable=False),  # JSON {charge kind: HK$}, in the cost model's order
    Column("reason", Text),
    Column("run_id", Integer, nullable=False),
    PrimaryKeyConstraint("account_id", "seq"),
)

decisions = Table(
    "paper_decisions",
    metadata,
    Column("account_id", Integer, ForeignKey("paper_accounts.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("date", Date, nullable=False),
    Column("action", String(32), nullable=False),
    Column("tranche", Integer),
    Column("record", Text, nullable=False),  # the JSON line decisions.jsonl would hold
    Column("run_id", Integer, nullable=False),
    PrimaryKeyConstraint("account_id", "seq"),
)

equity = Table(
    "paper_equity",
    metadata,
    Column("account_id", Integer, ForeignKey("paper_accounts.id"), nullable=False),
    Column("date", Date, nullable=False),
    Column("nav", Float, nullable=False),
    Column("cash", Float, nullable=False),
    Column("position_value", Float, nullable=False),
    Column("shares", Integer, nullable=False),
    Column("weight", Float, nullable=False),
    Column("drawdown", Float, nullable=False),
    Column("stage", Integer, nullable=False),
    Column("ps_ratio", Float),
    Column("lines", Text, nullable=False),  # JSON {"line1": "ok" | "alarm" | "unknown", ...}
    Column("run_id", Integer, nullable=False),
    PrimaryKeyConstraint("account_id", "date"),
)

tranches = Table(
    "paper_tranches",
    metadata,
    Column("account_id", Integer, ForeignKey("paper_accounts.id"), nullable=False),
    Column("id", Integer, nullable=False),
    Column("stage", Integer, nullable=False),
    Column("entry_date", Date, nullable=False),
    Column("entry_price", Float, nullable=False),
    Column("shares", Integer, nullable=False),
    Column("stop_price", Float),
    Column("initial_stop", Float),
    Column("planned_risk_pct_nav", Float, nullable=False),
    Column("stop_method", String(32)),
    Column("risk_at_fill_pct_nav", Float),
    Column("realised_risk_pct_nav", Float),
    Column("exit_date", Date),
    Column("exit_price", Float),
    Column("exit_reason", String(32), nullable=False),  # "open" while held
    Column("pnl", Float),
    Column("pnl_pct_nav", Float),
    Column("fees", Float, nullable=False),
    Column("sessions_held", Integer, nullable=False),
    Column("cap_breach", Boolean, nullable=False),
    Column("entry_reason", Text, nullable=False),
    Column("run_id", Integer, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
)

# the orders working after the last processed session (replaced by every step)
orders = Table(
    "paper_orders",
    metadata,
    Column("account_id", Integer, ForeignKey("paper_accounts.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("as_of", Date, nullable=False),
    Column("tranche", Integer, nullable=False),
    Column("stage", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # entry | exit | stop
    Column("side", String(8), nullable=False),
    Column("order_type", String(16), nullable=False),  # market | stop
    Column("shares", Integer, nullable=False),
    Column("price", Float),
    Column("reason", Text),
    Column("run_id", Integer, nullable=False),
    PrimaryKeyConstraint("account_id", "seq"),
)

# facts rows a step first saw after the session their announcement makes them usable from had
# already been processed: the account uses each from `first_session` (the first session the
# step that found it processed), the backtest from its announcement. Cleared by --reset.
facts_late = Table(
    "paper_facts_late",
    metadata,
    Column("account_id", Integer, ForeignKey("paper_accounts.id"), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("period", String(16), nullable=False),
    Column("announced", Date, nullable=False),
    Column("usable_from", Date, nullable=False),  # what the announcement alone gives
    Column("first_session", Date, nullable=False),  # what the account uses
    Column("recorded_at", String(40), nullable=False),  # the step that first saw it (UTC)
    Column("run_id", Integer, nullable=False),
    PrimaryKeyConstraint("account_id", "metric", "period", "announced"),
)

facts_files = Table(
    "paper_facts_files",
    metadata,
    Column("digest", String(80), primary_key=True),
    Column("content", Text, nullable=False),
)

LEDGER_TABLES = tuple(t.name for t in metadata.sorted_tables)
