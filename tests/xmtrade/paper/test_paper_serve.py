"""`xmtrade paper serve`: the desk's JSON driven in process (Starlette's TestClient) on a real
ledger, the token rule, the one-line refusals, the read-only ledger (no write possible, no
lock held while a step commits), and the real server beside a running step, stopped by
Ctrl-C and SIGTERM."""

from __future__ import annotations

import shutil
import signal
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from paper_support import one_line_error
from serve_support import (
    FIRST_ASOF,
    NEXT_ASOF,
    DeskProcess,
    make_data_dir,
    poll_beside,
    step_process,
    xmtrade,
)
from starlette.testclient import TestClient

from xmtrade.config import load_config
from xmtrade.paper.desk import HKT, open_read_only
from xmtrade.paper.desk_unfilled import orders_not_filled
from xmtrade.paper.serve import desk_app

# the evening after NEXT_ASOF's session: its close has passed, the next run is the next day's
EVENING = datetime(2025, 11, 3, 18, 0, tzinfo=HKT)


@pytest.fixture(scope="module")
def stepped(tmp_path_factory: pytest.TempPathFactory, shared_cache_file: Path) -> Path:
    """A data directory whose account `qs` ran from 2025-03-03 to 2025-10-31 (built once)."""
    return make_data_dir(tmp_path_factory.mktemp("desk"), shared_cache_file)


@pytest.fixture
def data_dir(stepped: Path, tmp_path: Path) -> Path:
    """A copy of `stepped` this test may step further."""
    return Path(shutil.copytree(stepped, tmp_path / "data"))


def client(ledger_path: Path, token: str | None = None, **kw: Any) -> TestClient:
    ledger = open_read_only(str(ledger_path))
    schedule = load_config().paper.schedule
    return TestClient(desk_app(ledger, [], schedule, token=token, clock=lambda: EVENING), **kw)


@pytest.fixture
def desk(stepped: Path) -> Iterator[TestClient]:
    with client(stepped / "paper.sqlite") as opened:
        yield opened


def account(answer: dict[str, Any], name: str = "qs") -> dict[str, Any]:
    return next(a for a in answer["accounts"] if a["name"] == name)


def test_the_desk_shows_the_account_as_the_ledger_has_it(desk: TestClient) -> None:
    answer = desk.get("/api/desk")
    assert answer.status_code == 200
    qs = account(answer.json())
    perf = qs["performance"]
    assert perf["date"] == FIRST_ASOF and qs["sessions_processed"] == 166
    assert perf["nav"] == pytest.approx(997440.78) and perf["fills"] == 4
    assert perf["fees"] == pytest.approx(259.22) and perf["realised"] == pytest.approx(-2559.22)
    # buy and hold from the first session's close 50.95 to 43.2
    assert perf["hold_change"] == pytest.approx(43.2 / 50.95 - 1)
    assert perf["against_hold_pp"] == pytest.approx((perf["change"] - perf["hold_change"]) * 100)
    assert [o["text"] for o in qs["orders"]] == ["entry buy 1,000 at the open (tranche 4)"]
    assert qs["positions"] == []
    # the add of tranche 3 was cancelled at the open of 2025-10-31 by tranche 2's stop
    today = qs["today"]
    assert today["date"] == FIRST_ASOF
    assert [f["text"] for f in today["fills"]] == [
        "sell 1,000 @ 43.58 (tranche 2 stop, fees HK$62.61)"
    ]
    [missed] = today["not_filled"]
    assert missed["tranche"] == 3 and missed["stage"] == 2 and missed["shares"] == 1200
    assert missed["reason"] == "stop_hit_at_open" and missed["decided"] == "2025-10-30"
    assert missed["words"] == "cancelled at the open: a held stop triggered"
    assert "the open 43.6 hits tranche 2 (stage 1) stop 43.86" in missed["detail"]
    assert missed["reference_price"] == 44.16 and missed["planned_stop"] == 43.48
    assert any("enter stage 1 tranche 4" in d["text"] for d in today["decisions"])
    # every order not filled since the start, newest first: the April block too
    kinds = [(m["session"], m["reason"]) for m in qs["not_filled"]]
    assert kinds == [(FIRST_ASOF, "stop_hit_at_open"), ("2025-04-07", "blocked_line")]
    assert "line3 alarm" in qs["not_filled"][1]["detail"]
    # staleness and the next run on the desk's clock: 2025-11-03 has closed, not processed
    fresh = qs["freshness"]
    assert fresh["stale"] and fresh["latest_closed"] == NEXT_ASOF
    assert fresh["sessions_behind"] == 1
    assert qs["next_run"]["at"] == "2025-11-04T17:15:00+08:00"
    # the chart: NAV and buy and hold over every session, the fills marked
    traces = {t["name"]: t for t in qs["chart"]["data"]}
    assert len(traces["account NAV"]["x"]) == 166 == len(traces["buy and hold"]["y"])
    assert traces["buy and hold"]["y"][0] == pytest.approx(100.0)
    assert len(traces["buys"]["x"]) == 2 and len(traces["sells"]["x"]) == 2
    assert [r["outcome"] for r in qs["runs"]] == ["processed"]


