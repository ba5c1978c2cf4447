"""Ledger rows damaged by hand (still valid SQLite) are one-line errors, never tracebacks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from paper_support import ok, one_line_error


def init(capsys: pytest.CaptureFixture[str], *extra: str) -> None:
    ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline", *extra)


def damage(db: Path, sql: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute(sql)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("sql", "table", "verbs"),
    [
        ("UPDATE paper_equity SET lines = '{not json'", "paper_equity", ("status", "step")),
        (
            "UPDATE paper_equity SET date = '2025-13-45' WHERE date = '2025-10-15'",
            "paper_equity",
            ("status", "history", "step"),
        ),
        (
            "UPDATE paper_accounts SET start_session = 'soon'",
            "paper_accounts",
            ("status", "history", "step"),
        ),
    ],
)
def test_a_damaged_row_is_one_line(
    home: Path, capsys: pytest.CaptureFixture[str], sql: str, table: str, verbs: tuple[str, ...]
) -> None:
    init(capsys)
    ok(capsys, "paper", "step", "--asof", "2025-10-17", "--offline")
    db = home / "paper.sqlite"
    damage(db, sql)
    for verb in verbs:
        extra = ["--offline", "--asof", "2025-10-24"] if verb == "step" else []
        line = one_line_error(capsys, "paper", verb, *extra)
        assert line.startswith(f"{db}: table {table}: damaged row"), line
        assert line.endswith("the ledger is not usable as it is"), line


def test_a_corrupt_ledger_is_one_line_with_the_first_problem(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "corrupt.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE a (x INTEGER PRIMARY KEY, y TEXT)")
    conn.execute("CREATE INDEX ia ON a (y)")
    conn.executemany("INSERT INTO a VALUES (?, ?)", [(i, f"v{i:05d}" * 20) for i in range(3000)])
    conn.commit()
    conn.close()
    data = bytearray(db.read_bytes())
    for offset in range(8 * 4096 + 100, 8 * 4096 + 400, 3):  # a page's cell area
        data[offset] ^= 0x55
    for offset in range(20 * 4096 + 100, 20 * 4096 + 400, 3):
        data[offset] ^= 0x55
    db.write_bytes(bytes(data))
    check = sqlite3.connect(db)
    problems = [r[0] for r in check.execute("PRAGMA quick_check")]
    check.close()
    assert sum(len(str(p).splitlines()) for p in problems) > 1  # SQLite's report spans lines
    line = one_line_error(capsys, "paper", "status", "--db", str(db))
    assert line.startswith(f"--db: {db} is corrupt (integrity check: ")
    assert "*** in database" not in line
    assert line.endswith("nothing was changed (restore it from a backup)")
