"""What the report pages hold, read from the files: self-contained, the figures they show
agree with summary.json, each trade's decision record embedded; `compare` and its errors;
`--report` on the sweep verbs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from xmtrade.cli import main

pytestmark = pytest.mark.slow


def page_data(page: Path) -> dict[str, object]:
    text = page.read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text)
    assert found
    data: dict[str, object] = json.loads(found.group(1).replace("<\\/", "</"))
    return data


def light_and_offline(page: Path) -> str:
    """The page's text, after checking it is under 1 MB and reads plotly from its own folder
    (plotly.min.js beside it, the installed plotly's), nothing from the network."""
    from plotly.offline import get_plotlyjs

    text = page.read_text(encoding="utf-8")
    assert page.stat().st_size < 1_000_000, page.stat().st_size
    assert re.findall(r"<script src=\"([^\"]*)\"", text) == ["plotly.min.js"]
    assert "cdn.plot.ly" not in text and "http://" not in text.split("<main>", 1)[0]
    assert (page.parent / "plotly.min.js").read_text(encoding="utf-8") == get_plotlyjs()
    return text


def test_backtest_page_is_light_and_agrees_with_the_summary(backtest_run: Path) -> None:
    page = backtest_run / "report.html"
    text = light_and_offline(page)
    summary = json.loads((backtest_run / "summary.json").read_text())
    assert f"{summary['total_return'] * 100:.2f}%" in text
    assert summary["config_hash"] in text
    trades = pd.read_csv(backtest_run / "trades.csv")
    records = page_data(page)["records"]
    assert isinstance(records, dict)
    assert set(records) == {str(i) for i in trades["id"]}
    first = records[str(trades["id"].iloc[0])]
    assert first["entry"]["action"] == "enter"
    assert first["entry"]["sizing"]["shares"] == trades["shares"].iloc[0]
    longest = summary["statistics"]["drawdowns"]["longest"][0]
    assert f"{longest['days']:,} days" in text


def test_compare_two_configs(
    backtest_run: Path, stage1_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "compare.html"
    assert main(["compare", str(backtest_run), str(stage1_run), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "stages.max_stage" in printed  # the config field stage1_only.yaml changes
    first = json.loads((backtest_run / "summary.json").read_text())
    second = json.loads((stage1_run / "summary.json").read_text())
    change = (second["total_return"] - first["total_return"]) * 100
    assert f"{change:+.2f} pp" in printed
    assert f"{first['total_return'] * 100:.2f}%" in printed
    text = out.read_text(encoding="utf-8")
    assert 'id="compare-equity-plot"' in text and "stages.max_stage" in text
    # running again replaces its own page
    assert main(["compare", str(backtest_run), str(stage1_run), "--out", str(out)]) == 0


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("one", "command line: RUN_DIR: expected two or more run folders"),
        ("not a run", "has no summary.json: not an xmtrade run folder"),
        ("missing", "is not a folder"),
        ("foreign out", "exists and was not written by xmtrade compare"),
    ],
)
def test_compare_bad_input_is_one_line(
    which: str,
    expected: str,
    backtest_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    foreign = tmp_path / "notes.html"
    foreign.write_text("<html>mine</html>")
    args = {
        "one": [str(backtest_run)],
        "not a run": [str(backtest_run), str(tmp_path)],
        "missing": [str(backtest_run), str(tmp_path / "nope")],
        "foreign out": [str(backtest_run), str(backtest_run), "--out", str(foreign)],
    }[which]
    assert main(["compare", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0] and "Traceback" not in err[0]
    assert foreign.read_text() == "<html>mine</html>"


def test_sweep_pages(sweep_two: Path, sweep_three: Path) -> None:
    assert (sweep_two / "heatmap.png").stat().st_size > 0
    two = light_and_offline(sweep_two / "report.html")
    assert 'id="heatmap-plot"' in two and '"zmid":0.0' in two and "default config" in two
    three = light_and_offline(sweep_three / "report.html")
    assert 'id="parcoords-plot"' in three and "parcoords" in three
    assert not (sweep_three / "heatmap.png").exists()  # three fields: no heatmap


def test_walkforward_page_labels_cash_and_no_trades(walkforward_run: Path) -> None:
    windows = pd.read_csv(walkforward_run / "windows.csv")
    text = light_and_offline(walkforward_run / "report.html")
    # the fixture's walk-forward has both kinds of window
    assert windows["chosen"].isna().any()
    assert ((windows["oos_n_trades"] == 0) & windows["chosen"].notna()).any()
    assert "cash" in text and "no trades" in text
    assert 'id="oos-plot"' in text and 'id="timeline-plot"' in text


def test_sweep_report_none_draws_nothing(report_home: Path, tmp_path: Path) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("signals.rsi.oversold: [25, 30]\nstop.lookback: [15, 20]\n")
    out = tmp_path / "out"
    args = ["sweep", "--data-dir", str(report_home), "--grid", str(grid), "--jobs", "1"]
    args += ["--start", "2025-01-02", "--min-trades", "0", "--no-progress", "--report", "none"]
    assert main([*args, "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"results.csv", "best.yaml", "sweep.json"}