def test_the_page_and_plotly_are_served_from_the_desk_itself(desk: TestClient) -> None:
    page = desk.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<script src="static/plotly.min.js">' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere
    script = desk.get("/static/plotly.min.js")
    assert script.status_code == 200 and len(script.content) > 1_000_000
    assert "javascript" in script.headers["content-type"]


def test_the_fingerprint_moves_with_a_step_and_the_desk_follows(data_dir: Path) -> None:
    with client(data_dir / "paper.sqlite") as desk:
        before = desk.get("/api/state").json()["fingerprint"]
        assert desk.get("/api/state").json()["fingerprint"] == before
        assert xmtrade(*_step(data_dir, NEXT_ASOF)) == 0
        after = desk.get("/api/state").json()["fingerprint"]
        assert after != before
        qs = account(desk.get("/api/desk").json())
    assert qs["performance"]["date"] == NEXT_ASOF and not qs["freshness"]["stale"]
    [held] = qs["positions"]
    assert held["tranche"] == 4 and held["stop"] == 43.18 and held["entry_price"] == 43.82
    close = held["close"]
    assert held["to_stop_pct"] == pytest.approx((close - 43.18) / close * 100)
    assert held["unrealised"] == pytest.approx(round((close - 43.82) * 1000 - 62.72, 2))


def _step(data_dir: Path, asof: str, *extra: str) -> tuple[str, ...]:
    return ("paper", "step", "--account", "qs", "--asof", asof, "--offline", "--data-dir",
            str(data_dir), *extra)  # fmt: skip


