"""The paper ledger on a real PostgreSQL server, started here on 127.0.0.1 (initdb and pg_ctl
from /usr/lib/postgresql/*/bin; skipped with the reason when they or the driver are missing):
init and steps work, and two concurrent steps never both run: the second says "another step
is running" (the advisory lock, or the row lock of the commit) instead of a raw
OperationalError."""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from paper_support import ok, one_line_error

REPO = Path(__file__).resolve().parents[3]


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_server_user(command: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server as `nobody` then."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL unprivileged")
    return [runuser, "-u", "nobody", "--", *command]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1; its SQLAlchemy URL."""
    pytest.importorskip("psycopg", reason="the PostgreSQL driver (psycopg) is not installed")
    bin_dir = _binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="xmtrade-pg-", dir="/tmp"))
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        import pwd

        nobody = pwd.getpwnam("nobody")
        for path in (root, data):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
    port = _free_port()
    log = root / "server.log"
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
    done = subprocess.run(
        _as_server_user([*initdb, "--no-sync"]), capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"initdb failed: {done.stderr.strip()[-300:]}")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60"]
    started = subprocess.run(
        _as_server_user([*pg_ctl, "-o", options, "start"]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if started.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {started.stderr.strip()[-300:]}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_server_user([*pg_ctl, "-m", "immediate", "stop"]), capture_output=True, timeout=60
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def db(postgres_url: str) -> Iterator[str]:
    """A fresh database on the server for one test."""
    import sqlalchemy as sa

    name = f"t{os.getpid()}_{_free_port()}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def cli(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XMTRADE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "xmtrade.cli", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.slow
def test_a_ledger_on_postgresql_steps_and_refuses_a_concurrent_step(
    home: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from xmtrade.paper.ledger import Ledger

    ok(capsys, "paper", "init", "--db", db, "--start", "2025-10-13", "--offline")
    out = ok(capsys, "paper", "step", "--db", db, "--asof", "2025-10-17", "--offline")
    assert "processed 5 sessions" in out

    # a step holding the account's lock: the second is refused at once, nothing written
    ledger = Ledger.open(db, create=False)
    try:
        with ledger.lock("default"):
            line = one_line_error(
                capsys, "paper", "step", "--db", db, "--asof", "2025-10-24", "--offline"
            )
            assert "another step is running" in line and "OperationalError" not in line
            # another account is not held up
            ok(capsys, "paper", "init", "--db", db, "--account", "b", "--start", "2025-10-13")
            ok(capsys, "paper", "step", "--db", db, "--account", "b", "--asof", "2025-10-17")
    finally:
        ledger.dispose()
    assert "processed 5 sessions" in ok(
        capsys, "paper", "step", "--db", db, "--asof", "2025-10-24", "--offline"
    )


@pytest.mark.slow
def test_the_commit_row_lock_is_another_step_not_a_raw_error(
    home: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A step that got past the advisory lock while another connection holds the account's
    row (a step of an older xmtrade, a hand-held transaction) fails in its commit with the
    same one line."""
    import sqlalchemy as sa

    ok(capsys, "paper", "init", "--db", db, "--start", "2025-10-13", "--offline")
    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("SELECT version FROM paper_accounts FOR UPDATE")
            # in another process, so that a step waiting on the row cannot hang this test
            done = cli(home, "paper", "step", "--db", db, "--asof", "2025-10-17", "--offline")
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "another step is running" in lines[0], done.stderr
        assert "OperationalError" not in done.stderr
    finally:
        engine.dispose()
    assert "processed 5 sessions" in ok(
        capsys, "paper", "step", "--db", db, "--asof", "2025-10-17", "--offline"
    )


@pytest.mark.slow
def test_two_steps_started_together_on_postgresql(home: Path, db: str) -> None:
    """Two processes step the same account at the same moment: one processes the sessions;
    the other is refused with one line, or (started after the first finished) finds no new
    bar. Never a raw database error, never both processing."""
    first = cli(home, "paper", "init", "--db", db, "--start", "2025-10-13", "--offline")
    assert first.returncode == 0, first.stderr
    for asof in ("2025-10-17", "2025-10-24", "2025-10-31"):
        env = {**os.environ, "XMTRADE_HOME": str(home)}
        argv = [sys.executable, "-m", "xmtrade.cli", "paper", "step", "--db", db]
        procs = [
            subprocess.Popen(
                [*argv, "--asof", asof, "--offline"],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        results = [(p.wait(timeout=180), *p.communicate()) for p in procs]
        processed = [
            o for code, o, _ in results if code == 0 and re.search(r"processed \d+ sess", o)
        ]
        assert len(processed) == 1, results
        for code, _, err in results:
            assert "OperationalError" not in err and "Traceback" not in err, err
            if code != 0:
                assert code == 2 and len(err.strip().splitlines()) == 1, err
                assert "another step" in err, err
