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
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from data_feeds.bars import BAR_COLUMNS
from xmtrade import __version__
from xmtrade.errors import ConfigError, DataError, OutputError
from xmtrade.paper import schema as s
from xmtrade.paper.accounts import (
    DEFAULT_ACCOUNT,
    Account,
    History,
    LateFact,
    RunRecord,
    StepWrites,
    account_from_row,
    bars_frame,
    check_account_name,
    equity_from_row,
    fill_from_row,
    now_utc,
)
from xmtrade.paper.database import (
    LEDGER_FILE,
    default_target,
    disk_full,
    driver_error,
    inspect_sqlite_file,
    io_problem,
    lock_not_available,
    parse_target,
    read_only_reason,
    server_engine,
    sqlite_engine,
    verify,
)
from xmtrade.paper.records import to_json

__all__ = [
    "DEFAULT_ACCOUNT",
    "LEDGER_FILE",
    "Account",
    "History",
    "LateFact",
    "Ledger",
    "RunRecord",
    "StepWrites",
    "bars_frame",
    "check_account_name",
    "default_target",
    "now_utc",
]

CrashHook = Callable[[str], None]


class Ledger:
    """A validated ledger database."""

    def __init__(self, engine: Engine, where: str, sqlite_path: Path | None) -> None:
        self.engine = engine
        self.where = where
        self.sqlite_path = sqlite_path
        self.new = False  # no ledger yet: the first account creates it
        self.read_only: str | None = None  # why the file cannot be written (None: it can)

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls, target: str, create: bool, make_folder: bool = True, read_only: bool = False
    ) -> Ledger:
        """Open the ledger at `target` (a file path or a SQLAlchemy URL), creating it when
        `create` and it does not exist (and its folder too when `make_folder`). Anything that
        is not an xmtrade ledger is refused before a byte of it is written. `read_only` opens
        an SQLite file for reading only (a reader beside running steps, e.g. a live page):
        it never writes, never upgrades, never takes a write lock."""
        url, path = parse_target(target)
        shown = str(path) if path is not None else url.render_as_string(hide_password=True)
        if path is not None:
            names, marker = inspect_sqlite_file(path, shown, create)
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
            why = read_only_reason(path) if names else None
            if read_only and names and why is None:
                why = "opened read-only"
            engine = sqlite_engine(url, why is not None)
        else:
            engine = server_engine(url, shown)
        ledger = cls(engine, shown, path)
        ledger.read_only = why if path is not None else None
        with ledger.errors():
            if path is None:
                names = set(sa.inspect(engine).get_table_names())
                marker = ledger._read_marker() if s.MARKER_TABLE in names else None
            ours = marker is not None and marker.get("application") == s.APPLICATION
            if ours and marker is not None and ledger._migrate(marker):
                names = set(sa.inspect(engine).get_table_names())  # with the new tables
            verify(shown, names, marker, sqlite=path is not None, create=create)
            # a new ledger is made with its first account, in the same transaction: a refused
            # `paper init` leaves no empty ledger behind
            ledger.new = not names & set(s.LEDGER_TABLES)
        return ledger

    def _read_marker(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {k: v for k, v in conn.execute(sa.select(s.marker.c.key, s.marker.c.value))}

    def _migrate(self, marker: dict[str, str]) -> bool:
        """Bring a ledger of an older schema up to this one, in one transaction (all of it or
        none), and say so once; `marker` is updated in place. True when it upgraded."""
        version = marker.get("schema_version", "?")
        if not version.isdigit() or int(version) >= s.SCHEMA_VERSION:
            return False
        older = int(version)
        if any(v not in s.MIGRATIONS for v in range(older, s.SCHEMA_VERSION)):
            return False  # verify refuses it with the versions named
        if self.read_only is not None:
            raise OutputError(
                self.where,
                None,
                f"the ledger has schema {older} and is read-only ({self.read_only}): this "
                f"xmtrade reads schema {s.SCHEMA_VERSION} and upgrades it in place on the "
                "first command run with write access; nothing was changed",
            )
        with self.write() as conn:
            for step in range(older, s.SCHEMA_VERSION):
                for table_name, column_name in s.MIGRATIONS[step]:
                    column = s.metadata.tables[table_name].c[column_name]
                    kind = column.type.compile(dialect=conn.dialect)
                    conn.exec_driver_sql(
                        f"ALTER TABLE {table_name} ADD COLUMN {column_name} {kind}"
                    )
                tables = [s.metadata.tables[name] for name in s.NEW_TABLES.get(step, [])]
                if tables:
                    s.metadata.create_all(conn, tables=tables)
            conn.execute(
                sa.update(s.marker)
                .where(s.marker.c.key == "schema_version")
                .values(value=str(s.SCHEMA_VERSION))
            )
        marker["schema_version"] = str(s.SCHEMA_VERSION)
        print(
            f"xmtrade: upgraded the paper ledger {self.where} from schema {older} to "
            f"{s.SCHEMA_VERSION} (columns and tables added; every row kept)",
            file=sys.stderr,
        )
        return True

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
            orig = driver_error(exc)
            path = self.sqlite_path
            problem = io_problem(orig, path) if path is not None else None
            if problem is not None or disk_full(exc):
                raise OutputError(
                    self.where,
                    None,
                    f"cannot write: {problem or 'no space left on the device'}; the ledger is "
                    "as it was before this command (free some space and run it again)",
                ) from None
            if "readonly database" in reason or "read-only" in reason.lower():
                raise OutputError(
                    self.where,
                    None,
                    "the ledger is read-only: status, history and report read it; a step "
                    "needs it writable; nothing was changed",
                ) from None
            if lock_not_available(exc):
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

    def refuse_if_read_only(self) -> None:
        """A one-line error naming the ledger when it cannot be written."""
        if self.read_only is not None:
            raise OutputError(
                self.where,
                None,
                f"the ledger is read-only ({self.read_only}): status, history and report "
                "read it; a step or an init needs it writable; nothing was changed",
            )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (`BEGIN IMMEDIATE` on SQLite): all of it commits, or none."""
        self.refuse_if_read_only()
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
        """Hold the account's step lock, or fail at once naming who holds it
        (xmtrade/paper/locks.py)."""
        from xmtrade.paper.locks import step_lock

        with step_lock(self, account):
            yield

    # ------------------------------------------------------------------ accounts

    def find_account(self, name: str) -> Account | None:
        """The account called `name`, or None."""
        if self.new:
            return None
        with self.rows(s.accounts.name), self.engine.connect() as conn:
            row = conn.execute(sa.select(s.accounts).where(s.accounts.c.name == name)).first()
            return None if row is None else account_from_row(row._mapping)

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
            return [account_from_row(r._mapping) for r in rows]

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
        home: str | None = None,
        facts_file: str | None = None,
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
                    home=home,
                    facts_file=facts_file,
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
        home: str | None,
        facts_file: str | None,
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
                home=home,
                facts_file=facts_file,
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
                    equity_from_row(r._mapping)
                    for r in conn.execute(
                        sa.select(s.equity)
                        .where(s.equity.c.account_id == aid)
                        .order_by(s.equity.c.date)
                    ).all()
                ]
            with self.rows(s.fills.name):
                fills = [
                    fill_from_row(r._mapping)
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
            late = self.late_facts(account, conn)
        return History(frame, sessions, equity, fills, decisions, known, facts, late)

    def late_facts(self, account: Account, conn: Connection | None = None) -> tuple[LateFact, ...]:
        """The facts rows the account uses later than their announcement, by first session."""
        query = (
            sa.select(s.facts_late)
            .where(s.facts_late.c.account_id == account.id)
            .order_by(s.facts_late.c.first_session, s.facts_late.c.period, s.facts_late.c.metric)
        )
        with self.rows(s.facts_late.name):
            if conn is None:
                with self.engine.connect() as own:
                    rows = own.execute(query).all()
            else:
                rows = conn.execute(query).all()
            return tuple(
                LateFact(
                    metric=r.metric,
                    period=r.period,
                    announced=r.announced,
                    usable_from=r.usable_from,
                    first_session=r.first_session,
                    recorded_at=r.recorded_at,
                )
                for r in rows
            )

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

    def unsent(self, account: Account, limit: int = 20) -> list[dict[str, Any]]:
        """The account's runs whose notifications have not gone out, oldest first (the last
        `limit`): id, finished_at and messages (a list of mappings)."""
        query = (
            sa.select(s.runs.c.id, s.runs.c.finished_at, s.runs.c.messages)
            .where(s.runs.c.account_id == account.id)
            .where(s.runs.c.notified == sa.false())
            .order_by(s.runs.c.id.desc())
            .limit(limit)
        )
        with self.rows(s.runs.name), self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "id": r.id,
                "finished_at": r.finished_at,
                "messages": self.loads(s.runs.name, r.messages) if r.messages else [],
            }
            for r in reversed(rows)
        ]

    def mark_notified(self, run_ids: Sequence[int]) -> None:
        """Record that these runs' notifications went out."""
        if not run_ids:
            return
        with self.errors(), self.write() as conn:
            conn.execute(
                sa.update(s.runs).where(s.runs.c.id.in_(list(run_ids))).values(notified=True)
            )

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
                for table in (s.fills, s.decisions, s.equity, s.facts_late):
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
            if writes.late_facts:
                conn.execute(
                    sa.insert(s.facts_late),
                    [{**vars(f), **tagged} for f in writes.late_facts],
                )
            _store_facts(conn, writes.facts_digest, writes.facts_content)
            update: dict[str, Any] = {
                "last_session": writes.last_session,
                "facts_digest": writes.facts_digest,
                "version": account.version + 1,
            }
            if writes.config is not None:
                update["config_hash"], update["config_yaml"], layers = writes.config
                update["config_layers"] = json.dumps(list(layers))
            if writes.home is not None:
                update["home"], update["facts_file"] = writes.home
            conn.execute(sa.update(s.accounts).where(s.accounts.c.id == aid).values(**update))
            crash("before_commit")
        crash("after_commit")
        return run_id


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
        "messages": json.dumps(run.messages) if run.messages else None,
        "notified": run.notified,
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
