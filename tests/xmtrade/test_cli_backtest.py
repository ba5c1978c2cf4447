"""`xmtrade backtest` and `xmtrade config` end to end, and the battery of bad inputs: each is
one line on stderr naming the file and field, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from xmtrade.cli import main

RUN_FILES = {
    "summary.json",
    "config.yaml",
    "trades.csv",
    "fills.csv",
    "equity.csv",
    "decisions.jsonl",
    "chart.png",
    "report.html",
    "plotly.min.js",  # the page's script, once per folder
}
PAGE = {"report.html", "plotly.min.js"}


@pytest.fixture
def home(tmp_path: Path, shared_prices_csv: Path) -> Path:
    """A data directory holding the shared prices, imported the way a user does it."""
    data_dir = tmp_path / "home"
    assert main(["data", "import", str(shared_prices_csv), "--data-dir", str(data_dir)]) == 0
    return data_dir


def fails(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI expecting a user error; return its one line."""
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("xmtrade: error: ")
    return lines[0].removeprefix("xmtrade: error: ")


@pytest.mark.slow
def test_backtest_writes_a_complete_run_folder(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["backtest", "--data-dir", str(home), "--start", "2024-01-02", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "total return" in printed and f"run folder: {out}" in printed
    assert {p.name for p in out.iterdir()} == RUN_FILES - {"chart.png"}  # drawn when asked
    args += ["--report", "html,png"]
    assert main(args) == 0
    assert {p.name for p in out.iterdir()} == RUN_FILES
    summary = json.loads((out / "summary.json").read_text())
    assert summary["start"] == "2024-01-02"
    trades = pd.read_csv(out / "trades.csv")
    assert list(trades.columns[:6]) == [
        "id",
        "stage",
        "entry_date",
        "entry_price",
        "shares",
        "stop_price",
    ]
    assert summary["n_trades"] == int((trades["exit_reason"] != "open").sum())
    equity = pd.read_csv(out / "equity.csv")
    assert {"date", "nav", "cash", "position_value", "weight", "drawdown"} <= set(equity.columns)
    first = json.loads((out / "decisions.jsonl").read_text().splitlines()[0])
    assert "date" in first and "action" in first
    # running again into the same folder replaces the run whole
    assert main(args) == 0
    assert {p.name for p in out.iterdir()} == RUN_FILES
    # --report none: the data files alone; png: the chart without the page
    assert main([*args, "--report", "none"]) == 0
    assert {p.name for p in out.iterdir()} == RUN_FILES - {"chart.png", *PAGE}
    assert main([*args, "--report", "png"]) == 0
    assert {p.name for p in out.iterdir()} == RUN_FILES - PAGE


@pytest.mark.parametrize("value", ["pdf", "html,pdf", "", "none,html"])
def test_bad_report_formats(
    value: str, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = fails(["backtest", "--data-dir", str(home), "--report", value], capsys)
    assert line.startswith("command line: --report: expected html, png, html,png or none")
    assert not (home / "runs").exists()


@pytest.mark.slow
def test_default_run_folder_goes_under_the_data_dir(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", "--data-dir", str(home), "--start", "2025-06-02"]) == 0
    runs = list((home / "runs").iterdir())
    # the default report is the page alone: chart.png is drawn when asked
    assert len(runs) == 1 and {p.name for p in runs[0].iterdir()} == RUN_FILES - {"chart.png"}


def test_config_show_and_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    override = tmp_path / "o.yaml"
    override.write_text("signals:\n  rsi:\n    oversold: 25\n")
    assert main(["config", "validate", "-c", str(override)]) == 0
    assert "config OK" in capsys.readouterr().out
    assert main(["config", "show", "-c", str(override)]) == 0
    shown = capsys.readouterr().out
    assert "oversold: 25" in shown and "# config hash:" in shown


def test_bad_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("signals: [\n")
    line = fails(["config", "validate", "-c", str(bad)], capsys)
    assert line.startswith(f"{bad}: invalid YAML at line")


def test_unknown_key_with_suggestion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("stop:\n  lookbak: 10\n")
    line = fails(["backtest", "-c", str(bad)], capsys)
    assert line.endswith("did you mean 'stop.lookback'?")
    assert line.startswith(f"{bad}: stop.lookbak: unknown key")


def test_wrong_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sizing:\n  max_weight_pct: lots\n")
    line = fails(["config", "show", "-c", str(bad)], capsys)
    assert line.startswith(f"{bad}: sizing.max_weight_pct: expected a number")


def test_bad_risk_rule_metric(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "risk:\n  rules:\n    - {name: r, line: 1, metric: smartphone_rnk, op: '>', "
        "threshold: 4, reports_in_a_row: 1, action: exit, active_from: null}\n"
    )
    line = fails(["config", "validate", "-c", str(bad)], capsys)
    assert line.startswith(f"{bad}: risk.rules.0: unknown metric 'smartphone_rnk'")
    assert line.endswith("did you mean 'smartphone_rank'?")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--start", "2024-13-01"],
            "command line: --start: expected a date YYYY-MM-DD, got '2024-13-01'",
        ),
        (
            ["--start", "2024-02-01", "--end", "2024-01-01"],
            "command line: --end: 2024-01-01 is before --start 2024-02-01",
        ),
        (
            ["--start", "2030-01-02"],
            "command line: --start: no bars on or after 2030-01-02; "
            "the data covers 2018-07-09 to 2026-03-26",
        ),
        (
            ["--start", "2023-09-02", "--end", "2023-09-03"],
            "backtest window: no bars between 2023-09-02 and 2023-09-03; "
            "the data covers 2018-07-09 to 2026-03-26",
        ),
    ],
)
def test_bad_dates(
    home: Path, args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fails(["backtest", "--data-dir", str(home), *args], capsys) == expected
    assert not (home / "runs").exists()


def test_empty_cache_while_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    line = fails(["backtest", "--data-dir", str(empty)], capsys)
    assert "no cached prices for 1810.HK" in line
    assert "xmtrade data fetch" in line and "xmtrade data import" in line
    line = fails(["data", "fetch", "--data-dir", str(empty)], capsys)
    assert line.startswith("yfinance 1810.HK:")
    assert not (empty / "prices" / "1810.HK.csv").exists()


def test_bad_facts_file(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    facts = tmp_path / "facts.csv"
    facts.write_text(
        "metric,period,period_end,announced,value,unit,source,confidence\n"
        "revenue,2024Q3,2024-09-30,2024-11-18,abc,RMB_m,test,H\n"
    )
    override = tmp_path / "o.yaml"
    override.write_text(f"fundamentals:\n  file: {facts.name}\n")  # relative to o.yaml
    line = fails(["backtest", "--data-dir", str(home), "-c", str(override)], capsys)
    assert line.startswith(f"{facts}: row 2, column value:")
    assert not (home / "runs").exists()


def test_out_must_not_clobber_other_folders(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    line = fails(["backtest", "--data-dir", str(home), "--out", str(precious)], capsys)
    assert line == f"--out: {precious} exists and holds files that are not an xmtrade run's"
    assert (precious / "notes.txt").read_text() == "keep me"
    # a summary.json among other files does not make a folder a run folder
    (precious / "summary.json").write_text("{}")
    assert fails(["backtest", "--data-dir", str(home), "--out", str(precious)], capsys) == line
    assert (precious / "notes.txt").read_text() == "keep me"


def test_run_folders_of_the_same_second_are_distinct(tmp_path: Path) -> None:
    from xmtrade.reports.run_folder import new_run_dir

    first = new_run_dir(tmp_path / "runs", "abcdef0123456789")
    second = new_run_dir(tmp_path / "runs", "abcdef0123456789")
    assert first != second and first.is_dir() and second.is_dir()


def test_data_dir_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    line = fails(["backtest", "--data-dir", str(not_a_dir)], capsys)
    assert line == f"--data-dir: {not_a_dir} is a file, expected a directory"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["backtest", "--frobnicate"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --frobnicate" in capsys.readouterr().err


@pytest.mark.slow
def test_interrupted_write_leaves_nothing(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import xmtrade.reports.chart

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(xmtrade.reports.chart, "plot_run", interrupted)
    out = tmp_path / "run"
    args = ["backtest", "--data-dir", str(home), "--start", "2025-06-02", "--out", str(out)]
    code = main([*args, "--report", "html,png"])  # stopped while drawing chart.png
    assert code == 130
    assert not out.exists()
    assert list(tmp_path.glob(".run.*")) == []


def test_validate_checks_the_calendar_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "cal.yaml"
    bad.write_text("market: {calendar: NOPE}\n")
    line = fails(["config", "validate", "-c", str(bad)], capsys)
    assert line == (
        f"{bad}: market.calendar: unknown exchange calendar 'NOPE' "
        "(expected an exchange_calendars code such as XHKG)"
    )
    # and every command that needs the calendar names the same file and key
    line = fails(["data", "check", "-c", str(bad)], capsys)
    assert line.startswith(f"{bad}: market.calendar: unknown exchange_calendars code")
