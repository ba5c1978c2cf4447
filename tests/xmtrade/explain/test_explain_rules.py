"""On hand-built prices where a rule's effect is known, the variant table shows it: a gate
that blocks a losing add, a breaker that saves a fall; and rules that never act give rows
identical to the plan."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from worlds import sessions, write_facts, write_prices

from xmtrade.cli import main
from xmtrade.config import load_config, session_calendar


def _row(doc: dict[str, Any], name: str, span: str = "whole window") -> dict[str, Any]:
    rows = next(s for s in doc["spans"] if s["name"] == span)["rows"]
    return next(r for r in rows if r["name"] == name)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A data directory with the prices of a world: a rise, a fall that makes oversold
    entries stopped out one after another, a stage-1 trade held over the 2025Q1 report, then
    a sharp fall that stops it and any add out; and a folder with a facts file whose EV gross
    margin (15%) fails the gate on every report."""
    folder = tmp_path_factory.mktemp("explain_world")
    days = sessions(session_calendar(load_config()))
    closes, price = [], 20.0
    for n, day in enumerate(days):
        if day < date(2025, 4, 1):
            price *= 1.0005 if n % 2 else 0.9997
        elif day < date(2025, 4, 14):
            price *= 0.975
        elif day < date(2025, 6, 3):
            price *= 1.001
        elif day < date(2025, 6, 17):
            price *= 0.96
        else:
            price *= 1.0002 if n % 2 else 0.9999
        closes.append(price)
    prices = write_prices(folder / "prices.csv", days, closes)
    write_facts(folder / "facts_fail.csv", ev_gross_margin=15)
    home = folder / "home"
    assert main(["data", "import", str(prices), "--data-dir", str(home)]) == 0
    return home, folder


def test_a_gate_that_blocks_a_losing_add(
    world: tuple[Path, Path], explained: Callable[[list[str]], dict[str, Any]]
) -> None:
    home, folder = world
    overlay = folder / "gate.yaml"
    overlay.write_text(
        "fundamentals: {file: facts_fail.csv, stale_after_days: 400}\n"
        "stages: {add_on: announcement}\n"
        "risk: {rules: [], drawdown_breaker: null}\n",
        encoding="utf-8",
    )
    doc = explained(
        ["--data-dir", str(home), "-c", str(overlay), "--start", "2025-01-02",
         "--end", "2025-08-15", "--out", str(folder / "gate-out"), "--resamples", "200",
         "--report", "none", "--jobs", "1"]
    )  # fmt: skip
    gate = _row(doc, "no_gate")["diff_to_plan"]
    assert gate["diff"] < 0  # without the gate: the losing add
    assert gate["low"] <= gate["diff"] <= gate["high"]
    sentence = next(s for s in doc["summary"] if s.startswith("the fundamental gate"))
    assert "removed 1 losing stage-2 add" in sentence, sentence
    # the world has no risk line and no breaker to switch off: those rows are the plan's
    for name in ("no_risk_lines", "no_breaker"):
        assert _row(doc, name)["diff_to_plan"]["identical"] is True
    # rows are backtrader's, checked against the kernel
    assert {v["engine"] for v in doc["variants"]} == {"kernel = backtrader"}
    assert doc["seed"] == 0 and doc["resamples"] == 200


def test_a_breaker_that_saves_a_fall(
    world: tuple[Path, Path], explained: Callable[[list[str]], dict[str, Any]]
) -> None:
    home, folder = world
    overlay = folder / "breaker.yaml"
    overlay.write_text(
        "fundamentals: {file: facts_fail.csv, stale_after_days: 400}\n"
        "risk: {rules: [], drawdown_breaker: {max_drawdown_pct: 0.3, cooldown_sessions: 250,"
        " basis: nav}}\n"
        "allow_small_percent: [risk.drawdown_breaker.max_drawdown_pct]\n",
        encoding="utf-8",
    )
    doc = explained(
        ["--data-dir", str(home), "-c", str(overlay), "--start", "2025-01-02",
         "--end", "2025-06-20", "--out", str(folder / "breaker-out"), "--resamples", "200",
         "--report", "none", "--jobs", "1"]
    )  # fmt: skip
    breaker = _row(doc, "no_breaker")
    plan = _row(doc, "plan")
    assert breaker["diff_to_plan"]["diff"] < 0  # without the breaker: the whole fall
    assert breaker["trades"] > plan["trades"]
    assert breaker["max_drawdown"] < plan["max_drawdown"]
    sentence = next(s for s in doc["summary"] if s.startswith("the drawdown breaker"))
    pattern = r"removed \d+ stage-1 trades \(\d+ losing.*\), P&L .*−HK\$"
    assert re.search(pattern, sentence), sentence
    # by year: the whole difference is in 2025
    assert _row(doc, "no_breaker", "2025")["diff_to_plan"]["diff"] == pytest.approx(
        breaker["diff_to_plan"]["diff"]
    )
    # zero costs always helps a run that trades the same
    assert _row(doc, "zero_costs")["diff_to_plan"]["diff"] > 0


def test_a_variant_the_kernel_cannot_mirror_runs_in_backtrader_and_says_so(
    world: tuple[Path, Path], explained: Callable[[list[str]], dict[str, Any]]
) -> None:
    home, folder = world
    overlay = folder / "plain.yaml"
    overlay.write_text("fundamentals: {file: facts_fail.csv, stale_after_days: 400}\n")
    variants = folder / "variants.yaml"
    variants.write_text(
        "variants:\n  odd_commission:\n    label: commission 0.03000005%\n"
        "    overrides: {costs.commission_pct: 0.03000005}\n",
        encoding="utf-8",
    )
    doc = explained(
        ["--data-dir", str(home), "-c", str(overlay), "--start", "2025-01-02",
         "--end", "2025-06-20", "--out", str(folder / "odd-out"), "--resamples", "100",
         "--report", "none", "--jobs", "1", "--variants", str(variants)]
    )  # fmt: skip
    engines = {v["name"]: v["engine"] for v in doc["variants"]}
    assert engines["odd_commission"].startswith("backtrader only: the kernel does not mirror")
    assert engines["no_gate"] == "kernel = backtrader"
    assert _row(doc, "odd_commission")["trades"] > 0


def test_a_kernel_difference_stops_the_explanation(
    world: tuple[Path, Path],
    fails: Callable[[list[str]], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import xmtrade.kernel.screen as screen

    home, folder = world
    monkeypatch.setattr(
        screen, "first_difference", lambda run, result: "first differing session 2025-01-02"
    )
    out = folder / "mismatch-out"
    line = fails(
        ["explain", "--data-dir", str(home), "--start", "2025-01-02", "--end", "2025-03-31",
         "--out", str(out), "--resamples", "100", "--jobs", "1", "--no-progress"]
    )  # fmt: skip
    assert "kernel and backtrader differ: first differing session 2025-01-02" in line
    assert "the explanation is stopped" in line
    assert not out.exists()
