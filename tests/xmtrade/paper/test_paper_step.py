"""`xmtrade paper init|step` on the real prices: idempotency, catch-up, agreement with the
backtest over a short span, refusal of a changed config, facts-file changes, revisions and
stale data."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yfinance
from paper_support import dump, ok, one_line_error, run, runs_of

from data_feeds.cache import PriceCache
from xmtrade.cli import main
from xmtrade.config import load_config

START = "2025-10-13"  # a short span with entries, stage 2 and 3 adds and stop-outs
SPAN = [
    "2025-10-13",
    "2025-10-14",
    "2025-10-15",
    "2025-10-16",
    "2025-10-17",
    "2025-10-20",
    "2025-10-21",
    "2025-10-22",
    "2025-10-23",
    "2025-10-24",
    "2025-10-27",
    "2025-10-28",
    "2025-10-30",  # 2025-10-29 is a holiday (Chung Yeung)
    "2025-10-31",
    "2025-11-03",
    "2025-11-04",
    "2025-11-05",
    "2025-11-06",
    "2025-11-07",
]


def init(capsys: pytest.CaptureFixture[str], *extra: str, start: str = START) -> str:
    return ok(capsys, "paper", "init", "--start", start, "--offline", *extra)


def step(capsys: pytest.CaptureFixture[str], asof: str, *extra: str) -> str:
    return ok(capsys, "paper", "step", "--asof", asof, "--offline", *extra)


def test_init_freezes_the_history_before_the_start(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = init(capsys)
    assert "paper account 'default' created" in out
    assert "price history frozen into the ledger: 1,788 bars (2018-07-09 .. 2025-10-10)" in out
    db = home / "paper.sqlite"
    tables = dump(db)
    assert len(tables["paper_bars"]) == 1788
    assert {row[-1] for row in tables["paper_bars"]} == {"history"}
    assert tables["paper_fills"] == [] and tables["paper_equity"] == []
    line = one_line_error(capsys, "paper", "init", "--start", START, "--offline")
    assert line.startswith("--account: paper account 'default' already exists in ")


def test_step_twice_changes_nothing_the_second_time(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys)
    out = step(capsys, "2025-10-24")
    assert "processed 10 sessions, 2025-10-13 .. 2025-10-24" in out
    assert "fill buy 1,000 @ 47 (tranche 1 entry" in out
    db = home / "paper.sqlite"
    before = dump(db)
    out = step(capsys, "2025-10-24")
    assert out.startswith("no new bar: paper account default is processed through 2025-10-24")
    assert dump(db) == before
    # a weekend asof finds the same: no new bar, nothing invented
    out = step(capsys, "2025-10-26")
    assert out.startswith("no new bar")
    assert dump(db) == before
    assert [r["outcome"] for r in runs_of(db)] == ["processed", "no new bar", "no new bar"]


def test_catch_up_equals_day_by_day_and_the_backtest(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys)
    for day in SPAN:
        step(capsys, day)
    daily = dump(home / "paper.sqlite")

    other = tmp_path / "catch_up.sqlite"
    init(capsys, "--db", str(other))
    step(capsys, "2025-10-17", "--db", str(other))
    out = step(capsys, "2025-11-07", "--db", str(other))  # misses 14 sessions, then catches up
    assert "processed 14 sessions, 2025-10-20 .. 2025-11-07" in out
    assert dump(other) == daily

    # what the ledger holds is what a backtest of the same sessions gives, file for file
    ok(capsys, "paper", "report", "--out", str(tmp_path / "paper"))
    ok(
        capsys,
        "backtest",
        "--start",
        START,
        "--end",
        "2025-11-07",
        "--out",
        str(tmp_path / "backtest"),
    )
    for name in ("summary.json", "trades.csv", "fills.csv", "equity.csv", "decisions.jsonl"):
        paper = (tmp_path / "paper" / name).read_text()
        assert paper == (tmp_path / "backtest" / name).read_text(), name
    trades = pd.read_csv(tmp_path / "paper" / "trades.csv")
    # the stage-2 add decided on 2025-10-30 is cancelled at the open of 10-31, where the
    # stage-1 stop sells (the pre-opening check); stage 2 first fills on 2025-11-11
    assert set(trades["stage"]) == {1}
    decisions = (tmp_path / "paper" / "decisions.jsonl").read_text()
    assert '"check": "skip_stop_hit"' in decisions
    assert (trades["exit_reason"] == "stop").sum() >= 3


def test_a_changed_config_is_refused_until_reset(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys)
    step(capsys, "2025-10-24")
    db = home / "paper.sqlite"
    before = dump(db)
    tweak = tmp_path / "tweak.yaml"
    tweak.write_text("stop:\n  lookback: 10\n")
    line = one_line_error(
        capsys, "paper", "step", "--asof", "2025-11-07", "--offline", "-c", str(tweak)
    )
    assert line.startswith("paper account 'default': this config (hash ")
    assert "is not the account's (hash " in line and "--reset" in line
    assert dump(db) == before
    assert runs_of(db)[-1]["outcome"] == "refused"

    # the paper section changes no decision: a different schedule is the same account
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text("paper:\n  schedule:\n    hour: 18\n")
    step(capsys, "2025-10-27", "-c", str(schedule))

    out = step(capsys, "2025-11-07", "-c", str(tweak), "--reset")
    assert "after --reset, 2025-10-13 .. 2025-11-07" in out
    account = dump(db)["paper_accounts"][0]
    assert str(tweak.resolve()) in json.loads(account[7])  # config_layers
    # without -c, a step uses the account's own layers (a timer without `cd`), and says so
    code, out, err = run(capsys, "paper", "step", "--asof", "2025-11-07", "--offline")
    assert code == 0, err
    assert f"using its config ({tweak.resolve()})" in err
    assert "no new bar" in out


def test_facts_rows_announced_later_are_accepted_past_changes_refused(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from xmtrade.config import load_config

    facts = tmp_path / "facts.csv"
    facts.write_text(load_config().fundamentals.file.read_text())
    layer = tmp_path / "facts.yaml"
    layer.write_text(f"fundamentals:\n  file: {facts}\n")
    init(capsys, "-c", str(layer), start="2025-03-03")
    step(capsys, "2025-06-30", "-c", str(layer))
    db = home / "paper.sqlite"

    # the 2025Q2 report's revenue, announced after the processed sessions: history unchanged
    rows = facts.read_text().splitlines()
    q2 = next(r for r in rows if r.startswith("revenue,2025Q2,"))
    facts.write_text("\n".join([*rows, q2.replace("2025-08-19", "2025-07-15")]) + "\n")
    out = step(capsys, "2025-07-31", "-c", str(layer))
    assert "facts file changed: 1 row added, 0 removed; history unchanged" in out

    # a smartphone rank of 6 for 2024Q4 (usable from 2025-03-19) rewrites line 1's history
    before = dump(db)
    text = facts.read_text()
    old = next(r for r in text.splitlines() if r.startswith("smartphone_rank,2024Q4,"))
    facts.write_text(text.replace(old, old.replace(",,3,rank,", ",,6,rank,")))
    line = one_line_error(
        capsys, "paper", "step", "--asof", "2025-08-29", "--offline", "-c", str(layer)
    )
    assert line.startswith(
        "paper account 'default': replaying the ledger no longer gives its history "
        "(session 2025-03-19: lines differ): the facts file changed since the last step "
        "(1 row added, 1 removed) and the change reaches back into processed sessions; "
        "nothing was written."
    )
    assert dump(db) == before
    out = step(capsys, "2025-08-29", "-c", str(layer), "--reset")
    assert "after --reset, 2025-03-03 .. 2025-08-29" in out


def test_a_revised_bar_is_reported_and_the_ledger_keeps_its_own(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys)
    step(capsys, "2025-10-24")
    db = home / "paper.sqlite"
    cache = PriceCache(home / "prices")
    bars = cache.load("1810.HK")
    bars.loc[pd.Timestamp("2025-10-21"), "close"] += 1.0
    cache.save("1810.HK", bars)

    out = step(capsys, "2025-10-28")
    assert (
        "warning: price revised by the source: 2025-10-21 close 46.46 -> 47.46; "
        "the ledger keeps its bar" in out
    )
    kept = [r for r in dump(db)["paper_bars"] if r[1] == "2025-10-21"]
    assert kept[0][5] == 46.46
    last = runs_of(db)[-1]
    assert last["revisions"] == 1 and last["sessions_processed"] == 2
    assert "price revision" in last["summary"]
    # reported once; later steps count it as known
    out = step(capsys, "2025-10-30")
    assert "warning: price revised" not in out
    assert "1 known price revision kept out of the ledger" in out


def test_offline_past_the_cache_is_stale_and_invents_no_bar(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys, start="2026-03-20")
    out = step(capsys, "2026-03-31")
    assert "processed 5 sessions, 2026-03-20 .. 2026-03-26" in out
    assert (
        "data is stale (--offline): the prices end at 2026-03-26, the latest session up to "
        "2026-03-31 is 2026-03-31; no bar is invented, 2026-03-31 waits for its bar" in out
    )
    assert "alarms: " in out and "stale data" in out.splitlines()[-1]
    db = home / "paper.sqlite"
    assert max(r[1] for r in dump(db)["paper_equity"]) == "2026-03-26"
    assert runs_of(db)[-1]["stale"] == 1


def test_network_down_uses_the_cache_and_says_so(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys, start="2026-03-20")
    # what yfinance does offline: log, and return an empty frame
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: pd.DataFrame())
    out = ok(capsys, "paper", "step", "--asof", "2026-03-31")
    assert "price update failed, using the cache: yfinance 1810.HK: no data returned" in out
    assert "data is stale (the price update failed)" in out
    assert "processed 5 sessions, 2026-03-20 .. 2026-03-26" in out
    assert runs_of(home / "paper.sqlite")[-1]["stale"] == 1


def test_new_bars_from_the_source_are_processed(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys, start="2026-03-20")
    step(capsys, "2026-03-26")
    cached = PriceCache(home / "prices").load("1810.HK")
    recent = cached.loc["2026-03-19":].copy()
    extra = pd.DataFrame(
        {"open": [32.5, 33.0], "high": [33.4, 33.6], "low": [32.1, 32.6], "close": [33.0, 33.2]},
        index=pd.DatetimeIndex(["2026-03-27", "2026-03-30"], name="date"),
    )
    extra["volume"] = [1.5e8, 1.6e8]
    frame = pd.concat([recent.loc[:, ["open", "high", "low", "close", "volume"]], extra])
    calls: list[dict[str, Any]] = []

    def download(symbol: str, **kwargs: Any) -> pd.DataFrame:
        calls.append(kwargs)
        data = {
            ("Adj Close", symbol): frame["close"],
            ("Close", symbol): frame["close"],
            ("High", symbol): frame["high"],
            ("Low", symbol): frame["low"],
            ("Open", symbol): frame["open"],
            ("Volume", symbol): frame["volume"].astype("int64"),
        }
        out = pd.DataFrame(data, index=pd.DatetimeIndex(frame.index, name="Date"))
        out.columns = pd.MultiIndex.from_tuples(list(data), names=["Price", "Ticker"])
        return out

    monkeypatch.setattr(yfinance, "download", download)
    out = ok(capsys, "paper", "step", "--asof", "2026-03-30")
    assert calls and calls[0]["start"] == "2026-03-19"
    assert "prices: downloaded 2026-03-19 .. 2026-03-30 (8 bars); 2 added, 0 revised" in out
    assert "processed 2 sessions, 2026-03-27 .. 2026-03-30" in out
    assert "stale" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["paper", "step", "--account", "no such"], "command line: --account: expected a name"),
        (["paper", "step", "--asof", "2025-13-01"], "command line: --asof: expected a date"),
        (
            ["paper", "step", "--asof", "2025-10-01", "--offline"],
            "command line: --asof: 2025-10-01 is before the start of paper account 'default' "
            "(2025-10-13)",
        ),
        (
            ["paper", "step", "--account", "other", "--offline"],
            "--account: no paper account 'other' in ",
        ),
        (
            ["paper", "init", "--start", "2025-10-12", "--account", "b"],
            "command line: --start: 2025-10-12 is not an XHKG session (the next one is 2025-10-13)",
        ),
        (
            ["paper", "init", "--cash", "-5", "--account", "b"],
            "command line: --cash: expected a positive amount in HK$, got '-5'",
        ),
        (
            ["paper", "init", "--cash", "lots", "--account", "b"],
            "command line: --cash: expected a positive amount in HK$, got 'lots'",
        ),
        (
            ["paper", "init", "--start", "2026-06-01", "--offline", "--account", "b"],
            "the prices end at 2026-03-26; an account starting on 2026-06-01 needs every bar "
            "up to 2026-05-29 (run `xmtrade data fetch` first)",
        ),
    ],
)
def test_bad_inputs_are_one_line(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    init(capsys)
    assert message in one_line_error(capsys, *argv)


def test_step_before_any_ledger_says_how_to_start(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line_error(capsys, "paper", "step", "--offline")
    assert line == (
        f"--db: no paper ledger at {home / 'paper.sqlite'}; create an account first: "
        "xmtrade paper init"
    )
    assert not (home / "paper.sqlite").exists()


def test_status_history_and_report(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys, "--cash", "2,000,000")
    out = ok(capsys, "paper", "status")
    assert "no session processed yet" in out and "last run: none yet" in out
    step(capsys, "2025-10-30")
    out = ok(capsys, "paper", "status")
    assert "HK$2,000,000.00 at the start" in out
    account_hash = load_config().config_hash()
    assert f"config hash {account_hash} (this config matches)\n" in out
    assert "processed through 2025-10-30 (13 sessions)" in out
    assert "stage 2 (core)" not in out  # the add fills at the next open
    assert "cash HK$1,898,917.95; position 2,200 shares worth HK$97,152.00 (4.87% of NAV)" in out
    assert "stage 1 (tactical)" in out
    # the evening read: the last bar, staleness, P&L, fees, buy and hold, distance to stops
    assert "last bar: 2025-10-30 close 44.16" in out
    assert "warning: stale: the ledger ends at 2025-10-30" in out
    assert "the price cache has bars to 2026-03-26: xmtrade paper step --offline" in out
    assert "NAV HK$1,996,069.95 (-0.20% since the start)" in out
    assert "buy and hold: -10.02% since the close of 2025-10-13 (49.08 -> 44.16)" in out
    assert "the account +9.83 pp against it" in out
    assert "realised P&L -HK$2,865.17 after fees (1 tranche closed)" in out
    assert "fees to date HK$406.05 (3 fills)" in out
    assert (
        "  tranche 2 stage 1: 2,200 @ 44.58 since 2025-10-30, held 1 session; unrealised "
        "-HK$1,064.88; stop 43.86 (0.68% below the close) (initial 43.86)" in out
    )
    # realised + unrealised is the NAV's change
    assert round(2_000_000 - 2_865.17 - 1_064.88, 2) == 1_996_069.95
    assert "working orders (after 2025-10-30):" in out
    assert "  entry buy 2,200 at the open (tranche 3)" in out
    assert "  stop sell 2,200 @ 43.86 (tranche 2)" in out
    assert "risk lines:" in out and "  line1 ok" in out
    assert "last run: " in out and " HKT (command line): processed, 13 sessions processed" in out

    out = ok(capsys, "paper", "history", "--since", "2025-10-20")
    assert "fills of paper account default (3):" in out
    assert "  2025-10-20        1      1  buy   entry    2,000    47.000     94,000.00" in out
    assert "NAV per session (8):" in out

    out = ok(capsys, "paper", "report", "--out", str(tmp_path / "rep"))
    assert f"run folder: {tmp_path / 'rep'}" in out
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert summary["initial_nav"] == 2_000_000 and summary["end"] == "2025-10-30"
    # one hash for the account everywhere: init, status, report and config validate
    assert summary["config_hash"] == account_hash
    assert f"hash {account_hash};" in ok(capsys, "config", "validate")
    assert (tmp_path / "rep" / "chart.png").stat().st_size > 0
    assert "plotly" in (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")[:20000]


def test_report_without_sessions_is_one_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys)
    line = one_line_error(capsys, "paper", "report")
    assert line == (
        "paper account 'default': no session processed yet, nothing to report: "
        "run xmtrade paper step"
    )


def test_accounts_are_independent(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init(capsys)
    init(capsys, "--account", "small", "--cash", "100000")
    step(capsys, "2025-10-24")
    out = step(capsys, "2025-10-24", "--account", "small")
    assert "processed 10 sessions" in out
    assert main(["paper", "status", "--account", "small"]) == 0
    assert "HK$100,000.00 at the start" in capsys.readouterr().out
    assert date(2025, 10, 24)  # (both accounts processed the same sessions)
    _, out, _ = run(capsys, "paper", "step", "--asof", "2025-10-24", "--offline")
    assert out.startswith("no new bar")


def test_reset_with_asof_replays_only_through_asof(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys)
    step(capsys, "2025-10-24")
    db = home / "paper.sqlite"
    before = dump(db)
    out = step(capsys, "2025-10-17", "--reset")
    assert "processed 5 sessions after --reset, 2025-10-13 .. 2025-10-17" in out
    assert max(row[1] for row in dump(db)["paper_equity"]) == "2025-10-17"
    out = step(capsys, "2025-10-24")  # the rest again, from the ledger's own bars
    assert "processed 5 sessions, 2025-10-20 .. 2025-10-24" in out
    assert dump(db) == before


def test_changed_packaged_defaults_are_named_as_the_cause(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(capsys)
    step(capsys, "2025-10-17")
    db = home / "paper.sqlite"
    conn = sqlite3.connect(db)  # as if an older xmtrade with other defaults had created it
    conn.execute("UPDATE paper_accounts SET config_hash = '0123456789abcdef'")
    conn.commit()
    conn.close()
    line = one_line_error(capsys, "paper", "step", "--asof", "2025-10-24", "--offline")
    assert "(hash 0123456789abcdef): the account uses the packaged defaults only, and they " in line
    assert "changed (a different xmtrade version, now " in line
    assert "since the account was created" in line
    assert "pass the account's -c files" not in line
    assert line.endswith(
        "restart the account from 2025-10-13 with this config: --reset, or keep it and start "
        "a new account: xmtrade paper init --account NAME"
    )
    assert "after --reset" in step(capsys, "2025-10-24", "--reset")
