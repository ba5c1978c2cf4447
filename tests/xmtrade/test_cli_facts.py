"""`xmtrade facts check|add|fetch|show` end to end, as a user runs them on a copy of the file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from data_feeds import facts_yahoo
from tests.data_feeds.yahoo_statements import xiaomi_statements
from xmtrade.cli import main

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "configs" / "fundamentals" / "1810.HK.csv"


@pytest.fixture
def facts(tmp_path: Path) -> Path:
    path = tmp_path / "facts.csv"
    path.write_bytes(SHIPPED.read_bytes())
    return path


@pytest.fixture
def layer(tmp_path: Path, facts: Path) -> Path:
    """A config layer pointing fundamentals.file at the user's copy."""
    path = tmp_path / "mine.yaml"
    path.write_text(f"fundamentals:\n  file: {facts}\n", encoding="utf-8")
    return path


def one_error(code: int, capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    return line.removeprefix("xmtrade: error: ")


def damage(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("revenue,2019Q1", "revnue,2019Q1").replace(",2080.7,", ",n/a,"),
        encoding="utf-8",
    )


def test_check_lists_every_finding_and_exits_2_on_errors(
    facts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["facts", "check", str(facts)]) == 0
    out = capsys.readouterr().out
    assert "warning: row 14, column period: no 2018Q4" in out
    assert out.strip().endswith("203 facts: 0 errors, 1 warning, 0 revisions: OK")
    damage(facts)
    code = main(["facts", "check", str(facts)])
    out = capsys.readouterr().out
    assert code == 2
    assert "error: row 11, column metric: unknown metric 'revnue' (did you mean 'revenue'?)" in out
    assert "error: row 12, column value: expected a number like 92500 or 20.4, got 'n/a'" in out
    assert "NOT USABLE" in out


def test_config_validate_and_paper_init_refuse_a_broken_facts_file(
    facts: Path, layer: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "validate", "-c", str(layer)]) == 0
    assert "facts file OK" in capsys.readouterr().out
    damage(facts)
    line = one_error(main(["config", "validate", "-c", str(layer)]), capsys)
    assert line.startswith(f"{facts}: row 11, column metric: unknown metric 'revnue'")
    assert f"(1 more); every problem: xmtrade facts check {facts}" in line
    line = one_error(main(["paper", "init", "-c", str(layer), "--offline"]), capsys)
    assert "unknown metric 'revnue'" in line
    assert not (isolated_home / "paper.sqlite").exists()


def test_add_refuses_the_packaged_copy_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    before = SHIPPED.read_bytes()
    line = one_error(
        main(["facts", "add", "revenue", "2025Q4", "116500", "--announced", "2026-03-24"]), capsys
    )
    assert "packaged with xmtrade" in line and "xmtrade init" in line and "--file" in line
    assert SHIPPED.read_bytes() == before


