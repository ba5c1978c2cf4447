"""The reference backtests on ../shared/data/1810.HK.csv, run through the CLI as a user would,
with every statistic of summary.json pinned: the full strategy with the packaged defaults, and
the tactical stage alone (configs/stage1_only.yaml). A change to any rule, rate or default that
moves a number fails here; re-pin only after checking the change is intended."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from xmtrade.cli import main

REPO = Path(__file__).resolve().parents[2]

FULL_STRATEGY: dict[str, Any] = {
    "symbol": "1810.HK",
    "start": "2018-07-09",
    "end": "2026-03-26",
    "sessions": 1900,
    "initial_nav": 1000000.0,
    "final_nav": 991363.5,
    "total_return": -0.008637,
    "cagr": -0.001124,
    "annual_volatility": 0.012417,
    "sharpe": -0.086449,
    "sortino": -0.127146,
    "max_drawdown": -0.037119,
    "calmar": -0.030282,
    "n_trades": 46,
    "open_tranches": 2,
    "win_rate": 0.304348,
    "profit_factor": 0.861891,
    "exposure": 0.223158,
    "exits_by_reason": {"line1_exit": 1, "rsi_overbought": 3, "stop": 37, "trailing_stop": 5},
    "fees_paid": {
        "total": 7458.5,
        "by_kind": {
            "stamp_duty": 5385.0,
            "sfc_levy": 130.81,
            "afrc_levy": 4.05,
            "trading_fee": 285.74,
            "settlement_fee": 199.44,
            "commission": 1453.46,
        },
    },
    "cap_breaches": 0,
    "tranches_by_stage": {"1": 40, "2": 5, "3": 3},
    "sessions_by_stage": {"0": 1476, "1": 365, "2": 18, "3": 41},
    "line_alarms": {
        "line1": {"alarms": 1, "sessions_in_alarm": 39, "sessions_unknown": 93},
        "line2": {"alarms": 1, "sessions_in_alarm": 241, "sessions_unknown": 1164},
        "line3": {"alarms": 2, "sessions_in_alarm": 272, "sessions_unknown": 345},
    },
    "stale_decisions": 14,
    "last_report": {
        "period": "2025Q3",
        "announced": "2025-11-18",
        "age_days_at_end": 128,
        "stale": True,
    },
    "benchmark_total_return": 0.930952,
    "benchmark_max_drawdown": -0.760623,
    "config_hash": "d8ab3383302878f4",
}

STAGE_ONE_ONLY: dict[str, Any] = {
    "symbol": "1810.HK",
    "start": "2018-07-09",
    "end": "2026-03-26",
    "sessions": 1900,
    "initial_nav": 1000000.0,
    "final_nav": 1048058.41,
    "total_return": 0.048058,
    "cagr": 0.006105,
    "annual_volatility": 0.013748,
    "sharpe": 0.459721,
    "sortino": 0.767971,
    "max_drawdown": -0.027978,
    "calmar": 0.218195,
    "n_trades": 53,
    "open_tranches": 1,
    "win_rate": 0.301887,
    "profit_factor": 1.739953,
    "exposure": 0.295263,
    "exits_by_reason": {"rsi_overbought": 5, "stop": 41, "trailing_stop": 7},
    "fees_paid": {
        "total": 8265.59,
        "by_kind": {
            "stamp_duty": 6006.0,
            "sfc_levy": 142.54,
            "afrc_levy": 4.69,
            "trading_fee": 312.41,
            "settlement_fee": 216.05,
            "commission": 1583.9,
        },
    },
    "cap_breaches": 0,
    "tranches_by_stage": {"1": 54},
    "sessions_by_stage": {"0": 1339, "1": 561, "2": 0, "3": 0},
    "line_alarms": {},
    "stale_decisions": 0,
    "last_report": {
        "period": "2025Q3",
        "announced": "2025-11-18",
        "age_days_at_end": 128,
        "stale": True,
    },
    "benchmark_total_return": 0.930952,
    "benchmark_max_drawdown": -0.760623,
    "config_hash": "75ab896f4c1a2d6d",
}


def flat(summary: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested statistics as one level of dotted keys (pytest.approx takes no nesting)."""
    out: dict[str, Any] = {}
    for key, value in summary.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def assert_pinned(summary: dict[str, Any], pinned: dict[str, Any]) -> None:
    # the fuller `statistics` section is checked in tests/xmtrade/reports (pinned later)
    summary = {k: v for k, v in summary.items() if k != "statistics"}
    got, want = flat(summary), flat(pinned)
    assert sorted(got) == sorted(want)
    numbers = {k for k, v in want.items() if isinstance(v, float)}
    assert {k: got[k] for k in numbers} == pytest.approx({k: want[k] for k in numbers}, abs=1e-6)
    assert {k: got[k] for k in want if k not in numbers} == {
        k: v for k, v in want.items() if k not in numbers
    }


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, shared_prices_csv: Path) -> Path:
    data_dir = tmp_path_factory.mktemp("reference_home")
    assert main(["data", "import", str(shared_prices_csv), "--data-dir", str(data_dir)]) == 0
    return data_dir


def run_summary(home: Path, out: Path, *configs: str) -> dict[str, Any]:
    layers = [arg for c in configs for arg in ("-c", str(REPO / c))]
    assert main(["backtest", "--data-dir", str(home), "--out", str(out), *layers]) == 0
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    summary.pop("xmtrade_version")
    return summary


@pytest.mark.slow
def test_full_strategy_reference(home: Path, tmp_path: Path) -> None:
    assert_pinned(run_summary(home, tmp_path / "full"), FULL_STRATEGY)


@pytest.mark.slow
def test_stage_one_only_reference(home: Path, tmp_path: Path) -> None:
    summary = run_summary(home, tmp_path / "s1", "configs/stage1_only.yaml")
    assert_pinned(summary, STAGE_ONE_ONLY)
