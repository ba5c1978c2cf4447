"""The last bad inputs a user can produce, and their families: each is one line naming the file
and the key (or the option), exit code 2, no traceback, and a refused command leaves nothing
behind (no run folder, no sweep folder, no ledger)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from xmtrade.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, shared_prices_csv: Path) -> Path:
    data_dir = tmp_path_factory.mktemp("bad_inputs_home")
    assert main(["data", "import", str(shared_prices_csv), "--data-dir", str(data_dir)]) == 0
    return data_dir


def fails(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the CLI expecting a user error; return its one line without the prefix."""
    capsys.readouterr()
    code = main(list(args))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("xmtrade: error: ")
    return lines[0].removeprefix("xmtrade: error: ")


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        # YAML reads an unquoted 17:15 as the number 1035 (base 60)
        ("fundamentals:\n  decision_time: 17:15\n", "fundamentals.decision_time", "in quotes"),
        ("signals: {rsi: {oversold: true}}\n", "signals.rsi.oversold", "expected a number"),
        ('signals: {rsi: {period: "14"}}\n', "signals.rsi.period", "without quotes"),
        ("exits: {trailing_stop: 1}\n", "exits.trailing_stop", "expected true or false"),
        ("instrument: {board_lot: 200.5}\n", "instrument.board_lot", "whole number"),
        ("stages: {max_stage: '2'}\n", "stages.max_stage", "expected 1, 2 or 3"),
        ("signals: 5\n", "signals", "expected a mapping of keys"),
        ("signals: {rsi: [14]}\n", "signals.rsi", "expected a mapping of keys"),
        ("market: {tick_tables: 3}\n", "market.tick_tables", "expected a list"),
        ("instrument: {symbol: '18 10.HK'}\n", "instrument.symbol", "expected a ticker"),
    ],
)
def test_config_values_are_strict_and_name_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, expected: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    line = fails(capsys, "config", "validate", "-c", str(bad))
    assert line.startswith(f"{bad}: {key}: "), line
    assert expected in line
    for leak in ("Config", "Input should", "instance of"):  # no pydantic words or classes
        assert leak not in line


def test_a_quoted_decision_time_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text('fundamentals:\n  decision_time: "17:15"\n')
    assert main(["config", "validate", "-c", str(good)]) == 0


@pytest.mark.slow
def test_values_checked_against_the_data_name_the_config_file(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    late = tmp_path / "late.yaml"
    late.write_text("backtest:\n  start: 2030-01-02\n")
    out = tmp_path / "run"
    line = fails(capsys, "backtest", "--data-dir", str(home), "-c", str(late), "--out", str(out))
    assert line.startswith(f"{late}: backtest.start: no bars on or after 2030-01-02")
    assert not out.exists()
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())

    calendar = tmp_path / "calendar.yaml"
    calendar.write_text("market:\n  calendar: NOPE\n")
    line = fails(capsys, "data", "check", "--data-dir", str(home), "-c", str(calendar))
    assert line.startswith(f"{calendar}: market.calendar: unknown exchange_calendars code")
    assert line.endswith("got 'NOPE'")


@pytest.mark.parametrize("verb", ["backtest", "sweep", "walkforward"])
def test_an_empty_out_is_refused(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str
) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("signals.rsi.oversold: [30, 35]\n")
    extra = {
        "backtest": [],
        "sweep": ["--grid", str(grid)],
        "walkforward": ["--grid", str(grid), "--train", "3y", "--test", "1y"],
    }[verb]
    line = fails(capsys, verb, "--data-dir", str(home), *extra, "--out", "")
    assert line == "command line: --out: expected a folder, got ''"
    assert not (home / "runs").exists() and not (home / "sweeps").exists()
    assert not (home / "walkforward").exists()


@pytest.mark.parametrize(
    "spec",
    [
        "{range: [0, 1, 0.000000000001]}",
        "{range: [0, 1000000000000000]}",
        "{range: [1, 2, 1.0e-300]}",
    ],
)
def test_a_huge_range_is_refused_by_counting(tmp_path: Path, spec: str) -> None:
    import yaml

    from xmtrade.errors import ConfigError
    from xmtrade.sweep.grid import parse_grid

    began = time.monotonic()
    with pytest.raises(ConfigError) as err:
        parse_grid({"signals.rsi.oversold": yaml.safe_load(spec)}, "grid.yaml", 10_000)
    assert time.monotonic() - began < 1.0  # counted, never built
    line = err.value.line()
    assert line.startswith("grid.yaml: signals.rsi.oversold.range: ")
    assert "is more than sweep.max_combinations (10,000)" in line


