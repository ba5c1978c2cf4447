"""`xmtrade explain` on the shared history: the rows are those of independent backtests, every
span is there, the folder is complete, and the same seed gives the same intervals."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from data_feeds.bars import read_price_csv
from xmtrade.backtest import run_backtest
from xmtrade.config import load_config, session_calendar
from xmtrade.explain.output import EXPLAIN_FILES
from xmtrade.reports.figures import sweep_figures

pytestmark = pytest.mark.slow


def _doc(folder: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((folder / "explain.json").read_text(encoding="utf-8"))
    return result


def test_the_rows_are_independent_backtests(
    real_explanation: Path, shared_prices_csv: Path, tmp_path: Path
) -> None:
    doc = _doc(real_explanation)
    whole = doc["spans"][0]
    assert whole["name"] == "whole window" and whole["sessions"] == 1900
    rows = {r["name"]: r for r in whole["rows"]}
    assert list(rows) == ["plan", "no_gate", "no_risk_lines", "no_ps_ceiling", "no_breaker",
                          "no_trailing_stop", "rsi_only", "divergence_only", "stage1_only",
                          "gap_keep", "zero_costs"]  # fmt: skip
    bars = read_price_csv(shared_prices_csv)
    overlay = tmp_path / "lines.yaml"
    overlay.write_text("risk:\n  rules: []\n", encoding="utf-8")
    for name, files in (("plan", []), ("no_risk_lines", [overlay])):
        cfg = load_config(files)
        figures = sweep_figures(run_backtest(cfg, bars, session_calendar(cfg)))
        assert rows[name]["total_return"] == pytest.approx(figures["total_return"], abs=1e-6)
        assert rows[name]["fees"] == pytest.approx(figures["fees_paid"]["total"], abs=0.01)
    plan = rows["plan"]["total_return"]
    lines = rows["no_risk_lines"]["total_return"]
    assert rows["no_risk_lines"]["diff_to_plan"]["diff"] == pytest.approx(
        (1 + lines) - (1 + plan), abs=1e-6
    )
    # every row has its interval and block length, or is identical to the plan
    for row in whole["rows"][1:]:
        diff = row["diff_to_plan"]
        if diff["identical"]:
            assert diff["diff"] == 0 and diff["low"] is None
        else:
            assert diff["low"] <= diff["diff"] <= diff["high"]
            assert diff["block_length"] >= 1
    assert rows["zero_costs"]["fees"] == 0
    bench = doc["buy_and_hold_at_average_weight"]
    assert 0 < bench["average_weight"] < 0.05
    assert doc["deflated_sharpe"]["trials"] == 11
    assert {v["engine"] for v in doc["variants"]} == {"kernel = backtrader"}
    assert doc["seed"] == 0 and doc["resamples"] == 1000


def test_every_year_and_regime_is_a_table(real_explanation: Path) -> None:
    doc = _doc(real_explanation)
    names = [s["name"] for s in doc["spans"]]
    assert names == ["whole window", *map(str, range(2018, 2027)), "2021-2022 fall",
                     "2024 rally"]  # fmt: skip
    fall = doc["spans"][-2]
    assert fall["start"] == "2021-02-18" and fall["end"] == "2022-10-31"
    assert all(len(s["rows"]) == 11 for s in doc["spans"])
    # the years chain into the whole window
    plan_years = [s["rows"][0]["total_return"] for s in doc["spans"][1:10]]
    growth = 1.0
    for value in plan_years:
        growth *= 1 + value
    assert growth - 1 == pytest.approx(doc["spans"][0]["rows"][0]["total_return"], abs=1e-6)


def test_the_folder_is_complete(real_explanation: Path) -> None:
    assert {p.name for p in real_explanation.iterdir()} == EXPLAIN_FILES
    with (real_explanation / "equity.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:3] == ["date", "plan", "no_gate"] and len(rows) == 1901
    plan_return = _doc(real_explanation)["spans"][0]["rows"][0]["total_return"]
    assert float(rows[-1][1]) == pytest.approx(1e6 * (1 + plan_return), abs=0.01)
    page = (real_explanation / "explain.html").read_text(encoding="utf-8")
    assert "contribution-plot" in page and "years-plot" in page and "regimes-plot" in page
    # the plotting script once per folder, beside the page: offline, and the page stays light
    assert '<script src="plotly.min.js"' in page
    assert (real_explanation / "plotly.min.js").stat().st_size > 1_000_000
    assert len(page.encode()) < 1_000_000


def test_the_same_seed_reproduces_the_intervals(real_explanation: Path) -> None:
    from xmtrade.explain.statistics import generator, paired_interval

    doc = _doc(real_explanation)
    with (real_explanation / "equity.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    names = rows[0][1:]
    import numpy as np

    nav = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    previous = np.vstack([np.full(len(names), 1_000_000.0), nav[:-1]])
    returns = nav / previous - 1
    plan, lines = returns[:, 0], returns[:, names.index("no_risk_lines")]
    again = paired_interval(lines, plan, 1000, generator(0, "no_risk_lines", "whole window"))
    row = next(r for r in doc["spans"][0]["rows"] if r["name"] == "no_risk_lines")
    # the NAV in equity.csv is rounded to the cent: the interval agrees to a hundredth of a pp
    assert again.low == pytest.approx(row["diff_to_plan"]["low"], abs=1e-4)
    assert again.high == pytest.approx(row["diff_to_plan"]["high"], abs=1e-4)
