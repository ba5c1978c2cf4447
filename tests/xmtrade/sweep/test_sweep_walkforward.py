"""Walk-forward windows on the real HKEX sessions: a test span starts the session after its
training span ends and never touches it; spans are contiguous; bad lengths are one line."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from xmtrade.cli import main
from xmtrade.errors import ConfigError
from xmtrade.sweep.windows import Span, make_windows, parse_span


@pytest.fixture(scope="module")
def sessions(real_bars: pd.DataFrame) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(real_bars.index)


@pytest.mark.parametrize("anchored", [False, True])
@pytest.mark.parametrize(("train", "test"), [("3y", "1y"), ("2y", "6m"), ("18m", "26w")])
def test_test_spans_never_touch_their_training_spans(
    sessions: pd.DatetimeIndex, train: str, test: str, anchored: bool
) -> None:
    windows = make_windows(
        sessions, parse_span(train, "--train"), parse_span(test, "--test"), anchored
    )
    assert len(windows) >= 2
    position = {ts.date(): n for n, ts in enumerate(sessions)}
    for w in windows:
        assert w.train_start <= w.train_end < w.test_start <= w.test_end
        # the test span starts at the very next session after the training span
        assert position[w.test_start] == position[w.train_end] + 1
        train_days = set(
            sessions[
                (sessions >= pd.Timestamp(w.train_start)) & (sessions <= pd.Timestamp(w.train_end))
            ]
        )
        test_days = set(
            sessions[
                (sessions >= pd.Timestamp(w.test_start)) & (sessions <= pd.Timestamp(w.test_end))
            ]
        )
        assert train_days and test_days and not train_days & test_days
        if anchored:
            assert w.train_start == sessions[0].date()
    for before, after in itertools.pairwise(windows):
        assert position[after.test_start] == position[before.test_end] + 1  # contiguous
        assert not before.partial
    assert windows[0].train_start == sessions[0].date()
    assert windows[-1].test_end <= sessions[-1].date()
    assert windows[-1].partial == (windows[-1].test_end == sessions[-1].date())


def test_rolling_training_spans_move_by_the_test_length(sessions: pd.DatetimeIndex) -> None:
    windows = make_windows(sessions, Span(3, "y"), Span(1, "y"), anchored=False)
    assert [w.train_start.isoformat() for w in windows[:3]] == [
        "2018-07-09",
        "2019-07-09",
        "2020-07-09",
    ]
    assert [w.test_start.isoformat() for w in windows[:2]] == ["2021-07-09", "2022-07-11"]


def test_windows_longer_than_the_data_are_refused(sessions: pd.DatetimeIndex) -> None:
    with pytest.raises(ConfigError) as caught:
        make_windows(sessions, Span(7, "y"), Span(1, "y"), anchored=False)
    assert caught.value.line() == (
        "--train/--test: train 7y + test 1y is longer than the data; the data covers "
        "2018-07-09 to 2026-03-26 (1900 sessions)"
    )
    with pytest.raises(ConfigError, match="longer than the data"):
        make_windows(sessions, Span(9, "y"), Span(1, "y"), anchored=True)


@pytest.mark.parametrize("text", ["3", "y", "0y", "3x", "-1y", "1.5y", ""])
def test_bad_span_lengths(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_span(text, "--train")
    assert caught.value.line().startswith("command line: --train: expected a length like 3y")


def test_span_units() -> None:
    assert [str(parse_span(t, "--test")) for t in ("3y", "18m", "26w", "90d", " 2Y ".lower())] == [
        "3y",
        "18m",
        "26w",
        "90d",
        "2y",
    ]


@pytest.mark.slow
def test_walkforward_end_to_end(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("signals.rsi.oversold: [25, 35]\nexits.rsi_overbought: [65, 75]\n")
    out = tmp_path / "wf"
    args = [
        "walkforward",
        "--data-dir",
        str(home),
        "--grid",
        str(grid),
        "--train",
        "2y",
        "--test",
        "1y",
        "--start",
        "2019-01-02",
        "--end",
        "2022-12-30",
        "--min-trades",
        "1",
        "--jobs",
        "1",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "out of sample (stitched) 2021-01-04 .. 2022-12-30" in printed
    assert {p.name for p in out.iterdir()} >= {
        "walkforward.json",
        "windows.csv",
        "oos_equity.csv",
        "walkforward.png",
        "report.html",
        "train",
    }
    windows = pd.read_csv(out / "windows.csv")
    assert list(windows["test_start"]) == ["2021-01-04", "2022-01-03"]
    assert list(windows["train_end"]) == ["2020-12-31", "2021-12-31"]
    equity = pd.read_csv(out / "oos_equity.csv", parse_dates=["date"])
    assert equity["date"].iloc[0] == pd.Timestamp("2021-01-04")
    assert equity["date"].is_monotonic_increasing and equity["date"].is_unique
    # the stitched curve compounds each test span's returns from the initial NAV
    nav = 1_000_000 * (1 + equity["return"]).cumprod()
    assert nav.iloc[-1] == pytest.approx(equity["nav"].iloc[-1], rel=1e-8)
    report = json.loads((out / "walkforward.json").read_text())
    assert report["status"] == "finished"
    for window in report["per_window"]:
        if window["chosen"] is not None:
            assert window["in_sample"]["n_trades"] >= 1
            assert window["out_of_sample"] is not None
    assert len(list((out / "train").iterdir())) == 2


def test_walkforward_too_long_for_the_data_is_one_line(
    home: Path, tmp_path: Path, fails: Callable[[list[str]], str]
) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("signals.rsi.oversold: [25, 35]\n")
    line = fails(
        [
            "walkforward",
            "--data-dir",
            str(home),
            "--grid",
            str(grid),
            "--train",
            "6y",
            "--test",
            "2y",
            "--out",
            str(tmp_path / "wf"),
        ]
    )
    assert line.startswith("--train/--test: train 6y + test 2y is longer than the data")
    assert not (tmp_path / "wf").exists()


@pytest.mark.parametrize(
    ("option", "text"), [("--train", "99999999y"), ("--test", "1201m"), ("--train", "40000d")]
)
def test_spans_beyond_a_hundred_years_are_refused(option: str, text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_span(text, option)
    assert caught.value.line().startswith(f"command line: {option}: {text} is longer than 100")
    assert parse_span("100y", option).count == 100


def test_a_huge_train_span_is_one_line(
    home: Path, tmp_path: Path, fails: Callable[[list[str]], str]
) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("signals.rsi.oversold: [25, 35]\n")
    args = ["walkforward", "--data-dir", str(home), "--grid", str(grid)]
    line = fails([*args, "--train", "99999999y", "--test", "1y", "--out", str(tmp_path / "wf")])
    assert line.startswith("command line: --train: 99999999y is longer than 100 years")
    assert not (tmp_path / "wf").exists()


def test_test_spans_without_a_session_are_skipped(sessions: pd.DatetimeIndex) -> None:
    # the data starts on a Monday: with 1w + 1d the sixth test span is a Saturday
    assert sessions[0].day_of_week == 0
    windows = make_windows(sessions, Span(1, "w"), Span(1, "d"), anchored=False)
    after = sessions[sessions >= sessions[0] + pd.DateOffset(weeks=1)]
    assert [w.test_start for w in windows] == [ts.date() for ts in after]
    assert [w.number for w in windows] == list(range(1, len(after) + 1))
    assert windows[-1].test_end == sessions[-1].date()
    assert all(w.test_start == w.test_end for w in windows)


@pytest.mark.slow
def test_an_interrupted_walkforward_names_its_tables_partial(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from xmtrade.sweep import work

    real = work.run_one
    calls = []

    def interrupt(shared: work.SharedData, task: work.Task) -> work.Outcome:
        calls.append(task)
        if len(calls) > 3:  # 3 of the 4 training runs finish, then Ctrl-C
            raise KeyboardInterrupt
        return real(shared, task)

    monkeypatch.setattr(work, "run_one", interrupt)
    grid = tmp_path / "grid.yaml"
    grid.write_text("signals.rsi.oversold: [25, 35]\n")
    out = tmp_path / "wf"
    args = ["walkforward", "--data-dir", str(home), "--grid", str(grid), "--jobs", "1"]
    args += ["--train", "2y", "--test", "1y", "--start", "2019-01-02", "--end", "2022-12-30"]
    args += ["--engine", "backtrader"]  # Ctrl-C through `work.run_one`, the backtrader path
    assert main([*args, "--min-trades", "0", "--out", str(out), "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert "windows.partial.csv and oos_equity.partial.csv" in err
    names = {p.name for p in out.iterdir()}
    assert {"windows.partial.csv", "oos_equity.partial.csv", "walkforward.json"} <= names
    assert not names & {
        "windows.csv",
        "oos_equity.csv",
        "walkforward.png",
        "report.html",
        "plotly.min.js",
    }
    assert json.loads((out / "walkforward.json").read_text())["status"] == "interrupted"


def _walk(home: Path, tmp_path: Path, name: str, *extra: str) -> dict[str, Any]:
    grid = tmp_path / "grid.yaml"
    grid.write_text("signals.rsi.oversold: [25, 35]\nexits.rsi_overbought: [65, 75]\n")
    out = tmp_path / name
    args = ["walkforward", "--data-dir", str(home), "--grid", str(grid), "--train", "2y"]
    args += ["--test", "1y", "--start", "2019-01-02", "--end", "2022-12-30", "--min-trades", "1"]
    assert main([*args, "--jobs", "1", "--out", str(out), "--no-progress", *extra]) == 0
    report: dict[str, Any] = json.loads((out / "walkforward.json").read_text())
    report["windows_csv"] = pd.read_csv(out / "windows.csv", keep_default_na=False)
    return report


@pytest.mark.slow
def test_a_window_below_the_sharpe_floor_stays_in_cash(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    free = _walk(home, tmp_path, "free", "--min-train-sharpe", "none")
    assert free["min_train_sharpe"] is None and free["overall"]["windows_below_sharpe_floor"] == 0
    sharpes = [w["in_sample"]["sharpe"] for w in free["per_window"] if w["in_sample"]]
    floor = max(sharpes) + 0.01  # above every winner: every window stays in cash
    capsys.readouterr()
    held = _walk(home, tmp_path, "held", "--min-train-sharpe", str(floor))
    printed = capsys.readouterr().out
    assert held["min_train_sharpe"] == floor
    assert all(w["chosen"] is None and w["refused"] for w in held["per_window"])
    assert held["overall"]["windows_below_sharpe_floor"] == len(sharpes)
    assert held["overall"]["out_of_sample"]["total_return"] == 0
    notes = list(held["windows_csv"]["note"])
    assert all(f"below the floor {floor:g}: stayed in cash" in n for n in notes), notes
    assert "window(s) left in cash: best in-sample Sharpe below --min-train-sharpe" in printed


@pytest.mark.slow
def test_efficiency_only_over_a_positive_in_sample_cagr(home: Path, tmp_path: Path) -> None:
    report = _walk(home, tmp_path, "wf", "--min-train-sharpe", "none")
    overall = report["overall"]
    in_cagr = overall["in_sample"]["mean_window_cagr"]
    if in_cagr is not None and in_cagr <= 0:
        assert overall["walk_forward_efficiency"] is None
        assert overall["walk_forward_efficiency_note"] == "n/a: in-sample CAGR ≤ 0"
    else:
        assert overall["walk_forward_efficiency_note"] is None
        assert overall["walk_forward_efficiency"] == pytest.approx(
            overall["out_of_sample"]["cagr"] / in_cagr, rel=1e-3
        )
    assert "stitched" in overall["figures_from"]["out_of_sample"]


def test_efficiency_of_two_losses_is_not_a_number() -> None:
    from xmtrade.sweep.walkforward import walk_forward_efficiency

    # the case of the issue: -0.42% out of sample over -0.0226% in sample read as 18.57
    assert walk_forward_efficiency(-0.0042, -0.000226) == (None, "n/a: in-sample CAGR ≤ 0")
    assert walk_forward_efficiency(0.05, 0.0) == (None, "n/a: in-sample CAGR ≤ 0")
    assert walk_forward_efficiency(0.02, 0.08) == (0.25, None)
    assert walk_forward_efficiency(-0.02, 0.08) == (-0.25, None)
    assert walk_forward_efficiency(None, None) == (None, None)


def test_the_sharpe_floor_rule() -> None:
    from xmtrade.sweep.runner import Row
    from xmtrade.sweep.walkforward import below_floor

    row = Row(0, {}, {"sharpe": -0.47}, None, None, None, 0.0)
    assert below_floor(row, 0.0) and not below_floor(row, None) and not below_floor(row, -1)


def test_a_bad_sharpe_floor_is_one_line(
    home: Path, tmp_path: Path, fails: Callable[[list[str]], str]
) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("signals.rsi.oversold: [25, 35]\n")
    args = ["walkforward", "--data-dir", str(home), "--grid", str(grid), "--train", "2y"]
    line = fails([*args, "--test", "1y", "--min-train-sharpe", "high"])
    assert "--min-train-sharpe" in line and "expected a Sharpe ratio or none" in line