def test_a_token_is_asked_of_every_request(stepped: Path) -> None:
    with client(stepped / "paper.sqlite", token="s3cret") as desk:
        for path in ("/", "/api/state", "/api/desk", "/static/plotly.min.js"):
            assert desk.get(path).status_code == 401, path
        assert desk.get("/api/state", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert desk.get("/?token=wrong").status_code == 401
        assert desk.get("/api/state", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        # the page opened with ?token= once: its own requests carry the cookie it set
        assert desk.get("/?token=s3cret").status_code == 200
        assert desk.get("/api/desk").status_code == 200


def test_the_desk_cannot_write_and_holds_no_lock_while_a_step_commits(data_dir: Path) -> None:
    ledger = open_read_only(str(data_dir / "paper.sqlite"))
    try:
        with (
            ledger.engine.connect() as conn,
            pytest.raises(Exception, match=r"readonly|read-only|query_only"),
        ):
            conn.exec_driver_sql("DELETE FROM paper_runs")
        # a read transaction of the desk stays open while the step writes and commits
        with ledger.engine.connect() as conn, conn.begin():
            before = conn.exec_driver_sql("SELECT count(*) FROM paper_equity").scalar()
            assert xmtrade(*_step(data_dir, NEXT_ASOF)) == 0
            # the open read sees its own snapshot, untouched by the commit
            assert conn.exec_driver_sql("SELECT count(*) FROM paper_equity").scalar() == before
        assert str(orders_not_filled(ledger, ledger.account("qs"))[-1]["session"]) == FIRST_ASOF
    finally:
        ledger.dispose()
    # the step's rows are in the file (read by the standard library)
    raw = sqlite3.connect(data_dir / "paper.sqlite")
    try:
        assert raw.execute("SELECT max(date) FROM paper_equity").fetchone()[0] == NEXT_ASOF
    finally:
        raw.close()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("--port", "70000"), "--port: expected a port number from 1 to 65535, got '70000'"),
        (("--port", "web"), "--port: expected a port number"),
        (("--host", "0.0.0.0"), "--token: the desk on 0.0.0.0 would be open to the network"),
        (("--host", "::", "--token", " "), "--token: expected a token, got an empty one"),
        (("--db", "nowhere/paper.sqlite"), "no paper ledger at nowhere/paper.sqlite"),
        (("--db", "postgresql+nope://x@y/z"), "--db: "),
        (("--db", "sqlite://"), "--db: "),
        (("--account", "ghost"), "no paper account 'ghost'"),
        (("--account", "bad name"), "--account: expected a name of letters"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    stepped: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], expected: str
) -> None:
    line = one_line_error(capsys, "paper", "serve", "--data-dir", str(stepped), *argv)
    assert expected in line


def test_a_port_in_use_is_one_line(stepped: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        line = one_line_error(capsys, "paper", "serve", "--data-dir", str(stepped), "--port", port)
    assert f"--port: cannot listen on 127.0.0.1 port {port}" in line


def test_a_ledger_that_is_not_one_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    line = one_line_error(capsys, "paper", "serve", "--db", str(other))
    assert "no paper ledger in" in line
    assert sqlite3.connect(other).execute("SELECT name FROM sqlite_master").fetchall() == [
        ("notes",)
    ]


@pytest.mark.slow
def test_the_server_beside_a_running_step_then_ctrl_c(data_dir: Path) -> None:
    """The real server is read again and again while a step runs in another process: every
    read answers, the step commits, the desk then shows its session; Ctrl-C exits 130."""
    desk = DeskProcess("--data-dir", str(data_dir))
    try:
        assert "read-only" in desk.first_line and "127.0.0.1" in desk.first_line
        step = step_process(data_dir, NEXT_ASOF)
        reads, answered, err = poll_beside(desk, step)
        assert step.returncode == 0, err
        assert reads >= 1 and answered == reads
        status, answer = desk.get("api/desk")
        assert status == 200 and account(answer)["performance"]["date"] == NEXT_ASOF
        code, err = desk.stop(signal.SIGINT)
        assert code == 130, err
        assert "Traceback" not in err
    finally:
        desk.close()


@pytest.mark.slow
def test_sigterm_stops_the_server_with_143_and_a_token_guards_it(stepped: Path) -> None:
    desk = DeskProcess("--data-dir", str(stepped), "--host", "0.0.0.0", "--token", "t0k")
    try:
        assert "token required" in desk.first_line
        assert desk.get("api/state")[0] == 401
        assert desk.get("api/state", {"Authorization": "Bearer t0k"})[0] == 200
        code, err = desk.stop(signal.SIGTERM)
        assert code == 143, err
        assert "Traceback" not in err
    finally:
        desk.close()


def test_a_ledger_gone_while_serving_is_a_503_with_one_line(data_dir: Path) -> None:
    ledger_file = data_dir / "paper.sqlite"
    with client(ledger_file) as desk:
        assert desk.get("/api/state").status_code == 200
        ledger_file.rename(data_dir / "moved.sqlite")
        for path in ("/api/state", "/api/desk"):
            answer = desk.get(path)
            assert answer.status_code == 503
            assert answer.json()["error"] == (
                f"{ledger_file}: the ledger file is not there any more (moved or deleted?)"
            )
        (data_dir / "moved.sqlite").rename(ledger_file)
        assert desk.get("/api/desk").status_code == 200
