"""Living with a paper account: its home, orders that never fill, facts entered late, a
partial quarter, a read-only ledger, the report's account sections."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from paper_support import ok, one_line_error, run

from xmtrade.paper.ledger import Ledger
from xmtrade.paper.unfilled import (
    BLOCKED_BREAKER,
    CANCELLED,
    GAP_SKIP,
    RESIZED_AT_OPEN,
    STOP_HIT_AT_OPEN,
    from_records,
    orders_not_filled,
    unused_tranche_ids,
)
from xmtrade.paper.views import OrderNotFilled

REPO = Path(__file__).resolve().parents[3]
FACTS = REPO / "configs" / "fundamentals" / "1810.HK.csv"


def _plan(day: str, tranche: int, shares: int, close: float, stop: float) -> dict[str, object]:
    return {
        "date": day,
        "action": "enter",
        "tranche": tranche,
        "stage": 1,
        "close": close,
        "stop": {"price": stop},
        "order": {"side": "buy", "shares": shares},
    }


def test_orders_not_filled_reads_every_kind_from_hand_built_records() -> None:
    records = [
        _plan("2025-11-18", 7, 1200, 40.78, 40.5),
        {
            "date": "2025-11-19",
            "action": "pre_open_check",
            "tranche": 7,
            "stage": 1,
            "check": "skip_gap",
            "why": "the open 40 is at or below the planned stop 40.5",
            "planned_stop": 40.5,
            "planned_shares": 1200,
        },
        _plan("2025-11-20", 9, 1400, 37.7, 37.28),
        {
            "date": "2025-11-21",
            "action": "pre_open_check",
            "tranche": 9,
            "stage": 2,
            "check": "skip_stop_hit",
            "why": "the open 36.8 hits tranche 8 (stage 1) stop 38.2",
            "planned_stop": 37.28,
            "planned_shares": 1400,
        },
        _plan("2025-11-24", 10, 2000, 38.0, 36.6),
        {
            "date": "2025-11-25",
            "action": "pre_open_check",
            "tranche": 10,
            "stage": 1,
            "check": "buy",
            "why": "re-sized at the open: 1200 of 2000 shares",
            "planned_stop": 36.6,
            "planned_shares": 2000,
            "sizing_at_open": {"shares": 1200},
        },
        _plan("2025-11-26", 11, 1000, 39.0, 37.0),
        {
            "date": "2025-11-26",
            "action": "order_not_filled",
            "tranche": 11,
            "order": "entry",
            "status": "Canceled",
        },
        {
            "date": "2025-11-27",
            "action": "skip",
            "stage": 1,
            "why": "drawdown breaker cooling down",
            "signal": "rsi_oversold",
            "close": 38.5,
        },
        {"date": "2025-11-27", "action": "fundamentals"},
    ]
    found = from_records(records)
    assert [o.reason for o in found] == [
        GAP_SKIP,
        STOP_HIT_AT_OPEN,
        RESIZED_AT_OPEN,
        CANCELLED,
        BLOCKED_BREAKER,
    ]
    gap = found[0]
    assert gap == OrderNotFilled(
        session=date(2025, 11, 19),
        decided=date(2025, 11, 18),
        tranche=7,
        stage=1,
        side="buy",
        shares=1200,
        reference_price=40.78,
        planned_stop=40.5,
        reason=GAP_SKIP,
        detail="the open 40 is at or below the planned stop 40.5",
    )
    assert found[2].shares == 800  # the shares not bought
    assert found[4].tranche is None and found[4].shares == 0
    assert found[4].detail == "rsi_oversold: drawdown breaker cooling down"
    assert [o.session for o in from_records(records, since=date(2025, 11, 26))] == [
        date(2025, 11, 26),
        date(2025, 11, 27),
    ]
    # the ids no fill uses, each explained; a re-sized order did fill
    assert sorted(unused_tranche_ids([10], found)) == [7, 9, 11]
    with pytest.raises(AttributeError):
        gap.shares = 1  # type: ignore[misc]  # frozen


def test_a_step_history_and_status_name_every_order_not_filled(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline")
    out = ok(capsys, "paper", "step", "--asof", "2025-11-21", "--offline")
    assert (
        "2025-10-31  " in out
        and "tranche 3 not filled (buy 1,200, decided 2025-10-30 at 44.16, stop 43.48): "
        "cancelled at the open: a held stop triggered: the open 43.6 hits tranche 2"
        in out
    )
    assert "t7 buy 1,200 on 2025-11-19 (skipped at the open: gap below the planned stop)" in out
    history = ok(capsys, "paper", "history")
    assert "orders not filled, and signals not ordered (" in history
    assert (
        "tranche ids with no fill: 3 (cancelled at the open: a held stop triggered, "
        "2025-10-31), 7 (skipped at the open: gap below the planned stop, 2025-11-19), "
        "9 (cancelled at the open: a held stop triggered, 2025-11-21)" in history
    )
    status = ok(capsys, "paper", "status")
    assert "orders not filled on 2025-11-21:\n  2025-11-21 tranche 9 stage 2 buy 1,400" in status
    assert "next scheduled run: " in status and "(paper.schedule: mon-fri 17:15" in status
    assert "config hash " in status and "it covers" not in status
    # a reader beside the steps (the live page) opens it read-only: it reads, never writes
    ledger = Ledger.open(str(home / "paper.sqlite"), create=False, read_only=True)
    account = ledger.account("default")
    rows = orders_not_filled(ledger, account, since=date(2025, 11, 19))
    assert [o.tranche for o in rows if o.tranche is not None] == [7, 9]
    from xmtrade.errors import OutputError

    with pytest.raises(OutputError, match="the ledger is read-only \\(opened read-only\\)"):
        ledger.mark_notified([1])
    assert "processed 5 sessions" in ok(
        capsys, "paper", "step", "--asof", "2025-11-28", "--offline"
    )  # a step beside the reader
    assert ledger.account("default").last_session == date(2025, 11, 28)


def test_a_step_from_another_folder_uses_the_accounts_home(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "desk"
    ok(capsys, "init", str(folder))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cwd = Path.cwd()
    try:
        os.chdir(folder)
        out = ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline")
        assert f"home: {folder.resolve()}; config {folder.resolve() / 'xmtrade.yaml'}" in out
        os.chdir(elsewhere)  # a timer without `cd`
        code, out, err = run(capsys, "paper", "step", "--asof", "2025-10-24", "--offline")
        assert code == 0, err
        assert f"paper account 'default' was made in {folder.resolve()}: using its config" in err
        assert "processed 10 sessions" in out
        # the account's own facts copy, not the packaged file: its digest is the account's
        ledger = Ledger.open(str(home / "paper.sqlite"), create=False)
        account = ledger.account("default")
        assert account.facts_file == str((folder / "facts" / "1810.HK.csv").resolve())
        (folder / "xmtrade.yaml").rename(folder / "moved.yaml")
        line = one_line_error(capsys, "paper", "status")
        assert line.startswith(f"paper account 'default': it was made in {folder.resolve()} with ")
        assert "no longer exists: restore it" in line
    finally:
        os.chdir(cwd)


def test_facts_entered_late_are_used_from_the_next_session_not_refused(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    facts = tmp_path / "facts.csv"
    lines = FACTS.read_text().splitlines(keepends=True)
    facts.write_text("".join(line for line in lines if ",2025Q3," not in line))
    layer = tmp_path / "layer.yaml"
    layer.write_text(f"fundamentals:\n  file: {facts}\n")
    ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline", "-c", str(layer))
    ok(capsys, "paper", "step", "--asof", "2025-11-20", "--offline", "-c", str(layer))
    shutil.copyfile(FACTS, facts)  # 2025Q3, announced 2025-11-18, entered two days late
    out = ok(capsys, "paper", "step", "--asof", "2025-11-28", "--offline", "-c", str(layer))
    assert "2025Q3 (adjusted_net_profit, " in out
    assert (
        "after its announcement (2025-11-18): used from 2025-11-21 (a backtest uses it from "
        "2025-11-19)" in out
    )
    report = tmp_path / "run"
    out = ok(capsys, "paper", "report", "--out", str(report), "-c", str(layer))
    assert (
        "sessions where this account and a backtest may decide differently: 2025-11-19, "
        "2025-11-20" in out
    )
    page = (report / "report.html").read_text()
    assert 'id="paper-late-facts"' in page and "2025Q3 entered late (used from 2025-11-21)" in page
    assert 'id="paper-not-filled"' in page and 'id="paper-stops"' in page
    # the decisions read the late quarter only from the session it was used from
    ledger = Ledger.open(str(home / "paper.sqlite"), create=False)
    (late,) = {(f.period, f.first_session) for f in ledger.late_facts(ledger.account("default"))}
    assert late == ("2025Q3", date(2025, 11, 21))
    # and the next step keeps it so (no refusal, nothing reaches back)
    out = ok(capsys, "paper", "step", "--asof", "2025-12-05", "--offline", "-c", str(layer))
    assert "processed 5 sessions" in out


def test_a_partial_quarter_names_what_the_gate_still_needs(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    facts = tmp_path / "facts.csv"
    shutil.copyfile(FACTS, facts)
    layer = tmp_path / "layer.yaml"
    layer.write_text(f"fundamentals:\n  file: {facts}\n")
    out = ok(
        capsys,
        "facts",
        "add",
        "revenue",
        "2025Q4",
        "116500",
        "--announced",
        "2026-03-24",
        "-c",
        str(layer),
    )
    assert (
        "note: 2025Q4 is partial (revenue entered): the gate still needs ev_gross_margin; "
        "meanwhile the gate reads 2025Q4 as unknown" in out
    )
    # the step that first reads the new row says it too
    ok(capsys, "paper", "init", "--start", "2026-03-02", "--offline", "-c", str(layer))
    out = ok(capsys, "paper", "step", "--asof", "2026-03-06", "--offline", "-c", str(layer))
    facts.write_text(FACTS.read_text())
    ok(capsys, "paper", "step", "--asof", "2026-03-13", "--offline", "-c", str(layer))
    ok(
        capsys,
        *("facts", "add", "revenue", "2025Q4", "116500", "--announced", "2026-03-16"),
        *("-c", str(layer)),
    )
    out = ok(capsys, "paper", "step", "--asof", "2026-03-20", "--offline", "-c", str(layer))
    assert "2025Q4 is partial (revenue entered): the gate still needs ev_gross_margin" in out


def test_status_after_a_refused_step_gives_no_step_advice(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline")
    ok(capsys, "paper", "step", "--asof", "2025-10-17", "--offline")
    tweak = tmp_path / "tweak.yaml"
    tweak.write_text("stop:\n  lookback: 10\n")
    one_line_error(capsys, "paper", "step", "--offline", "-c", str(tweak))
    status = ok(capsys, "paper", "status")
    assert "last run: " in status and "refused" in status
    assert "warning: the last step was refused, and a step with the same inputs is refused" in (
        status
    )
    assert "run xmtrade paper step" not in status and "paper step --offline" not in status


def test_paper_report_out_empty_is_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline")
    ok(capsys, "paper", "step", "--asof", "2025-10-17", "--offline")
    line = one_line_error(capsys, "paper", "report", "--out", "")
    assert line == "command line: --out: expected a folder, got ''"
    assert not (home / "runs").exists()


def _mount_tmpfs(where: Path, options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "none", str(where)], capture_output=True
    )
    return done.returncode == 0


def test_a_read_only_ledger_is_read_and_a_step_refused_in_one_line(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mount = tmp_path / "ro"
    if os.geteuid() != 0 or not _mount_tmpfs(mount, "size=8m"):
        pytest.skip("needs to mount a file system (root)")
    try:
        db = mount / "paper.sqlite"
        ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline", "--db", str(db))
        ok(capsys, "paper", "step", "--asof", "2025-10-24", "--offline", "--db", str(db))
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        assert "NAV HK$" in ok(capsys, "paper", "status", "--db", str(db))
        assert "fills of paper account default" in ok(capsys, "paper", "history", "--db", str(db))
        report = tmp_path / "run"
        ok(capsys, "paper", "report", "--db", str(db), "--out", str(report))
        assert (report / "report.html").is_file()
        line = one_line_error(capsys, "paper", "step", "--offline", "--db", str(db))
        assert line.startswith(
            f"{db}: the ledger is read-only (on a read-only file system): status, history"
        )
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_leaves_the_reading_verbs_working(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mount = tmp_path / "full"
    if os.geteuid() != 0 or not _mount_tmpfs(mount, "size=1500k"):
        pytest.skip("needs to mount a file system (root)")
    try:
        db = mount / "paper.sqlite"
        ok(capsys, "paper", "init", "--start", "2025-10-13", "--offline", "--db", str(db))
        ok(capsys, "paper", "step", "--asof", "2025-10-17", "--offline", "--db", str(db))
        with (mount / "filler").open("wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
            except OSError:
                pass
        line = one_line_error(capsys, "paper", "step", "--offline", "--db", str(db))
        assert "the disk is full" in line or "no space left" in line
        assert "NAV HK$" in ok(capsys, "paper", "status", "--db", str(db))
        out = mount / "run"
        line = one_line_error(capsys, "paper", "report", "--db", str(db), "--out", str(out))
        assert line.startswith(f"{out}: cannot write: no space left on the device")
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
