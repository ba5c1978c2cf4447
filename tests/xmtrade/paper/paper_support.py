"""Helpers of the paper-trading tests: CLI runs, one-line errors, ledger dumps."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from xmtrade.cli import main

# the tables a step writes, with the columns that identify the run that wrote a row left out
TRADING_TABLES = (
    "paper_accounts",
    "paper_bars",
    "paper_fills",
    "paper_decisions",
    "paper_equity",
    "paper_tranches",
    "paper_orders",
    "paper_revisions",
    "paper_facts_files",
)
RUN_COLUMNS = {"run_id", "id_of_run"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return its exit code, stdout and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI expecting success; return stdout."""
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return out


def one_line_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI expecting a user error: exit 2, one line, no traceback. Return the line."""
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("xmtrade: error: ")
    return lines[0].removeprefix("xmtrade: error: ")


def dump(db: Path, runs: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the ledger's trading tables (and runs, if asked), without run ids and
    the account's bookkeeping version, in a stable order."""
    conn = sqlite3.connect(str(db))
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        for table in (*TRADING_TABLES, *(["paper_runs"] if runs else [])):
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            keep = [c for c in columns if c not in RUN_COLUMNS and c != "version"]
            if table == "paper_accounts":
                keep = [c for c in keep if c != "created_at"]
            if table == "paper_revisions":
                keep = [c for c in keep if c != "id"]
            if table == "paper_runs":
                keep = [c for c in keep if c not in ("id", "started_at", "finished_at")]
            rows = conn.execute(f"SELECT {', '.join(keep)} FROM {table}").fetchall()
            out[table] = sorted(rows, key=repr)
        return out
    finally:
        conn.close()


def runs_of(db: Path) -> list[dict[str, Any]]:
    """The run rows, oldest first."""
    conn = sqlite3.connect(str(db))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM paper_runs ORDER BY id")]
    finally:
        conn.close()
