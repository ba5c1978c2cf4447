"""`xmtrade data fetch|import|check` end to end through `xmtrade.cli.main`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yfinance

from data_feeds.calendar import SessionCalendar
from xmtrade.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("xmtrade: error: ")
    return lines[0]


def test_import_then_check_the_shared_file(
    tmp_path: Path, shared_prices_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    code, out, err = run(
        capsys, "data", "import", str(shared_prices_csv), "--data-dir", str(data_dir)
    )
    assert code == 0, err
    cache = data_dir / "prices" / "1810.HK.csv"
    assert f"imported 1,900 bars from {shared_prices_csv}" in out
    assert out.strip().splitlines()[-1] == f"cache: {cache} (1,900 bars, 2018-07-09 .. 2026-03-26)"
    assert out.count(" warning placeholder_bar: ") == 12

    code, out, err = run(capsys, "data", "check", "--data-dir", str(data_dir))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"checking {cache}: 1,900 bars, 2018-07-09 .. 2026-03-26")
    assert "2023-09-01 info adhoc_closure: no bar: HKEX was closed all day" in out
    assert "2024-01-15 warning placeholder_bar: placeholder bar on a full session" in out
    assert lines[-1] == "0 errors, 12 warnings, 2 info"
    assert len(lines) == 1 + 14 + 1

    code, out, _ = run(
        capsys, "data", "import", str(shared_prices_csv), "--data-dir", str(data_dir)
    )
    assert code == 0
    assert "0 added, 0 revised, 1,900 unchanged" in out


def test_import_uses_xmtrade_home_by_default(
    isolated_home: Path, shared_prices_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "data", "import", str(shared_prices_csv))
    assert code == 0, err
    assert (isolated_home / "prices" / "1810.HK.csv").is_file()


def test_malformed_csv_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "Date,Open,High,Low,Close,Volume\n2024-03-04,1,2,1,2,10\n2024-03-05,1,2,1,x,10\n"
    )
    code, _, err = run(capsys, "data", "import", str(bad), "--data-dir", str(tmp_path / "d"))
    assert code == 2
    assert one_line_error(err) == (
        f"xmtrade: error: {bad}: line 3: close: expected a number, got 'x'"
    )
    assert not (tmp_path / "d" / "prices" / "1810.HK.csv").exists()


def test_import_with_errors_lists_them_and_imports_nothing(
    tmp_path: Path, shared_prices_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "d"
    assert (
        run(capsys, "data", "import", str(shared_prices_csv), "--data-dir", str(data_dir))[0] == 0
    )
    cache = data_dir / "prices" / "1810.HK.csv"
    before = cache.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "date,open,high,low,close,volume\n"
        "2026-03-27,40,41,39,40.5,1000\n"
        "2026-03-27,40,41,39,40.5,1000\n"
        "2026-03-28,40,41,39,40.5,1000\n"  # a Saturday
    )
    code, _, err = run(capsys, "data", "import", str(bad), "--data-dir", str(data_dir))
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[:2] == [
        "2026-03-27 error duplicate_date: 2 bars for the same session date",
        "2026-03-28 error not_a_session: bar on a Saturday, HKEX does not trade at weekends",
    ]
    assert lines[2].startswith(f"xmtrade: error: {bad}: 2 errors; nothing imported")
    assert cache.read_bytes() == before


def test_import_merge_reports_added_and_revised(
    tmp_path: Path, shared_prices_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "d"
    run(capsys, "data", "import", str(shared_prices_csv), "--data-dir", str(data_dir))
    update = tmp_path / "update.csv"
    update.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2026-03-26,35.0,36.0,34.0,35.5,35.5,1000\n"
        "2026-03-27,35.5,36.5,35.0,36.0,36.0,2000\n"
    )
    code, out, err = run(capsys, "data", "import", str(update), "--data-dir", str(data_dir))
    assert code == 0, err
    assert "merged 2 bars from" in out and "1 added, 1 revised, 0 unchanged" in out
    assert "added 1 bar: 2026-03-27" in out
    assert "  2026-03-26 open " in out
    assert "(1,901 bars, 2018-07-09 .. 2026-03-27)" in out

    code, out, _ = run(
        capsys, "data", "import", str(update), "--replace", "--data-dir", str(data_dir)
    )
    assert code == 0
    assert "replaced the cache with 2 bars" in out and "(was 1,901 bars)" in out


def test_check_a_file_with_errors_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "date,open,high,low,close,volume\n2024-03-04,10,9,9.5,10,100\n2024-03-05,10,11,9,10,-1\n"
    )
    code, out, err = run(capsys, "data", "check", "--file", str(bad))
    assert code == 1, err
    lines = out.strip().splitlines()
    assert lines[1].startswith("2024-03-04 error ohlc_inconsistent: high 9 below low 9.5")
    assert lines[2] == "2024-03-05 error bad_volume: volume -1: expected a number of shares ≥ 0"
    assert lines[-1] == "2 errors, 0 warnings, 0 info"


def test_check_without_cache_names_the_remedy(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "data", "check")
    assert code == 2
    assert one_line_error(err).endswith(
        "no cached prices for 1810.HK (missing); run `xmtrade data fetch` or "
        "`xmtrade data import FILE`"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--start", "2024-13-01"],
            "xmtrade: error: command line: --start: expected a date YYYY-MM-DD, got '2024-13-01'",
        ),
        (
            ["--end", "yesterday"],
            "xmtrade: error: command line: --end: expected a date YYYY-MM-DD, got 'yesterday'",
        ),
        (
            ["--start", "2024-03-10", "--end", "2024-03-01"],
            "xmtrade: error: command line: --end: 2024-03-01 is before --start 2024-03-10",
        ),
        (
            ["--symbol", "../x"],
            "xmtrade: error: command line: --symbol: expected a ticker like 1810.HK (letters, "
            "digits, '.', '^', '=', '_', '-'), got '../x'",
        ),
    ],
)
def test_fetch_bad_options(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run(capsys, "data", "fetch", *args)
    assert code == 2
    assert one_line_error(err) == message


def yahoo_download(start: str, end: str) -> pd.DataFrame:
    """A yfinance-shaped download (tz-aware index, (Price, Ticker) columns), one bar a session."""
    sessions = SessionCalendar("XHKG").sessions(start, end)
    close = [10.0 + 0.1 * i for i in range(len(sessions))]
    columns = {
        "Adj Close": close,
        "Close": close,
        "High": [c + 0.5 for c in close],
        "Low": [c - 0.5 for c in close],
        "Open": close,
        "Volume": [1_000_000] * len(close),
    }
    frame = pd.DataFrame(
        {(k, "1810.HK"): v for k, v in columns.items()},
        index=pd.DatetimeIndex(sessions, name="Date").tz_localize("Asia/Hong_Kong"),
    )
    keys = [(k, "1810.HK") for k in columns]
    frame.columns = pd.MultiIndex.from_tuples(keys, names=["Price", "Ticker"])
    return frame


def test_fetch_adds_then_says_no_new_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    history = yahoo_download("2024-03-01", "2024-03-28")

    def fake_download(symbol: str, **kwargs: Any) -> pd.DataFrame:
        assert symbol == "1810.HK"
        start = pd.Timestamp(kwargs["start"], tz="Asia/Hong_Kong")
        end = pd.Timestamp(kwargs["end"], tz="Asia/Hong_Kong")
        return history.loc[(history.index >= start) & (history.index < end)]

    monkeypatch.setattr(yfinance, "download", fake_download)
    data_dir = str(tmp_path / "d")
    argv = ["data", "fetch", "--start", "2024-03-01", "--end", "2024-03-28", "--data-dir", data_dir]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert "1810.HK: downloaded 2024-03-01 .. 2024-03-28 from yfinance (20 bars)" in out
    assert "added 20 bars: 2024-03-01 .. 2024-03-28" in out
    assert out.strip().endswith("(20 bars, 2024-03-01 .. 2024-03-28)")

    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert "no new data: the cache already holds the latest session on or before 2024-03-28" in out


def test_fetch_offline_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: pd.DataFrame())
    code, _, err = run(capsys, "data", "fetch", "--start", "2024-03-01", "--end", "2024-03-28")
    assert code == 2
    assert one_line_error(err) == (
        "xmtrade: error: yfinance 1810.HK: no data returned for 2024-03-01 .. 2024-03-28: "
        "offline, unknown symbol, or no sessions in range"
    )


def test_building_the_parser_imports_no_data_libraries() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from xmtrade.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('yfinance', 'exchange_calendars', 'data_feeds.yahoo') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