def test_add_a_quarter_then_a_revision(
    facts: Path, layer: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["facts", "add", "-c", str(layer)]
    assert main([*base, "revenue", "2025Q4", "116500", "--announced", "2026-03-24"]) == 0
    out = capsys.readouterr().out
    assert "row 205: revenue 2025Q4 = 116500 RMB_m, announced 2026-03-24, used from the " in out
    assert "decision after the close of 2026-03-25" in out
    args = [*base, "revenue", "2025Q4", "116.6", "--unit", "RMB_bn", "--announced", "2026-04-02"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "row 206: revision of revenue 2025Q4: 116500 -> 116600 RMB_m" in out
    assert "(row 205 stays for the decisions before)" in out
    line = one_error(main([*base, "revenue", "2025Q4", "1", "--announced", "2026-03-30"]), capsys)
    assert "a revision must be announced after the figure it revises" in line
    line = one_error(main([*base, "revenue", "2025Q4", "1"]), capsys)
    assert (
        line == "command line: --announced: required: the day the figure became public, YYYY-MM-DD"
    )
    assert main(["facts", "check", str(facts)]) == 0
    assert "note: row 206: revision of revenue 2025Q4" in capsys.readouterr().out


def test_fetch_adds_what_the_file_lacks_once_and_names_what_it_cannot_refresh(
    facts: Path, layer: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(facts_yahoo, "fetch_statements", lambda symbol: xiaomi_statements())
    assert main(["facts", "fetch", "-c", str(layer)]) == 0
    out = capsys.readouterr().out
    assert "row 205: revenue 2025Q4 = 116500 RMB_m, announced 2026-03-24" in out
    assert "operating_profit 2025FY = 42400 RMB_m" in out
    assert (
        "not in yfinance, so not refreshed: ev_gross_margin (gate); smartphone_rank "
        "(line1_smartphone_rank); ev_segment_result (line3_ev_profit_deadline)" in out
    )
    assert "add: xmtrade facts add ev_gross_margin 2025Q4 VALUE --announced 2026-03-24" in out
    text = facts.read_text(encoding="utf-8")
    assert main(["facts", "fetch", "-c", str(layer)]) == 0
    assert "wrote 0 row(s)" in capsys.readouterr().out
    assert facts.read_text(encoding="utf-8") == text
    assert main(["facts", "check", str(facts)]) == 0


def test_fetch_refuses_undated_results_and_writes_nothing(
    facts: Path, layer: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        facts_yahoo, "fetch_statements", lambda symbol: xiaomi_statements(earnings_dates=None)
    )
    before = facts.read_bytes()
    line = one_error(main(["facts", "fetch", "-c", str(layer)]), capsys)
    assert "yfinance gives no earnings date" in line and "--announced" in line
    assert facts.read_bytes() == before


@pytest.fixture
def home(tmp_path: Path, shared_prices_csv: Path) -> Path:
    data_dir = tmp_path / "home"
    assert main(["data", "import", str(shared_prices_csv), "--data-dir", str(data_dir)]) == 0
    return data_dir


Q4_ROWS = """metric,period,announced,value,unit,source
revenue,2025Q4,2026-03-24,116500,RMB_m,results
gross_margin,2025Q4,2026-03-24,22.5,pct,results
ev_gross_margin,2025Q4,2026-03-24,24.1,pct,results
ev_deliveries,2025Q4,2026-03-24,145000,units,results
ev_segment_result,2025Q4,2026-03-24,900,RMB_m,results
smartphone_rank,2025Q4,2026-03-24,3,rank,Canalys
"""


@pytest.mark.slow
def test_show_matches_the_backtests_decisions_and_staleness_goes_once_q4_is_added(
    home: Path, tmp_path: Path, layer: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    window = ["--start", "2025-06-02", "--end", "2026-03-26"]
    args = ["backtest", "--data-dir", str(home), "-c", str(layer), *window, "--out", str(run)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "STALE, 2025Q4 is due (xmtrade facts fetch, or xmtrade facts add)" in out
    warning = out.strip().splitlines()[-1]
    assert warning.startswith("warning: fundamentals STALE on 2026-03-26: the newest report, ")
    assert "2025Q4 was due about 2026-03-18 (8 days ago)" in warning
    assert "xmtrade facts add METRIC 2025Q4 VALUE --announced YYYY-MM-DD" in warning

    decisions = [json.loads(line) for line in (run / "decisions.jsonl").read_text().splitlines()]
    known = [d for d in decisions if d.get("fundamentals")]
    assert len(known) >= 3
    for record in known:
        show = ["facts", "show", "--data-dir", str(home), "-c", str(layer), "--json"]
        assert main([*show, "--asof", record["date"]]) == 0
        view = json.loads(capsys.readouterr().out)
        for key, value in record["fundamentals"].items():
            assert view[key] == value, (record["date"], key)

    batch = tmp_path / "q4.csv"
    batch.write_text(Q4_ROWS, encoding="utf-8")
    assert main(["facts", "add", "-c", str(layer), "--from", str(batch)]) == 0
    capsys.readouterr()
    # around the announcement: not usable at the decision of its own day, usable the next
    show = ["facts", "show", "--data-dir", str(home), "-c", str(layer)]
    assert main([*show, "--asof", "2026-03-24"]) == 0
    assert "newest usable report: 2025Q3" in capsys.readouterr().out
    assert main([*show, "--asof", "2026-03-25"]) == 0
    shown = capsys.readouterr().out
    assert (
        "newest usable report: 2025Q4, announced 2026-03-24, usable from the decision of " in shown
    )
    assert "ev_gross_margin_pct" in shown and "next report due: 2026Q1, about 2026-05-27" in shown
    assert "ceiling price HK$" in shown

    assert main([*args[:-1], str(tmp_path / "run2")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"last report\s+2025Q4, announced 2026-03-24, 2 days before the end", out)
    assert "STALE" not in out
