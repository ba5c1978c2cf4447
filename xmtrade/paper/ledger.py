"""The paper ledger: one SQL database (SQLite file by default, any SQLAlchemy URL) holding
accounts, runs, the bars each account saw, fills, decisions, NAV, tranches and working orders.

Safety:
- A file that is not an xmtrade ledger (another program's database, a corrupt file, not SQLite
  at all) is refused with one line before anything is written to it.
- A step's writes are one transaction: killed at any point, the ledger is as before the step.
  SQLite runs in WAL mode with `synchronous=FULL`; the write transaction is `BEGIN IMMEDIATE`.
- One step per account at a time: for a SQLite file, an exclusive `flock` on
  `<ledger>.<account>.lock` held for the whole step (the kernel releases it when the process
  dies, even on kill -9); a second step fails at once. On every database the write also
  checks the account's `version` under `SELECT ... FOR UPDATE`, so two steps can never both
  commit the same sessions.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import socket
import sqlite3
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from data_feeds.bars import BAR_COLUMNS, placeholder_mask
from xmtrade import __version__
from xmtrade.errors import ConfigError, DataError, OutputError, writing
from xmtrade.paper import schema as s
from xmtrade.paper.records import to_json

DEFAULT_ACCOUNT = "default"
LEDGER_FILE = "paper.sqlite"
_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SQLITE_HEADER = b"SQLite format 3\x00"
_BUSY_TIMEOUT_MS = 10_000
_SERVER_LOCK_TIMEOUT_MS = 10_000

CrashHook = Callable[[str], None]


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


class Ledger:
    """A validated ledger database."""

    def __init__(self, engine: Engine, where: str, sqlite_path: Path | None) -> None:
        self.engine = engine
        self.where = where
        self.sqlite_path = sqlite_path
        self.new = False  # no ledger yet: the first account creates it

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, target: str, create: bool, make_folder: bool = True) -> Ledger:
        """Open the ledger at `target` (a file path or a SQLAlchemy URL), creating it when
        `create` and it does not exist (and its folder too when `make_folder`). Anything that
        is not an xmtrade ledger is refused before a byte of it is written."""
        url, path = _parse_target(target)
        shown = str(path) if path is not None else url.render_as_string(hide_password=True)
        if path is not None:
            names, marker = _inspect_sqlite_file(path, shown, create)
            if not names and not make_folder and not path.parent.is_dir():
                raise ConfigError(
                    "--db",
                    None,
                    f"the folder {path.parent} does not exist; create it first or give a "
                    "ledger path in an existing folder",
                )
            if not names:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise ConfigError("--db", None, f"cannot create {path.parent}: {exc}") from None
            engine = _sqlite_engine(url)
        else:
            engine = _server_engine(url, shown)
        ledger = cls(engine, shown, path)
        with ledger.errors():
            if path is None:
                names = set(sa.inspect(engine).get_table_names())
                marker = ledger._read_marker() if s.MARKER_TABLE in names else None
            if marker is not None and marker.get("application") == s.APPLICATION:
                ledger._migrate(marker)
            _verify(shown, names, marker, sqlite=path is not None, create=create)
            # a new ledger is made with its first account, in the same transaction: a refused
            # `paper init` leaves no empty ledger behind
            ledger.new = not names & set(s.LEDGER_TABLES)
        return ledger

    def _read_marker(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {k: v for k, v in conn.execute(sa.select(s.marker.c.key, s.marker.c.value))}

    def _migrate(self, marker: dict[str, str]) -> None:
        """Bring a ledger of an older schema up to this one, in one transaction (all of it or
        none), and say so once; `marker` is updated in place."""
        version = marker.get("schema_version", "?")
        if not version.isdigit() or int(version) >= s.SCHEMA_VERSION:
            return
        older = int(version)
        if any(v not in s.MIGRATIONS for v in range(older, s.SCHEMA_VERSION)):
            return  # _verify refuses it with the versions named
        with self.write() as conn:
            for step in range(older, s.SCHEMA_VERSION):
                for table_name, column_name in s.MIGRATIONS[step]:
                    column = s.metadata.tables[table_name].c[column_name]
                    kind = column.type.compile(dialect=conn.dialect)
                    conn.exec_driver_sql(
                        f"ALTER TABLE {table_name} ADD COLUMN {column_name} {kind}"
                    )
            conn.execute(
                sa.update(s.marker)
                .where(s.marker.c.key == "schema_version")
                .values(value=str(s.SCHEMA_VERSION))
            )
        marker["schema_version"] = str(s.SCHEMA_VERSION)
        print(
            f"xmtrade: upgraded the paper ledger {self.where} from schema {older} to "
            f"{s.SCHEMA_VERSION} (columns added; every row kept)",
            file=sys.stderr,
        )

    def _create(self, conn: Connection) -> None:
        """The tables and the marker of a new ledger (in the caller's transaction)."""
        if self.sqlite_path is not None:
            conn.exec_driver_sql(f"PRAGMA application_id = {s.SQLITE_APPLICATION_ID}")
        s.metadata.create_all(conn)
        conn.execute(
            sa.insert(s.marker),
            [
                {"key": "application", "value": s.APPLICATION},
                {"key": "schema_version", "value": str(s.SCHEMA_VERSION)},
                {"key": "created_at", "value": now_utc()},
                {"key": "created_by", "value": f"xmtrade {__version__}"},
            ],
        )

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Database failures as one-line errors naming the ledger."""
        try:
            yield
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            orig = _driver_error(exc)
            path = self.sqlite_path
            problem = _io_problem(orig, path) if path is not None else None
            if problem is not None or _disk_full(exc):
                raise OutputError(
                    self.where,
                    None,
                    f"cannot write: {problem or 'no space left on the device'}; the ledger is "
                    "as it was before this command (free some space and run it again)",
                ) from None
            if _lock_not_available(exc):
                raise DataError(
                    f"paper account on {self.where}",
                    None,
                    "another step is running (it holds the account's row lock); try again "
                    "when it has finished",
                ) from None
            raise DataError(
                "--db", None, f"{self.where}: database error: {type(exc).__name__}: {reason}"
            ) from None

    @contextmanager
    def rows(self, table: str) -> Iterator[None]:
        """Database failures, and rows a hand edit damaged (a date or a JSON text that does not
        parse), as one-line errors naming the ledger and the table."""
        with self.errors():
            try:
                yield
            except (ValueError, TypeError, KeyError) as exc:
                raise self.damaged(table, exc) from None

    def damaged(self, table: str, exc: BaseException) -> DataError:
        """The one-line error of a damaged row of `table`."""
        reason = (str(exc).splitlines() or [""])[0] or type(exc).__name__
        return DataError(
            self.where,
            f"table {table}",
            f"damaged row ({type(exc).__name__}): {reason}; the ledger is not usable as it is",
        )

    def loads(self, table: str, text: Any) -> Any:
        """A JSON column of `table`; a damaged text is a one-line error."""
        try:
            return json.loads(text)
        except (ValueError, TypeError) as exc:
            raise self.damaged(table, exc) from None

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (`BEGIN IMMEDIATE` on SQLite): all of it commits, or none."""
        with self.engine.connect() as conn:
            conn.execution_options(xmtrade_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    # ------------------------------------------------------------------ the lock

    def lock_path(self, account: str) -> Path | None:
        """The lock file of `account` (SQLite files only)."""
        if self.sqlite_path is None:
            return None
        return self.sqlite_path.with_name(f"{self.sqlite_path.name}.{account}.lock")

    @contextmanager
    def lock(self, account: str) -> Iterator[None]:
        """Hold the account's step lock, or fail at once naming who holds it."""
        path = self.lock_path(account)
        if path is None:
            with self._server_lock(account):
                yield
            return
        import fcntl

        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DataError(str(path), None, f"cannot open the lock file: {exc.strerror}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
                raise DataError(
                    f"paper account '{account}'",
                    None,
                    f"another step is running ({holder}); try again when it has finished",
                ) from None
            holder = f"pid {os.getpid()} on {socket.gethostname()} since {now_utc()}"
            with writing(path, kept="the ledger is as it was before this command"):
                os.ftruncate(fd, 0)
                os.pwrite(fd, holder.encode(), 0)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    @contextmanager
    def _server_lock(self, account: str) -> Iterator[None]:
        """A database server's own lock for the account's step, held on one connection for
        the whole step (released by the server when the connection dies): a session advisory
        lock on PostgreSQL, a named lock on MySQL; elsewhere only the row lock of the commit."""
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            take = "SELECT pg_try_advisory_lock(:key)"
            release = "SELECT pg_advisory_unlock(:key)"
            key: int | str = _lock_key(account)
        elif dialect in ("mysql", "mariadb"):
            take, release = "SELECT GET_LOCK(:key, 0)", "SELECT RELEASE_LOCK(:key)"
            key = f"xmtrade-paper-{account}"[:64]
        else:
            yield
            return
        with self.errors(), self.engine.connect() as conn:
            got = conn.execute(sa.text(take), {"key": key}).scalar()
            conn.commit()
            if not got:
                raise DataError(
                    f"paper account '{account}'",
                    None,
                    f"another step is running (it holds the account's lock on {self.where}); "
                    "try again when it has finished",
                )
            try:
                yield
            finally:
                with contextlib.suppress(SQLAlchemyError):
                    conn.execute(sa.text(release), {"key": key})
                    conn.commit()

    # ------------------------------------------------------------------ accounts

    def find_account(self, name: str) -> Account | None:
        """The account called `name`, or None."""
        if self.new:
            return None
        with self.rows(s.accounts.name), self.engine.connect() as conn:
            row = conn.execute(sa.select(s.accounts).where(s.accounts.c.name == name)).first()
            return None if row is None else _account(row._mapping)

    def account(self, name: str) -> Account:
        """The account called `name`; a one-line error naming the remedy when there is none."""
        found = self.find_account(name)
        if found is None:
            known = ", ".join(a.name for a in self.accounts()) or "none"
            raise ConfigError(
                "--account",
                None,
                f"no paper account '{name}' in {self.where} (accounts: {known}); create it with "
                f"xmtrade paper init --account {name}",
            )
        return found

    def accounts(self) -> list[Account]:
        """Every account, by name."""
        if self.new:
            return []
        with self.rows(s.accounts.name), self.engine.connect() as conn:
            rows = conn.execute(sa.select(s.accounts).order_by(s.accounts.c.name)).all()
            return [_account(r._mapping) for r in rows]

    def create_account(
        self,
        *,
        name: str,
        symbol: str,
        start: date,
        cash: float,
        config_hash: str,
        config_yaml: str,
        config_layers: Sequence[str],
        facts_digest: str,
        facts_content: str,
        history: pd.DataFrame,
    ) -> Account:
        """Create an account with its frozen price history (the bars before its start); the
        first one creates the ledger too. A failure leaves no new ledger file behind."""
        try:
            with self.errors(), self.write() as conn:
                if self.new:
                    self._create(conn)
                self._insert_account(
                    conn,
                    name=name,
                    symbol=symbol,
                    start=start,
                    cash=cash,
                    config_hash=config_hash,
                    config_yaml=config_yaml,
                    config_layers=config_layers,
                    facts_digest=facts_digest,
                    facts_content=facts_content,
                    history=history,
                )
        except BaseException:
            if self.new:
                self._remove_new_file()
            raise
        self.new = False
        return self.account(name)

    def _remove_new_file(self) -> None:
        """Remove the SQLite file (and its WAL) a failed first account had started."""
        self.engine.dispose()
        if self.sqlite_path is None:
            return
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(OSError):
                Path(f"{self.sqlite_path}{suffix}").unlink()

    def _insert_account(
        self,
        conn: Connection,
        *,
        name: str,
        symbol: str,
        start: date,
        cash: float,
        config_hash: str,
        config_yaml: str,
        config_layers: Sequence[str],
        facts_digest: str,
        facts_content: str,
        history: pd.DataFrame,
    ) -> None:
        exists = conn.execute(sa.select(s.accounts.c.id).where(s.accounts.c.name == name)).first()
        if exists is not None:
            raise ConfigError(
                "--account",
                None,
                f"paper account '{name}' already exists in {self.where}; choose another "
                "name, or restart it with its new config: xmtrade paper step --reset",
            )
        inserted = conn.execute(
            sa.insert(s.accounts).values(
                name=name,
                symbol=symbol,
                start_session=start,
                initial_cash=cash,
                config_hash=config_hash,
                config_yaml=config_yaml,
                config_layers=json.dumps(list(config_layers)),
                facts_digest=facts_digest,
                last_session=None,
                version=0,
                created_at=now_utc(),
            )
        ).inserted_primary_key
        assert inserted is not None
        account_id = inserted[0]
        rows = [
            {
                "account_id": account_id,
                "date": pd.Timestamp(stamp).date(),
                **{k: float(v) for k, v in zip(BAR_COLUMNS, values, strict=True)},
                "kind": "history",
                "run_id": None,
            }
            for stamp, values in zip(
                history.index, history.loc[:, list(BAR_COLUMNS)].to_numpy(), strict=True
            )
        ]
        if rows:
            conn.execute(sa.insert(s.bars), rows)
        _store_facts(conn, facts_digest, facts_content)

    # ------------------------------------------------------------------ reading

    def history(self, account: Account) -> History:
        """The account's bars and recorded outputs (one consistent snapshot)."""
        aid = account.id
        with self.errors(), self.engine.connect() as conn:
            with self.rows(s.bars.name):
                bar_rows = conn.execute(
                    sa.select(s.bars).where(s.bars.c.account_id == aid).order_by(s.bars.c.date)
                ).all()
                frame = bars_frame([r._mapping for r in bar_rows])
                sessions = tuple(r.date for r in bar_rows if r.kind == "session")
            with self.rows(s.equity.name):
                equity = [
                    _equity(r._mapping)
                    for r in conn.execute(
                        sa.select(s.equity)
                        .where(s.equity.c.account_id == aid)
                        .order_by(s.equity.c.date)
                    ).all()
                ]
            with self.rows(s.fills.name):
                fills = [
                    _fill(r._mapping)
                    for r in conn.execute(
                        sa.select(s.fills)
                        .where(s.fills.c.account_id == aid)
                        .order_by(s.fills.c.seq)
                    ).all()
                ]
            decisions = list(
                conn.execute(
                    sa.select(s.decisions.c.record)
                    .where(s.decisions.c.account_id == aid)
                    .order_by(s.decisions.c.seq)
                ).scalars()
            )
            with self.rows(s.revisions.name):
                known = frozenset(
                    (r.date, r.source)
                    for r in conn.execute(
                        sa.select(s.revisions.c.date, s.revisions.c.source).where(
                            s.revisions.c.account_id == aid
                        )
                    ).all()
                )
            facts = conn.execute(
                sa.select(s.facts_files.c.content).where(
                    s.facts_files.c.digest == account.facts_digest
                )
            ).scalar()
        return History(frame, sessions, equity, fills, decisions, known, facts)

    def table(self, account: Account, table: sa.Table, order: str) -> list[dict[str, Any]]:
        """Every row of one of the account's tables, in `order`."""
        with self.rows(table.name), self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table).where(table.c.account_id == account.id).order_by(table.c[order])
            ).all()
        return [dict(r._mapping) for r in rows]

    def runs(self, account: Account, limit: int | None = None) -> list[dict[str, Any]]:
        """The account's runs, newest first."""
        query = (
            sa.select(s.runs).where(s.runs.c.account_id == account.id).order_by(s.runs.c.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        with self.rows(s.runs.name), self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # ------------------------------------------------------------------ writing

    def record_run(
        self, account: Account, run: RunRecord, revisions: Sequence[Mapping[str, Any]] = ()
    ) -> int:
        """Log a run that processed nothing (no new bar, refused, failed), with the price
        revisions it found (date, ledger, source)."""
        with self.errors(), self.write() as conn:
            run_id = _insert_run(conn, account.id, run)
            if revisions:
                tagged = {"account_id": account.id, "run_id": run_id}
                conn.execute(sa.insert(s.revisions), [{**r, **tagged} for r in revisions])
            return run_id

    def commit_step(self, account: Account, writes: StepWrites, crash: CrashHook) -> int:
        """Write one step in one transaction; refuse if another step committed meanwhile."""
        aid = account.id
        with self.errors(), self.write() as conn:
            current = conn.execute(
                sa.select(s.accounts.c.version)
                .where(s.accounts.c.id == aid)
                .with_for_update(nowait=True)
            ).scalar()
            if current != account.version:
                raise DataError(
                    f"paper account '{account.name}'",
                    None,
                    "another step committed while this one ran; nothing was written (run it again)",
                )
            run_id = _insert_run(conn, aid, writes.run)
            if writes.reset:
                for table in (s.fills, s.decisions, s.equity):
                    conn.execute(sa.delete(table).where(table.c.account_id == aid))
            tagged = {"account_id": aid, "run_id": run_id}
            if writes.bars:
                conn.execute(
                    sa.insert(s.bars), [{**b, **tagged, "kind": "session"} for b in writes.bars]
                )
            crash("after_bars")
            if writes.fills:
                conn.execute(
                    sa.insert(s.fills),
                    [{**f, **tagged, "charges": to_json(f["charges"])} for f in writes.fills],
                )
            crash("after_fills")
            if writes.decisions:
                conn.execute(sa.insert(s.decisions), [{**d, **tagged} for d in writes.decisions])
            if writes.equity:
                conn.execute(
                    sa.insert(s.equity),
                    [{**e, **tagged, "lines": to_json(e["lines"])} for e in writes.equity],
                )
            crash("mid_transaction")
            for table, rows in ((s.tranches, writes.tranches), (s.orders, writes.orders)):
                conn.execute(sa.delete(table).where(table.c.account_id == aid))
                if rows:
                    conn.execute(sa.insert(table), [{**r, **tagged} for r in rows])
            if writes.revisions:
                conn.execute(sa.insert(s.revisions), [{**r, **tagged} for r in writes.revisions])
            _store_facts(conn, writes.facts_digest, writes.facts_content)
            update: dict[str, Any] = {
                "last_session": writes.last_session,
                "facts_digest": writes.facts_digest,
                "version": account.version + 1,
            }
            if writes.config is not None:
                update["config_hash"], update["config_yaml"], layers = writes.config
                update["config_layers"] = json.dumps(list(layers))
            conn.execute(sa.update(s.accounts).where(s.accounts.c.id == aid).values(**update))
            crash("before_commit")
        crash("after_commit")
        return run_id


# ---------------------------------------------------------------------- rows


def bars_frame(rows: Sequence[Mapping[Any, Any]]) -> pd.DataFrame:
    """Canonical bars from ledger rows (dates ascending)."""
    index = pd.DatetimeIndex([pd.Timestamp(r["date"]) for r in rows], name="date").as_unit("ns")
    frame = pd.DataFrame(
        {k: [float(r[k]) for r in rows] for k in BAR_COLUMNS}, index=index, dtype="float64"
    )
    frame["no_trading"] = placeholder_mask(frame)
    return frame


def _account(row: Mapping[Any, Any]) -> Account:
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
    )


def _equity(row: Mapping[Any, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in ("date", "nav", "cash", "position_value", "shares", "weight")}
    out.update({k: row[k] for k in ("drawdown", "stage", "ps_ratio")})
    out["lines"] = json.loads(row["lines"])
    return out


def _fill(row: Mapping[Any, Any]) -> dict[str, Any]:
    from xmtrade.paper.records import FILL_FIELDS

    out = {k: row[k] for k in FILL_FIELDS}
    out["charges"] = json.loads(row["charges"])
    return out


def _insert_run(conn: Connection, account_id: int, run: RunRecord) -> int:
    values = {
        "account_id": account_id,
        "started_at": run.started_at,
        "finished_at": now_utc(),
        "trigger": run.trigger,
        "asof": run.asof,
        "outcome": run.outcome,
        "sessions_processed": run.sessions_processed,
        "first_session": run.first_session,
        "last_session": run.last_session,
        "stale": run.stale,
        "revisions": run.revisions,
        "reset": run.reset,
        "facts_digest": run.facts_digest,
        "config_hash": run.config_hash,
        "notes": json.dumps(run.notes),
        "summary": run.summary,
    }
    inserted = conn.execute(sa.insert(s.runs).values(**values)).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def _store_facts(conn: Connection, digest: str, content: str) -> None:
    known = conn.execute(
        sa.select(s.facts_files.c.digest).where(s.facts_files.c.digest == digest)
    ).first()
    if known is None:
        conn.execute(sa.insert(s.facts_files).values(digest=digest, content=content))


# ---------------------------------------------------------------------- failures

_SQLITE_FULL = 13  # SQLITE_FULL: "database or disk is full"
_PG_DISK_FULL = "53100"
_PG_LOCK_NOT_AVAILABLE = "55P03"


def _driver_error(exc: BaseException) -> BaseException:
    return getattr(exc, "orig", None) or exc


def _disk_full(exc: BaseException) -> bool:
    """A write the disk could not take (SQLite, PostgreSQL, or the OS saying so)."""
    orig = _driver_error(exc)
    if getattr(orig, "sqlite_errorcode", None) == _SQLITE_FULL:
        return True
    if getattr(orig, "sqlstate", None) == _PG_DISK_FULL or getattr(orig, "pgcode", None) == (
        _PG_DISK_FULL
    ):
        return True
    if isinstance(orig, OSError) and orig.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(orig).lower()
    return "database or disk is full" in text or "no space left on device" in text


def _lock_key(account: str) -> int:
    """A stable signed 64-bit key of the account's step lock (PostgreSQL advisory locks)."""
    import hashlib

    digest = hashlib.sha256(f"xmtrade paper step {account}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_SQLITE_IOERR = 10
_SQLITE_CANTOPEN = 14
_LOW_SPACE = 1 << 20  # bytes: SQLite needs room for its WAL and shared-memory files


def _io_problem(exc: BaseException, path: Path) -> str | None:
    """What went wrong when SQLite could not read or write for a reason of the disk (full,
    I/O error, cannot create its side files), or None for anything else (a damaged file)."""
    code = getattr(exc, "sqlite_errorcode", None)
    base = code & 0xFF if isinstance(code, int) else None
    if base not in (_SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN) and not _disk_full(exc):
        return None
    try:
        stat = os.statvfs(path.parent)
        full = stat.f_bavail * stat.f_frsize < _LOW_SPACE
    except OSError:
        full = False
    if full or base == _SQLITE_FULL:
        return "no space left on the device"
    return f"the disk failed ({exc})"


def _lock_not_available(exc: BaseException) -> bool:
    """Another connection holds the row (`SELECT ... FOR UPDATE NOWAIT` on a server)."""
    orig = _driver_error(exc)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code == _PG_LOCK_NOT_AVAILABLE or "could not obtain lock" in str(orig).lower()


# ---------------------------------------------------------------------- engines


def default_target(data_dir: Path) -> str:
    """The ledger of a data directory: `<data dir>/paper.sqlite`."""
    return str(data_dir / LEDGER_FILE)


def _parse_target(target: str) -> tuple[sa.URL, Path | None]:
    """A SQLAlchemy URL and, for an SQLite file, its path."""
    from sqlalchemy.exc import ArgumentError

    text = target.strip()
    if not text:
        raise ConfigError("--db", None, "expected a file path or a SQLAlchemy URL, got ''")
    if "://" not in text:
        path = Path(text).expanduser()
        return sa.URL.create("sqlite", database=str(path)), path
    try:
        url = sa.make_url(text)
    except ArgumentError:
        raise ConfigError(
            "--db", None, f"not a SQLAlchemy URL (expected e.g. sqlite:///paper.sqlite): {text!r}"
        ) from None
    if url.get_backend_name() != "sqlite":
        return url, None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise ConfigError(
            "--db",
            None,
            f"{text!r}: an in-memory database keeps nothing between commands; "
            "give a file path or a server URL",
        )
    return url, Path(database).expanduser()


def _inspect_sqlite_file(
    path: Path, shown: str, create: bool
) -> tuple[set[str], dict[str, str] | None]:
    """The tables and ledger marker of an SQLite file, read with the standard library only
    (nothing is written). A file that is not SQLite, is corrupt, or belongs to another
    application is refused here."""
    if path.is_dir():
        raise ConfigError("--db", None, f"{shown} is a directory, expected a ledger file")
    if not path.exists() or path.stat().st_size == 0:
        if not create:
            raise ConfigError(
                "--db",
                None,
                f"no paper ledger at {shown}; create an account first: xmtrade paper init",
            )
        return set(), None
    try:
        with path.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise ConfigError("--db", None, f"cannot read {shown}: {exc.strerror}") from None
    if header != _SQLITE_HEADER:
        raise ConfigError(
            "--db",
            None,
            f"{shown} is not an xmtrade ledger (not an SQLite database file); nothing was changed",
        )
    try:
        conn = sqlite3.connect(str(path), isolation_level=None)
    except sqlite3.Error as exc:
        raise ConfigError("--db", None, f"cannot open {shown}: {exc}") from None
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        problems = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
        names = {
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        marker = (
            dict(conn.execute(f"SELECT key, value FROM {s.MARKER_TABLE}").fetchall())
            if s.MARKER_TABLE in names
            else None
        )
    except sqlite3.DatabaseError as exc:
        problem = _io_problem(exc, path)
        if problem is not None:  # the disk failed us, not the file: never called corrupt
            raise OutputError(
                shown,
                None,
                f"cannot open the ledger: {problem} (nothing was changed; free some space "
                "and run again)",
            ) from None
        raise ConfigError(
            "--db", None, f"{shown} is corrupt or not a database ({exc}); nothing was changed"
        ) from None
    finally:
        conn.close()
    if problems != ["ok"]:
        raise ConfigError(
            "--db",
            None,
            f"{shown} is corrupt (integrity check: {_first_problem(problems)}); "
            "nothing was changed (restore it from a backup)",
        )
    if app_id not in (0, s.SQLITE_APPLICATION_ID):
        raise ConfigError(
            "--db",
            None,
            f"{shown} is not an xmtrade ledger (SQLite application id {app_id:#x}); "
            "nothing was changed",
        )
    return names, marker


def _first_problem(problems: Sequence[Any]) -> str:
    """SQLite's integrity-check rows (each may span lines) as one line: the first problem and
    how many there are."""
    lines = [
        line.strip()
        for row in problems
        for line in str(row).splitlines()
        if line.strip() and not line.strip().startswith("*** in database")
    ]
    if not lines:
        return "failed"
    more = f" (and {len(lines) - 1} more problem{'s' if len(lines) > 2 else ''})"
    return lines[0] + (more if len(lines) > 1 else "")


def _verify(
    shown: str, names: set[str], marker: dict[str, str] | None, *, sqlite: bool, create: bool
) -> None:
    """Refuse anything but an xmtrade ledger of this schema (or, with `create`, an empty
    database; a server database may hold other applications' tables)."""
    if marker is None:
        ours = sorted(names & set(s.LEDGER_TABLES))
        if ours:
            raise ConfigError(
                "--db",
                None,
                f"{shown} is not an xmtrade ledger (it has {', '.join(ours)} but no "
                f"{s.MARKER_TABLE} table); nothing was changed",
            )
        if sqlite and names:
            raise ConfigError(
                "--db",
                None,
                f"{shown} is not an xmtrade ledger (it holds other tables: "
                f"{', '.join(sorted(names)[:5])}); nothing was changed",
            )
        if not create:
            raise ConfigError(
                "--db", None, f"no paper ledger in {shown}; create an account: xmtrade paper init"
            )
        return
    if marker.get("application") != s.APPLICATION:
        raise ConfigError(
            "--db",
            None,
            f"{shown} is not an xmtrade ledger ({s.MARKER_TABLE} says "
            f"{marker.get('application')!r}); nothing was changed",
        )
    version = marker.get("schema_version", "?")
    if version != str(s.SCHEMA_VERSION):
        raise ConfigError(
            "--db",
            None,
            f"{shown} has ledger schema {version}; this xmtrade {__version__} reads schema "
            f"{s.SCHEMA_VERSION} (upgrade xmtrade); nothing was changed",
        )
    missing = sorted(set(s.LEDGER_TABLES) - names)
    if missing:
        raise ConfigError(
            "--db",
            None,
            f"{shown} is a damaged xmtrade ledger (missing {', '.join(missing)}); "
            "nothing was changed",
        )


def _sqlite_engine(url: sa.URL) -> Engine:
    from sqlalchemy.pool import NullPool

    engine = sa.create_engine(url, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("xmtrade_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _server_engine(url: sa.URL, shown: str) -> Engine:
    from sqlalchemy.exc import NoSuchModuleError

    # a lock another step holds is waited for this long at most, then "another step is
    # running": never a hang
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in ("psycopg", "psycopg2"):
        connect_args["options"] = f"-c lock_timeout={_SERVER_LOCK_TIMEOUT_MS}"
    try:
        engine = sa.create_engine(url, connect_args=connect_args)
    except NoSuchModuleError:
        raise ConfigError(
            "--db", None, f"{shown}: SQLAlchemy has no dialect {url.drivername!r}"
        ) from None
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "--db", None, f"{shown}: the database driver is not installed ({exc})"
        ) from None
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise ConfigError("--db", None, f"cannot connect to {shown}: {reason}") from None
    return engine