def test_an_infinite_range_bound_is_refused() -> None:
    from xmtrade.errors import ConfigError
    from xmtrade.sweep.grid import parse_grid

    with pytest.raises(ConfigError, match="expected finite numbers"):
        parse_grid({"stop.lookback": {"range": [1, float("inf")]}}, "grid.yaml", 100)


SHARED_HEAD = 6  # header and five bars of the shared file


def price_lines(shared_prices_csv: Path) -> list[str]:
    return shared_prices_csv.read_text().splitlines()[:SHARED_HEAD]


def test_an_infinite_price_is_an_error_on_import_and_in_check(
    tmp_path: Path, shared_prices_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = price_lines(shared_prices_csv)
    header = lines[0].split(",")
    cells = lines[3].split(",")
    cells[header.index("high")] = "inf"
    lines[3] = ",".join(cells)
    csv = tmp_path / "inf.csv"
    csv.write_text("\n".join(lines) + "\n")
    home = tmp_path / "home"
    capsys.readouterr()
    assert main(["data", "import", str(csv), "--data-dir", str(home)]) == 2
    err = capsys.readouterr().err
    assert "bad_price: high inf: expected a positive, finite price" in err
    assert not (home / "prices").exists() or not any((home / "prices").iterdir())
    assert main(["data", "check", "--file", str(csv), "--data-dir", str(home)]) == 1
    assert "1 error" in capsys.readouterr().out


@pytest.mark.parametrize("second", ["close", "Close", "CLOSE", " close"])
def test_a_price_column_named_twice_is_refused(
    tmp_path: Path, shared_prices_csv: Path, capsys: pytest.CaptureFixture[str], second: str
) -> None:
    lines = price_lines(shared_prices_csv)
    header = lines[0].split(",")
    at = header.index("close")
    out = [",".join([*header, second])]
    out += [f"{line},{line.split(',')[at]}" for line in lines[1:]]
    csv = tmp_path / "twice.csv"
    csv.write_text("\n".join(out) + "\n")
    line = fails(capsys, "data", "import", str(csv), "--data-dir", str(tmp_path / "home"))
    assert line == f"{csv}: header: column 'close' appears twice"
    assert not (tmp_path / "home" / "prices" / "1810.HK.csv").exists()


def test_a_tab_delimited_file_says_so(
    tmp_path: Path, shared_prices_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "tabs.csv"
    csv.write_text("\n".join(x.replace(",", "\t") for x in price_lines(shared_prices_csv)))
    line = fails(capsys, "data", "import", str(csv), "--data-dir", str(tmp_path / "home"))
    assert (
        line
        == f"{csv}: header: fields are separated by tabs (a tab-delimited file), expected commas"
    )


def test_fetch_dates_outside_the_calendar_name_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = fails(capsys, "data", "fetch", "--end", "2030-01-01", "--data-dir", str(tmp_path))
    assert line.startswith("command line: --end: 2030-01-01 is outside the XHKG calendar's")


def test_a_refused_sweep_leaves_no_folder(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A facts file that cannot be read is found after the output folder is reserved."""
    facts = tmp_path / "facts.csv"
    facts.write_text("not,a,facts,file\n1,2,3,4\n")
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"fundamentals.file: [{facts}]\nsignals.rsi.oversold: [30, 35]\n")
    capsys.readouterr()
    code = main(["sweep", "--data-dir", str(home), "--grid", str(grid), "--jobs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert not (home / "sweeps").exists() or not any((home / "sweeps").iterdir()), err


@pytest.mark.slow
def test_a_refused_paper_init_leaves_no_ledger(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Offline, prices that end before the account's start: refused after the ledger was
    opened; no paper.sqlite is left."""
    data_dir = tmp_path / "paper_home"
    (data_dir / "prices").mkdir(parents=True)
    cached = home / "prices" / "1810.HK.csv"
    (data_dir / "prices" / "1810.HK.csv").write_bytes(cached.read_bytes())
    line = fails(
        capsys,
        "paper",
        "init",
        "--data-dir",
        str(data_dir),
        "--offline",
        "--start",
        "2026-06-01",
    )
    assert "the prices end at" in line
    assert not (data_dir / "paper.sqlite").exists()
