"""The statistics of summary.json recomputed independently: from equity.csv and trades.csv by
hand, with empyrical-reloaded, and against the project's own figures of `figures.summarize`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import empyrical
import numpy as np
import pandas as pd
import pytest

from xmtrade.reports.stats import drawdown_periods, period_returns, series_figures


def read_summary(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return data


def test_drawdown_periods_of_a_made_up_nav() -> None:
    days = pd.bdate_range("2024-01-01", periods=10)
    nav = pd.Series([100, 110, 99, 105, 111, 111, 108, 112, 100, 101], index=days, dtype=float)
    periods = drawdown_periods(nav)
    assert [(p["peak"], p["trough"], p["recovered"]) for p in periods] == [
        ("2024-01-02", "2024-01-03", "2024-01-05"),
        ("2024-01-08", "2024-01-09", "2024-01-10"),
        ("2024-01-10", "2024-01-11", None),
    ]
    assert periods[0]["depth"] == pytest.approx(99 / 110 - 1, abs=1e-6)
    assert periods[0]["sessions"] == 3
    assert periods[0]["days"] == 3
    assert periods[2]["depth"] == pytest.approx(100 / 112 - 1, abs=1e-6)
    assert periods[2]["sessions"] == 2  # still under water at the last session


def test_never_under_water_has_no_drawdown() -> None:
    days = pd.bdate_range("2024-01-01", periods=4)
    assert drawdown_periods(pd.Series([1.0, 1.0, 2.0, 3.0], index=days)) == []


def test_series_figures_match_empyrical() -> None:
    rng = np.random.default_rng(7)
    days = pd.bdate_range("2020-01-01", periods=700)
    returns = pd.Series(rng.normal(0.0004, 0.02, len(days)), index=days)
    per_year, rf = 246.0, 0.02 / 246
    mine = series_figures(returns, rf, per_year)
    years = (days[-1] - days[0]).days / 365.25
    assert mine["cagr"] == pytest.approx((1 + returns).prod() ** (1 / years) - 1, abs=1e-6)
    assert mine["annual_volatility"] == pytest.approx(
        empyrical.annual_volatility(returns, annualization=per_year), abs=1e-6
    )
    assert mine["sharpe"] == pytest.approx(
        empyrical.sharpe_ratio(returns, risk_free=rf, annualization=per_year), abs=1e-5
    )
    assert mine["max_drawdown"] == pytest.approx(empyrical.max_drawdown(returns), abs=1e-6)
    years, months = period_returns(returns)
    theirs = empyrical.aggregate_returns(returns, "yearly")
    assert years == {str(y): pytest.approx(v, abs=1e-6) for y, v in theirs.items()}
    monthly = empyrical.aggregate_returns(returns, "monthly")
    assert months["2021"]["03"] == pytest.approx(monthly[(2021, 3)], abs=1e-6)


@pytest.mark.slow
def test_statistics_recomputed_from_the_run_files(backtest_run: Path) -> None:
    summary = read_summary(backtest_run)
    stats = summary["statistics"]
    equity = pd.read_csv(backtest_run / "equity.csv", index_col="date", parse_dates=["date"])
    trades = pd.read_csv(backtest_run / "trades.csv")
    nav = equity["nav"]

    # against the project's own figures
    assert stats["strategy"]["cagr"] == pytest.approx(summary["cagr"], abs=2e-6)
    assert stats["strategy"]["max_drawdown"] == pytest.approx(summary["max_drawdown"], abs=2e-6)
    assert stats["strategy"]["total_return"] == pytest.approx(summary["total_return"], abs=2e-6)
    assert stats["weight"]["time_in_market"] == pytest.approx(summary["exposure"], abs=1e-6)
    assert stats["trades"]["closed"] == summary["n_trades"]
    assert stats["benchmark"]["total_return"] == pytest.approx(
        summary["benchmark_total_return"], abs=2e-6
    )
    assert stats["benchmark"]["max_drawdown"] == pytest.approx(
        summary["benchmark_max_drawdown"], abs=2e-6
    )

    # the longest drawdown, by a plain walk over the NAV: (days, peak, recovered)
    spans: list[tuple[int, pd.Timestamp, pd.Timestamp | None]] = []
    peak_day, under_water = nav.index[0], False
    for day, value in nav.items():
        if value >= nav[peak_day]:
            if under_water:
                spans.append(((day - peak_day).days, peak_day, day))
            peak_day, under_water = day, False
        else:
            under_water = True
    if under_water:
        spans.append(((nav.index[-1] - peak_day).days, peak_day, None))
    longest = max(spans, key=lambda s: s[0])
    first = stats["drawdowns"]["longest"][0]
    assert first["days"] == longest[0]
    assert first["peak"] == longest[1].date().isoformat()
    assert first["recovered"] == (None if longest[2] is None else longest[2].date().isoformat())
    under = nav[nav.index >= longest[1]]
    if longest[2] is not None:
        under = under[under.index < longest[2]]
    assert first["trough"] == under.idxmin().date().isoformat()
    assert first["depth"] == pytest.approx(under.min() / nav[longest[1]] - 1, abs=1e-6)

    # yearly returns: the NAV at each year's last session over the one before
    ends = nav.groupby(nav.index.year).last()
    starts = pd.concat([pd.Series([summary["initial_nav"]]), ends.iloc[:-1]]).to_numpy()
    for (year, end), start in zip(ends.items(), starts, strict=True):
        assert stats["yearly_returns"][str(year)] == pytest.approx(end / start - 1, abs=2e-6)

    # trades
    closed = trades[trades["exit_reason"] != "open"]
    wins, losses = closed[closed["pnl"] > 0], closed[closed["pnl"] <= 0]
    t = stats["trades"]
    assert t["expectancy"] == pytest.approx(closed["pnl"].mean(), abs=0.01)
    assert t["average_win"] == pytest.approx(wins["pnl"].mean(), abs=0.01)
    assert t["average_loss"] == pytest.approx(losses["pnl"].mean(), abs=0.01)
    assert t["best"]["pnl"] == pytest.approx(closed["pnl"].max(), abs=0.01)
    assert t["worst"]["pnl"] == pytest.approx(closed["pnl"].min(), abs=0.01)
    assert t["average_sessions_held"] == pytest.approx(closed["sessions_held"].mean(), abs=1e-6)
    # weights
    assert stats["weight"]["average"] == pytest.approx(equity["weight"].mean(), abs=1e-6)
    assert stats["weight"]["maximum"] == pytest.approx(equity["weight"].max(), abs=1e-6)
    assert stats["weight"]["time_in_market"] == pytest.approx(
        (equity["shares"] > 0).mean(), abs=1e-6
    )


@pytest.mark.slow
def test_benchmark_figures_match_empyrical(backtest_run: Path, report_home: Path) -> None:
    summary = read_summary(backtest_run)
    stats = summary["statistics"]
    prices = pd.read_csv(report_home / "prices" / "1810.HK.csv", index_col=0, parse_dates=True)
    equity = pd.read_csv(backtest_run / "equity.csv", index_col="date", parse_dates=["date"])
    close = prices.loc[equity.index, "close"]
    returns = close.pct_change().fillna(0.0)
    per_year = stats["sessions_per_year"]
    years = (equity.index[-1] - equity.index[0]).days / 365.25
    assert per_year == pytest.approx(summary["periods_per_year"], abs=1e-3)
    bench = stats["benchmark"]
    assert bench["cagr"] == pytest.approx(
        (close.iloc[-1] / close.iloc[0]) ** (1 / years) - 1, abs=1e-4
    )
    assert bench["annual_volatility"] == pytest.approx(
        empyrical.annual_volatility(returns, annualization=per_year), abs=1e-5
    )
    rf = stats["risk_free_per_session_mean"]  # cash.rate is 0 by default
    assert bench["sharpe"] == pytest.approx(
        empyrical.sharpe_ratio(returns, risk_free=rf, annualization=per_year), abs=1e-4
    )
    matched = stats["weight_matched_benchmark"]
    weight = equity["weight"].mean()
    growth = (1 + returns * weight).prod()
    assert matched["total_return"] == pytest.approx(growth - 1, abs=1e-5)
