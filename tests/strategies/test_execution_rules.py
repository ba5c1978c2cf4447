"""The execution rules at the open on hand-built bars: the pre-opening check (each gap rule, a
stop and an add at the same open, the cap at the fill), stages from what is held (refilling a
lower stage, one step per report), trim against block, and the breaker on each basis.

Flat bars at HK$12 (low 11.90, high 12.10): the default stop is 11.90 - 1 tick = 11.88 on the
2024 spread table, a buy at a 12.00 close is estimated at 12.02."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from test_three_horizon import (
    PASSING,
    STRONG_FY2023,
    decision,
    entries,
    fy,
    make_bars,
    quarter,
    run,
    write_facts,
)

from data_feeds.calendar import SessionCalendar
from risk.breaker import breaker_check
from strategies.rules import gap_action, stage_to_open, target_after
from xmtrade.config import load_config


@pytest.fixture(scope="module")
def calendar() -> SessionCalendar:
    cfg = load_config()
    return SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)


def set_bar(bars: pd.DataFrame, day: str, **prices: float) -> None:
    for column, value in prices.items():
        bars.loc[pd.Timestamp(day), column] = value


def set_from(bars: pd.DataFrame, day: str, close: float) -> None:
    at = bars.index >= pd.Timestamp(day)
    bars.loc[at, "open"] = close
    bars.loc[at, "close"] = close
    bars.loc[at, "high"] = close + 0.1
    bars.loc[at, "low"] = close - 0.1


def checks(result: object, action: str = "pre_open_check") -> list[dict[str, object]]:
    return [d for d in result.decisions if d["action"] == action]  # type: ignore[attr-defined]


@pytest.mark.parametrize("rule", ["skip", "reanchor", "keep"])
def test_an_open_below_the_planned_stop(
    calendar: SessionCalendar, tmp_path: Path, rule: str
) -> None:
    facts = write_facts(tmp_path / "f.csv", PASSING)
    bars = make_bars(calendar)
    set_bar(bars, "2024-04-11", open=11.80, low=11.70)  # below the planned stop 11.88
    result = run(calendar, facts, [date(2024, 4, 10)], bars=bars, **{"entry.gap_rule": rule})
    check = decision(result, date(2024, 4, 11), "pre_open_check")
    assert check["open"] == 11.80 and check["planned_stop"] == 11.88
    trades = result.trades.to_dict("records")
    if rule == "skip":
        assert check["check"] == "skip_gap"
        assert trades == []
        return
    assert check["check"] == "buy"
    (trade,) = trades
    assert trade["entry_date"] == date(2024, 4, 11)
    assert trade["entry_price"] == 11.82  # the open plus one tick
    if rule == "reanchor":
        # the planned distance 12.02 - 11.88 = 0.14 below the open
        assert trade["initial_stop"] == 11.66
        assert trade["entry_price"] > trade["initial_stop"]
        assert check["sizing_at_open"]["stop_price"] == 11.64  # the stop less one tick
    else:
        assert trade["initial_stop"] == 11.88


def test_skips_are_counted_in_the_summary(calendar: SessionCalendar, tmp_path: Path) -> None:
    from xmtrade.reports.figures import summarize

    facts = write_facts(tmp_path / "f.csv", PASSING)
    bars = make_bars(calendar)
    set_bar(bars, "2024-04-11", open=11.80, low=11.70)
    summary = summarize(run(calendar, facts, [date(2024, 4, 10)], bars=bars))
    assert summary["pre_open_skips"] == {"gap": 1, "stop_hit": 0, "size": 0}


def test_an_add_is_cancelled_when_a_held_stop_is_hit_at_the_same_open(
    calendar: SessionCalendar, tmp_path: Path
) -> None:
    facts = write_facts(tmp_path / "f.csv", PASSING)
    bars = make_bars(calendar)
    set_bar(bars, "2024-05-23", open=11.86, low=11.80)  # at stage 1's stop 11.88
    result = run(calendar, facts, [date(2024, 4, 10), date(2024, 5, 22)], bars=bars)
    assert decision(result, date(2024, 5, 22), "add")["stage"] == 2
    check = decision(result, date(2024, 5, 23), "pre_open_check")
    assert check["check"] == "skip_stop_hit"
    assert entries(result) == [(1, date(2024, 4, 11))]
    fills = result.fills
    assert list(fills[fills["date"] == date(2024, 5, 23)]["side"]) == ["sell"]


def test_the_cap_holds_at_the_fill_price(calendar: SessionCalendar, tmp_path: Path) -> None:
    facts = write_facts(tmp_path / "f.csv", PASSING)
    bars = make_bars(calendar)
    set_from(bars, "2024-04-11", 13.0)  # the open gaps up from the 12.00 close
    result = run(
        calendar,
        facts,
        [date(2024, 4, 10)],
        bars=bars,
        **{
            "sizing.target_weight_pct": {"tactical": 15, "core": 15, "full": 15},
            "sizing.risk_per_trade_pct": 100,
        },
    )
    planned = decision(result, date(2024, 4, 10), "enter")["order"]["shares"]
    (fill,) = result.fills.to_dict("records")
    assert fill["shares"] < planned
    assert fill["shares"] * fill["price"] <= 0.15 * 1_000_000
    assert (fill["shares"] + 200) * fill["price"] > 0.15 * 1_000_000  # not a lot less


def test_a_stopped_out_lower_stage_is_refilled(calendar: SessionCalendar, tmp_path: Path) -> None:
    facts = write_facts(tmp_path / "f.csv", PASSING)
    bars = make_bars(calendar)
    set_from(bars, "2024-04-11", 14.0)  # stage 1 trails up to 13.88 (lookback 5)
    set_bar(bars, "2024-06-03", low=13.50)  # stage 1's stop is hit, stage 2's (12.50) is not
    result = run(
        calendar,
        facts,
        [date(2024, 4, 10), date(2024, 5, 22), date(2024, 6, 12)],
        bars=bars,
        **{
            "stop.lookback": 5,
            "stop.method": "fixed",
            "stop.fixed_price": 12.5,
            "stop.fixed_from": date(2024, 5, 20),
        },
    )
    assert entries(result) == [
        (1, date(2024, 4, 11)),
        (2, date(2024, 5, 23)),
        (1, date(2024, 6, 13)),
    ]
    trades = result.trades.to_dict("records")
    assert trades[0]["exit_date"] == date(2024, 6, 3)
    assert trades[1]["initial_stop"] == 12.5 and trades[1]["exit_reason"] == "open"
    refill = decision(result, date(2024, 6, 12), "enter")
    assert refill["sizing"]["target_weight_pct"] == 10  # the core target with stage 2 held
    assert result.equity.loc["2024-06-13", "stage"] == 2


def test_one_new_stage_per_report(calendar: SessionCalendar, tmp_path: Path) -> None:
    rows = [*PASSING, *fy(2022, "2023-03-20", STRONG_FY2023), *quarter("2023Q3", "2023-11-20")]
    facts = write_facts(tmp_path / "f.csv", rows)
    days = [date(2024, 4, 10), date(2024, 5, 22), date(2024, 6, 5), date(2024, 8, 22)]
    result = run(calendar, facts, days)
    assert entries(result) == [
        (1, date(2024, 4, 11)),
        (2, date(2024, 5, 23)),
        (3, date(2024, 8, 23)),
    ]
    why = decision(result, date(2024, 6, 5), "skip")["why"]
    assert why.startswith("stage 3 waits for the next quarterly report")
    free = run(calendar, facts, days, **{"stages.one_step_per_report": False})
    assert entries(free)[2] == (3, date(2024, 6, 6))


@pytest.mark.parametrize("action", ["trim", "block"])
def test_trim_does_not_block_stage_one_but_block_does(
    calendar: SessionCalendar, tmp_path: Path, action: str
) -> None:
    rows = [*PASSING, *quarter("2024Q3", "2024-11-18", rank=3)]
    facts = write_facts(tmp_path / "f.csv", rows)
    rule = {
        "name": "rank_alarm",
        "line": 1,
        "metric": "smartphone_rank",
        "op": ">",
        "threshold": 2,
        "reports_in_a_row": 1,
        "action": action,
        "active_from": None,
    }
    result = run(calendar, facts, [date(2024, 4, 10)], **{"risk.rules": [rule]})
    if action == "trim":
        assert entries(result) == [(1, date(2024, 4, 11))]
    else:
        assert entries(result) == []
        assert decision(result, date(2024, 4, 10), "skip")["why"].startswith("risk lines say block")


@pytest.mark.parametrize(("basis", "fires"), [("allocation", True), ("nav", False)])
def test_the_breaker_on_each_basis(
    calendar: SessionCalendar, tmp_path: Path, basis: str, fires: bool
) -> None:
    facts = write_facts(tmp_path / "f.csv", PASSING)
    bars = make_bars(calendar)
    set_from(bars, "2024-04-15", 11.95)
    # 25% of the 15% allocation is 3.75% of NAV; a 1% breaker on that basis is 0.15% of NAV
    overrides = {
        "risk.drawdown_breaker.max_drawdown_pct": 1,
        "risk.drawdown_breaker.basis": basis,
        "stop.lookback": 1,
        "exits.trailing_stop": False,
    }
    bars.loc[bars.index >= pd.Timestamp("2024-04-15"), "low"] = 11.93
    set_from(bars, "2024-04-22", 11.0)
    bars.loc[bars.index >= pd.Timestamp("2024-04-22"), "low"] = 10.95
    overrides["stop.method"] = "fixed"
    overrides["stop.fixed_price"] = 5.0
    result = run(calendar, facts, [date(2024, 4, 10)], bars=bars, **overrides)
    reasons = set(result.trades["exit_reason"])
    assert ("drawdown_breaker" in reasons) is fires


def test_pure_rules() -> None:
    assert stage_to_open([], 3) == 1
    assert stage_to_open([2], 3) == 1
    assert stage_to_open([1, 2], 3) == 3
    assert stage_to_open([1, 2, 3], 3) is None
    assert stage_to_open([1], 1) is None
    assert target_after([2], 1, {1: 5, 2: 10, 3: 15}) == 10
    assert gap_action(12.0, 11.88, "skip") == "buy"
    assert gap_action(11.88, 11.88, "skip") == "skip"
    assert gap_action(11.0, 11.88, "reanchor") == "reanchor"
    on_nav = breaker_check(960_000, 1_000_000, 25, "nav", 15)
    on_allocation = breaker_check(960_000, 1_000_000, 25, "allocation", 15)
    assert not on_nav.fires and on_nav.limit == 250_000
    assert on_allocation.fires and on_allocation.limit == pytest.approx(37_500)


def test_cash_earns_the_cash_rate_and_is_the_risk_free_rate(
    calendar: SessionCalendar, tmp_path: Path
) -> None:
    from xmtrade.reports.figures import summarize

    facts = write_facts(tmp_path / "f.csv", PASSING)
    rate = {"cash.rate": [{"start": date(1990, 1, 1), "rate_pct": 3.65}]}
    result = run(calendar, facts, [], **rate)
    equity = result.equity
    # 3.65% a year is 0.01% a calendar day: HK$100.00 a day on HK$1,000,000, then compounded
    assert equity["interest"].iloc[1] == 100.0 * (equity.index[1] - equity.index[0]).days
    cash = 1_000_000.0
    for (before, after), credited in zip(
        zip(equity.index[:-1], equity.index[1:], strict=True),
        equity["interest"].iloc[1:],
        strict=True,
    ):
        expected = round(cash * 0.0365 * (after - before).days / 365, 2)
        assert credited == expected
        cash += expected
    assert equity["nav"].iloc[-1] == pytest.approx(cash, abs=0.005)
    summary = summarize(result)
    assert summary["interest_on_cash"] == pytest.approx(cash - 1_000_000, abs=0.01)
    # cash alone earns the risk-free rate: its excess return is nothing but cent rounding
    returns = equity["nav"].pct_change().iloc[1:]
    excess = returns - result.risk_free.iloc[1:]
    assert float(excess.abs().max()) < 1e-8
    assert float(result.risk_free.iloc[1:].min()) > 0
    assert 240 < summary["periods_per_year"] < 250
