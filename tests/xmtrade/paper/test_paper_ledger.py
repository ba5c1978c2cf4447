"""The ledger file: what is not an xmtrade ledger is refused and left untouched; one step per
account at a time; --db takes a path or a SQLAlchemy URL."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from paper_support import dump, ok, one_line_error, run

from xmtrade.paper.ledger import Ledger

REPO = Path(__file__).resolve().parents[3]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def init(capsys: pytest.CaptureFixture[str], *extra: str) -> None:
    ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline", *extra)


def test_a_file_that_is_not_sqlite_is_refused_untouched(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("my trading notes\n" * 100)
    before = digest(bogus)
    for verb in (["init", "--start", "2025-10-13", "--offline"], ["step"], ["status"]):
        line = one_line_error(capsys, "paper", *verb, "--db", str(bogus))
        assert line == (
            f"--db: {bogus} is not an xmtrade ledger (not an SQLite database file); "
            "nothing was changed"
        )
    assert digest(bogus) == before


def test_another_programs_database_is_refused_untouched(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = tmp_path / "other.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers VALUES (1, 'ada')")
    conn.commit()
    conn.close()
    before = digest(foreign)
    line = one_line_error(
        capsys, "paper", "init", "--start", "2025-10-13", "--offline", "--db", str(foreign)
    )
    assert line == (
        f"--db: {foreign} is not an xmtrade ledger (it holds other tables: customers); "
        "nothing was changed"
    )
    assert digest(foreign) == before
    assert not Path(f"{foreign}-wal").exists()

    # an application id of another program is refused too
    other = tmp_path / "app.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    line = one_line_error(capsys, "paper", "status", "--db", str(other))
    assert line == (
        f"--db: {other} is not an xmtrade ledger (SQLite application id 0x4d2); nothing was changed"
    )


def test_a_corrupt_ledger_is_refused_untouched(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys)
    ok(capsys, "paper", "step", "--asof", "2025-10-24", "--offline")
    db = home / "paper.sqlite"
    Ledger.open(str(db), create=False).dispose()  # checkpoints the WAL into the file
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    for offset in range(3 * page, 6 * page, 7):  # scribble over a few pages
        data[offset] = 0xA5
    db.write_bytes(bytes(data))
    before = digest(db)
    line = one_line_error(capsys, "paper", "step", "--offline")
    assert line.startswith(f"--db: {db} is corrupt")
    assert "nothing was changed" in line
    assert digest(db) == before


def test_a_ledger_of_a_newer_schema_is_refused(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys)
    db = home / "paper.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("UPDATE xmtrade_ledger SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    line = one_line_error(capsys, "paper", "status")
    assert line.startswith(f"--db: {db} has ledger schema 99; this xmtrade ")
    assert line.endswith("reads schema 3 (upgrade xmtrade); nothing was changed")


def test_a_schema_1_ledger_is_upgraded_in_place_and_keeps_every_row(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys)
    ok(capsys, "paper", "step", "--offline", "--asof", "2025-11-28")
    db = home / "paper.sqlite"
    conn = sqlite3.connect(db)
    for column in ("stop_method", "risk_at_fill_pct_nav", "realised_risk_pct_nav"):
        conn.execute(f"ALTER TABLE paper_tranches DROP COLUMN {column}")
    _to_schema_2(conn)
    conn.execute("UPDATE xmtrade_ledger SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = {k: v for k, v in dump(db).items() if k != "paper_tranches"}
    tranches_before = dump(db)["paper_tranches"]
    assert tranches_before, "the step should have left tranches to keep"
    code, _, err = run(capsys, "paper", "status")
    assert code == 0, err
    assert f"upgraded the paper ledger {db} from schema 1 to 3" in err
    conn = sqlite3.connect(db)
    version = conn.execute(
        "SELECT value FROM xmtrade_ledger WHERE key = 'schema_version'"
    ).fetchone()
    columns = {row[1] for row in conn.execute("PRAGMA table_info(paper_tranches)")}
    conn.close()
    assert version == ("3",)
    assert {"stop_method", "risk_at_fill_pct_nav", "realised_risk_pct_nav"} <= columns
    after = dump(db)
    accounts_before = before.pop("paper_accounts")
    assert {k: v for k, v in after.items() if k not in ("paper_tranches", "paper_accounts")} == (
        before
    )
    # the schema-3 columns of the account (home, facts file) are added empty
    assert [row[: len(accounts_before[0])] for row in after["paper_accounts"]] == accounts_before
    width = len(tranches_before[0])
    kept = sorted((row[:width] for row in after["paper_tranches"]), key=repr)
    assert kept == sorted(tranches_before, key=repr)
    assert all(row[width:] == (None, None, None) for row in after["paper_tranches"])
    code, _, err = run(capsys, "paper", "status")
    assert code == 0 and "upgraded" not in err  # said once


@pytest.mark.parametrize(
    ("db", "message"),
    [
        ("sqlite://", "an in-memory database keeps nothing between commands"),
        ("sqlite:///:memory:", "an in-memory database keeps nothing between commands"),
        ("nosuchdb://host/x", "SQLAlchemy has no dialect 'nosuchdb'"),
        ("postgresql+nosuchdriver://u:secret@h/x", "SQLAlchemy has no dialect"),
        ("://", "not a SQLAlchemy URL"),
    ],
)
def test_bad_db_urls_are_one_line(
    home: Path, capsys: pytest.CaptureFixture[str], db: str, message: str
) -> None:
    line = one_line_error(capsys, "paper", "status", "--db", db)
    assert line.startswith("--db: ") and message in line
    assert "secret" not in line


def test_a_directory_is_not_a_ledger(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line_error(capsys, "paper", "status", "--db", str(tmp_path))
    assert line == f"--db: {tmp_path} is a directory, expected a ledger file"


def test_db_url_and_path_name_the_same_ledger(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "sub" / "ledger.db"
    db.parent.mkdir()
    init(capsys, "--db", f"sqlite:///{db}")
    out = ok(capsys, "paper", "step", "--asof", "2025-10-17", "--offline", "--db", str(db))
    assert "processed 5 sessions" in out
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x786D7472
    assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    conn.close()
    assert not (home / "paper.sqlite").exists()


def test_a_second_step_of_the_account_fails_fast(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys)
    init(capsys, "--account", "other")
    db = home / "paper.sqlite"
    ledger = Ledger.open(str(db), create=False)
    with ledger.lock("default"):
        before = dump(db)
        line = one_line_error(capsys, "paper", "step", "--asof", "2025-10-24", "--offline")
        assert line.startswith("paper account 'default': another step is running (pid ")
        assert line.endswith("); try again when it has finished")
        assert f"pid {os.getpid()} on " in line
        assert dump(db) == before
        # another account is not held up
        ok(capsys, "paper", "step", "--account", "other", "--asof", "2025-10-24", "--offline")

        # and from another process: exit 2, one line, at once
        env = {**os.environ, "XMTRADE_HOME": str(home)}
        done = subprocess.run(
            [sys.executable, "-m", "xmtrade.cli", "paper", "step", "--offline"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("xmtrade: error: paper account 'default': another step")
        assert len(done.stderr.strip().splitlines()) == 1
    # released with the context: the step runs
    assert "processed 10 sessions" in ok(
        capsys, "paper", "step", "--asof", "2025-10-24", "--offline"
    )


def test_a_db_in_a_missing_folder_is_refused_and_nothing_is_created(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "nonexistent" / "dir"
    for db in (str(folder / "x.sqlite"), f"sqlite:///{folder / 'x.sqlite'}"):
        line = one_line_error(
            capsys, "paper", "init", "--start", "2025-10-13", "--offline", "--db", db
        )
        assert line.startswith(f"--db: the folder {folder} does not exist")
    assert not (tmp_path / "nonexistent").exists()


def test_a_step_of_a_missing_account_creates_no_lock_file(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys)
    line = one_line_error(capsys, "paper", "step", "--account", "nope", "--offline")
    assert line.startswith("--account: no paper account 'nope' in ")
    assert not (home / "paper.sqlite.nope.lock").exists()


def _to_schema_2(conn: sqlite3.Connection) -> None:
    """Take the schema-3 additions out of a ledger (what an xmtrade of schema 2 made)."""
    for table, column in (
        ("paper_accounts", "home"),
        ("paper_accounts", "facts_file"),
        ("paper_runs", "messages"),
        ("paper_runs", "notified"),
    ):
        conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    conn.execute("DROP TABLE paper_facts_late")


def test_a_schema_2_ledger_is_upgraded_in_one_transaction_and_steps_on(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys)
    ok(capsys, "paper", "step", "--offline", "--asof", "2025-11-07")
    db = home / "paper.sqlite"
    conn = sqlite3.connect(db)
    _to_schema_2(conn)
    conn.execute("UPDATE xmtrade_ledger SET value = '2' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = dump(db)
    code, out, err = run(capsys, "paper", "status")
    assert code == 0, err
    assert f"upgraded the paper ledger {db} from schema 2 to 3" in err
    after = dump(db)
    width = {k: len(v[0]) for k, v in before.items() if v}
    for table, rows in before.items():
        kept = sorted((row[: width.get(table, 0)] for row in after[table]), key=repr)
        assert kept == sorted(rows, key=repr), table
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM paper_facts_late").fetchone() == (0,)
    conn.close()
    out = ok(capsys, "paper", "step", "--offline", "--asof", "2025-11-14")
    assert "processed 5 sessions" in out
