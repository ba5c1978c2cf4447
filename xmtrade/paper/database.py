"""Where a ledger lives and what can go wrong there: the target (a file path or a SQLAlchemy
URL), the checks that refuse anything but an xmtrade ledger before a byte is written, the SQLite
and server engines, and the driver failures told apart (disk full, I/O, lock not available)."""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from xmtrade import __version__
from xmtrade.errors import ConfigError, OutputError
from xmtrade.paper import schema as s

LEDGER_FILE = "paper.sqlite"
_SQLITE_HEADER = b"SQLite format 3\x00"
_BUSY_TIMEOUT_MS = 10_000
_SERVER_LOCK_TIMEOUT_MS = 10_000


# ---------------------------------------------------------------------- failures

_SQLITE_FULL = 13  # SQLITE_FULL: "database or disk is full"
_PG_DISK_FULL = "53100"
_PG_LOCK_NOT_AVAILABLE = "55P03"


def driver_error(exc: BaseException) -> BaseException:
    return getattr(exc, "orig", None) or exc


def disk_full(exc: BaseException) -> bool:
    """A write the disk could not take (SQLite, PostgreSQL, or the OS saying so)."""
    orig = driver_error(exc)
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


def lock_key(account: str) -> int:
    """A stable signed 64-bit key of the account's step lock (PostgreSQL advisory locks)."""
    import hashlib

    digest = hashlib.sha256(f"xmtrade paper step {account}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_SQLITE_IOERR = 10
_SQLITE_CANTOPEN = 14
_LOW_SPACE = 1 << 20  # bytes: SQLite needs room for its WAL and shared-memory files


def io_problem(exc: BaseException, path: Path) -> str | None:
    """What went wrong when SQLite could not read or write for a reason of the disk (full,
    I/O error, cannot create its side files), or None for anything else (a damaged file)."""
    code = getattr(exc, "sqlite_errorcode", None)
    base = code & 0xFF if isinstance(code, int) else None
    if base not in (_SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN) and not disk_full(exc):
        return None
    try:
        stat = os.statvfs(path.parent)
        full = stat.f_bavail * stat.f_frsize < _LOW_SPACE
    except OSError:
        full = False
    if full or base == _SQLITE_FULL:
        return "no space left on the device"
    return f"the disk failed ({exc})"


def lock_not_available(exc: BaseException) -> bool:
    """Another connection holds the row (`SELECT ... FOR UPDATE NOWAIT` on a server)."""
    orig = driver_error(exc)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code == _PG_LOCK_NOT_AVAILABLE or "could not obtain lock" in str(orig).lower()


# ---------------------------------------------------------------------- engines


def default_target(data_dir: Path) -> str:
    """The ledger of a data directory: `<data dir>/paper.sqlite`."""
    return str(data_dir / LEDGER_FILE)


def parse_target(target: str) -> tuple[sa.URL, Path | None]:
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


def inspect_sqlite_file(
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
        conn = connect_sqlite(path, read_only_reason(path) is not None)
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
        problem = io_problem(exc, path)
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
            f"{shown} is corrupt (integrity check: {first_problem(problems)}); "
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


def first_problem(problems: Sequence[Any]) -> str:
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


def verify(
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


def read_only_reason(path: Path) -> str | None:
    """Why the ledger file at `path` cannot be written (a read-only file system, no write
    permission on the file or its folder), or None when it can."""
    try:
        stat = os.statvfs(path.parent)
    except OSError:
        return None
    if stat.f_flag & os.ST_RDONLY:
        return "on a read-only file system"
    if path.exists() and stat.f_bavail * stat.f_frsize < _LOW_SPACE:
        # SQLite cannot even make its side files: read it as it is, write nothing
        return "the disk is full: free some space"
    if path.exists() and not os.access(path, os.W_OK):
        return "not writable (file permissions)"
    if path.exists() and not os.access(path.parent, os.W_OK):
        return "in a folder that is not writable (SQLite needs its side files there)"
    return None


def connect_sqlite(path: Path, read_only: bool) -> sqlite3.Connection:
    """A standard-library connection to the file; read-only ones open with `mode=ro` (and,
    on a read-only file system, `immutable=1`: nothing can change the file there)."""
    if not read_only:
        return sqlite3.connect(str(path), isolation_level=None)
    from urllib.parse import quote

    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise  # committed pages may wait in the WAL: never read the file without them
        # a WAL ledger whose shared-memory file cannot be made, and an empty WAL: the file
        # holds everything; read it as it is
        return sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None)


def sqlite_engine(url: sa.URL, read_only: bool = False) -> Engine:
    """The engine of a ledger file; a read-only one never writes (`query_only`)."""
    from sqlalchemy.pool import NullPool

    path = Path(url.database or "")
    if read_only:
        engine = sa.create_engine(
            "sqlite://", poolclass=NullPool, creator=lambda: connect_sqlite(path, True)
        )
    else:
        engine = sa.create_engine(url, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if read_only:
            cursor.execute("PRAGMA query_only = ON")
        else:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("xmtrade_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def server_engine(url: sa.URL, shown: str) -> Engine:
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
