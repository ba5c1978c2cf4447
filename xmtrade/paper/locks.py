"""One step per account at a time: for a SQLite file, an exclusive `flock` on
`<ledger>.<account>.lock` held for the whole step (the kernel releases it when the process
dies, even on kill -9), a second step failing at once with who holds it; on PostgreSQL a
session advisory lock, on MySQL a named lock, held on one connection for the step."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from xmtrade.errors import DataError, writing
from xmtrade.paper.accounts import now_utc
from xmtrade.paper.database import lock_key


class Ledger(Protocol):
    """What a step lock needs of the ledger (`xmtrade.paper.ledger.Ledger`)."""

    engine: sa.Engine
    where: str

    def refuse_if_read_only(self) -> None: ...

    def lock_path(self, account: str) -> Path | None: ...

    def errors(self) -> AbstractContextManager[None]: ...


@contextmanager
def step_lock(ledger: Ledger, account: str) -> Iterator[None]:
    """Hold the account's step lock, or fail at once naming who holds it."""
    ledger.refuse_if_read_only()
    path = ledger.lock_path(account)
    if path is None:
        with _server_lock(ledger, account):
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
def _server_lock(ledger: Ledger, account: str) -> Iterator[None]:
    """A database server's own lock for the account's step, held on one connection for
    the whole step (released by the server when the connection dies): a session advisory
    lock on PostgreSQL, a named lock on MySQL; elsewhere only the row lock of the commit."""
    dialect = ledger.engine.dialect.name
    if dialect == "postgresql":
        take = "SELECT pg_try_advisory_lock(:key)"
        release = "SELECT pg_advisory_unlock(:key)"
        key: int | str = lock_key(account)
    elif dialect in ("mysql", "mariadb"):
        take, release = "SELECT GET_LOCK(:key, 0)", "SELECT RELEASE_LOCK(:key)"
        key = f"xmtrade-paper-{account}"[:64]
    else:
        yield
        return
    with ledger.errors(), ledger.engine.connect() as conn:
        got = conn.execute(sa.text(take), {"key": key}).scalar()
        conn.commit()
        if not got:
            raise DataError(
                f"paper account '{account}'",
                None,
                f"another step is running (it holds the account's lock on {ledger.where}); "
                "try again when it has finished",
            )
        try:
            yield
        finally:
            with contextlib.suppress(SQLAlchemyError):
                conn.execute(sa.text(release), {"key": key})
                conn.commit()
