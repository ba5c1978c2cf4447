"""The three-horizon strategy on constructed facts: stage progression on consecutive passing
reports, adds on signal or at the report, and every action of every risk line, the P/S
ceiling and the drawdown breaker."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from data_feeds.calendar import SessionCalendar
from strategies.signals import SIGNAL_COLUMNS
from xmtrade.backtest import BacktestResult, run_backtest
from xmtrade.config import AppConfig, load_config

COLUMNS = [
    "metric",
    "period",
    "period_end",
    "announced",
    "announced_time",
    "value",
    "unit",
    "source",
    "confidence",
]
UNITS = {
    "ev_gross_margin": "pct",
    "gross_margin": "pct",
    "smartphone_rank": "rank",
    "revenue": "RMB_m",
    "shares_outstanding": "shares",
    "ev_segment_result": "RMB_m",
}
QUARTER_END = {"Q1": "03-31", "Q2": "06-30", "Q3": "09-30", "Q4": "12-31"}
# FY2023 with ROIC far above WACC: NOPAT 20,000 x (1 - 0) over capital 100,000 = 20%
STRONG_FY2023 = [
    ("operating_profit", 20000),
    ("profit_before_tax", 20000),
    ("income_tax", 0),
    ("total_equity", 100000),
    ("borrowings", 0),
    ("cash", 0),
    ("short_term_investments", 0),
]


@pytest.fixture(scope="module")
def calendar() -> SessionCalendar:
    cfg = load_config()
    return SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)


def fact(metric: str, period: str, announced: str, value: float) -> dict[str, Any]:
    if "FY" in period:
        end, unit = f"{period[:4]}-12-31", "RMB_m"
    elif "Q" in period:
        end, unit = f"{period[:4]}-{QUARTER_END[period[4:]]}", UNITS[metric]
    else:
        end, unit = period, UNITS[metric]
    return {
        "metric": metric,
        "period": period,
        "period_end": end,
        "announced": announced,
        "announced_time": "",
        "value": value,
        "unit": unit,
        "source": "test",
        "confidence": "H",
    }


def quarter(
    period: str, announced: str, ev_gm: float = 25, rank: float = 3, gm: float = 20
) -> list[dict[str, Any]]:
    """One quarterly report: EV gross margin, smartphone rank, group gross margin."""
    return [
        fact("ev_gross_margin", period, announced, ev_gm),
        fact("smartphone_rank", period, announced, rank),
        fact("gross_margin", period, announced, gm),
    ]


def fy(year: int, announced: str, figures: Sequence[tuple[str, float]]) -> list[dict[str, Any]]:
    return [fact(m, f"{year}FY", announced, v) for m, v in figures]


def write_facts(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def make_bars(calendar: SessionCalendar, n: int = 200, close: float = 12.0) -> pd.DataFrame:
    sessions = calendar.sessions(date(2024, 3, 1), date(2025, 6, 30))[:n]
    return pd.DataFrame(
        {
            "open": close,
            "high": close + 0.1,
            "low": close - 0.1,
            "close": close,
            "volume": 1e6,
            "no_trading": False,
        },
        index=pd.DatetimeIndex(sessions, name="date"),
    )


def make_signals(bars: pd.DataFrame, oversold_on: Iterable[date]) -> pd.DataFrame:
    sig = pd.DataFrame(index=bars.index)
    for name in SIGNAL_COLUMNS:
        sig[name] = np.nan
    sig["rsi"], sig["macd"], sig["macd_signal"], sig["macd_hist"] = 50.0, 0.0, 0.0, 0.0
    for flag in ("rsi_oversold", "rsi_overbought", "swing_low_known", "divergence"):
        sig[flag] = False
    for day in oversold_on:
        sig.loc[pd.Timestamp(day), "rsi_oversold"] = True
        sig.loc[pd.Timestamp(day), "rsi"] = 25.0
    for col in ("div_low1_date", "div_low2_date"):
        sig[col] = pd.NaT
    return sig


def run(
    calendar: SessionCalendar,
    facts: Path,
    oversold_on: Iterable[date],
    bars: pd.DataFrame | None = None,
    **overrides: Any,
) -> BacktestResult:
    cfg: AppConfig = load_config(
        overrides={
            "fundamentals.file": str(facts),
            "exits.max_holding_sessions": None,
            "exits.rsi_overbought": None,
            **overrides,
        }
    )
    bars = make_bars(calendar) if bars is None else bars
    return run_backtest(cfg, bars, calendar, signals=make_signals(bars, oversold_on))


def entries(result: BacktestResult) -> list[tuple[int, date]]:
    return [(int(t["stage"]), t["entry_date"]) for t in result.trades.to_dict("records")]


def decision(result: BacktestResult, day: date, action: str) -> dict[str, Any]:
    return next(d for d in result.decisions if d["date"] == day and d["action"] == action)


# Reports: 2023Q4 usable 2024-03-20, 2024Q1 usable 2024-05-21, 2024Q2 usable 2024-08-21
PASSING = [
    *fy(2023, "2024-03-19", STRONG_FY2023),
    *quarter("2023Q4", "2024-03-19"),
    *quarter("2024Q1", "2024-05-20"),
    *quarter("2024Q2", "2024-08-20"),
]


def test_stages_open_only_after_consecutive_passing_reports(
    calendar: SessionCalendar, tmp_path: Path
) -> None:
    facts = write_facts(tmp_path / "f.csv", PASSING)
    signals = [
        date(2024, 4, 10),
        date(2024, 5, 2),
        date(2024, 5, 22),
        date(2024, 6, 5),
        date(2024, 8, 22),
    ]
    result = run(calendar, facts, signals)
    # 04-10 opens stage 1; 05-02 is skipped (one passing report); 05-22 adds stage 2 (two
    # reports usable since 05-21); 06-05 is skipped (stage 3 needs three); 08-22 adds stage 3
    assert entries(result) == [
        (1, date(2024, 4, 11)),
        (2, date(2024, 5, 23)),
        (3, date(2024, 8, 23)),
    ]
    skip = decision(result, date(2024, 5, 2), "skip")
    assert skip["why"] == "stage 2 needs 2 consecutive passing reports, have 1"
    add = decision(result, date(2024, 5, 22), "add")
    assert add["fundamentals"]["passing_reports"] == ["2023Q4", "2024Q1"]
    assert add["reason"].startswith("stage 2 (core): gate passed in 2 consecutive reports")
    weights = result.equity["weight"]
    assert weights.max() <= 0.15 + 1e-9


def test_add_on_announcement_adds_without_a_signal(
    calendar: SessionCalendar, tmp_path: Path
) -> None:
    facts = write_facts(tmp_path / "f.csv", PASSING)
    result = run(calendar, facts, [date(2024, 4, 10)], **{"stages.add_on": "announcement"})
    assert entries(result) == [
        (1, date(2024, 4, 11)),
        (2, date(2024, 5, 22)),
        (3, date(2024, 8, 22)),
    ]


def test_a_failing_report_stops_the_position_growing(
    calendar: SessionCalendar, tmp_path: Path
) -> None:
    rows = [
        *fy(2023, "2024-03-19", STRONG_FY2023),
        *quarter("2023Q4", "2024-03-19"),
        *quarter("2024Q1", "2024-05-20", ev_gm=15),
        *quarter("2024Q2", "2024-08-20"),
    ]
    facts = write_facts(tmp_path / "f.csv", rows)
    result = run(calendar, facts, [date(2024, 4, 10), date(2024, 5, 22), date(2024, 8, 22)])
    assert entries(result) == [(1, date(2024, 4, 11))]
    gate = decision(result, date(2024, 5, 22), "skip")["fundamentals"]["gate"]
    assert gate["verdict"] == "fail"


def test_unknown_gate_fails_by_default_and_can_be_left_out(
    calendar: SessionCalendar, tmp_path: Path
) -> None:
    # no annual statements: ROIC is unknown on every report
    rows = [*quarter("2023Q4", "2024-03-19"), *quarter("2024Q1", "2024-05-20")]
    facts = write_facts(tmp_path / "f.csv", rows)
    days = [date(2024, 4, 10), date(2024, 5, 22)]
    strict = run(calendar, facts, days)
    assert entries(strict) == [(1, date(2024, 4, 11))]
    assert decision(strict, date(2024, 5, 22), "skip")["fundamentals"]["gate"]["verdict"] == (
        "unknown"
    )
    lenient = run(calendar, facts, days, **{"gate.on_unknown": "pass"})
    assert entries(lenient) == [(1, date(2024, 4, 11)), (2, date(2024, 5, 23))]


def test_a_gate_switched_off_lets_every_report_count(
    calendar: SessionCalendar, tmp_path: Path
) -> None:
    # a failing report and one on which no test can be computed (no annual statements, no EV)
    rows = [
        *quarter("2023Q4", "2024-03-19", ev_gm=15),
        fact("revenue", "2024Q1", "2024-05-20", 75_000),
    ]
    facts = write_facts(tmp_path / "f.csv", rows)
    days = [date(2024, 4, 10), date(2024, 5, 22)]
    gated = run(calendar, facts, days)
    assert entries(gated) == [(1, date(2024, 4, 11))]
    off = run(calendar, facts, days, **{"gate.enabled": False})
    assert entries(off) == [(1, date(2024, 4, 11)), (2, date(2024, 5, 23))]
    # the tests are still computed and recorded beside the switch
    recorded = [
        d["fundamentals"]["gate"]
        for d in off.decisions
        if isinstance(d.get("fundamentals"), dict) and "gate" in d["fundamentals"]
    ]
    assert recorded and all(g["verdict"] in ("fail", "unknown") for g in recorded)


def test_line_exit_sells_every_tranche(calendar: SessionCalendar, tmp_path: Path) -> None:
    rows = [*PASSING, *quarter("2024Q3", "2024-11-18", rank=5)]
    facts = write_facts(tmp_path / "f.csv", rows)
    result = run(calendar, facts, [date(2024, 4, 10), date(2024, 5, 22), date(2024, 8, 22)])
    trades = result.trades
    assert set(trades["exit_reason"]) == {"line1_exit"}
    assert set(trades["exit_date"]) == {date(2024, 11, 20)}  # decided 11-19, sold 11-20
    exit_decision = decision(result, date(2024, 11, 19), "exit")
    assert exit_decision["reason"] == "line1_exit"
    assert result.equity.loc["2024-11-19", "line1"] == "alarm"


def test_line_trim_keeps_stage_one(calendar: SessionCalendar, tmp_path: Path) -> None:
    # FY2023 revised on 2024-10-02 (a new row, not an overwrite): ROIC 10% - WACC 9% = 1 pp,
    # at most 2 -> trim, not below 0 -> no exit
    revised = fy(2023, "2024-10-02", [("operating_profit", 10000), ("profit_before_tax", 10000)])
    rows = [*PASSING, *revised]
    facts = write_facts(tmp_path / "f.csv", rows)
    result = run(calendar, facts, [date(2024, 4, 10), date(2024, 5, 22), date(2024, 8, 22)])
    reasons = dict(zip(result.trades["stage"], result.trades["exit_reason"], strict=True))
    assert reasons == {1: "open", 2: "line2_trim", 3: "line2_trim"}
    trim = next(d for d in result.decisions if d["action"] == "trim")
    assert trim["date"] == date(2024, 10, 3)  # the revision is usable the next session


def test_line_block_skips_new_tranches(calendar: SessionCalendar, tmp_path: Path) -> None:
    rows = [
        *fy(2023, "2024-03-19", STRONG_FY2023),
        *quarter("2022Q4", "2023-03-20", gm=25),
        *quarter("2023Q1", "2023-05-20", gm=25),
        *quarter("2023Q4", "2024-03-19", gm=20),
        *quarter("2024Q1", "2024-05-20", gm=20),
    ]
    facts = write_facts(tmp_path / "f.csv", rows)
    # before 05-21 only 2023Q4 is below its year-ago quarter: one report, no alarm yet
    result = run(
        calendar, facts, [date(2024, 4, 10), date(2024, 6, 5)], **{"exits.max_holding_sessions": 20}
    )
    assert entries(result) == [(1, date(2024, 4, 11))]
    skip = decision(result, date(2024, 6, 5), "skip")
    assert skip["why"].startswith("risk lines say block")
    assert skip["fundamentals"]["lines"]["line3"] == "alarm"


def test_unknown_lines_block_only_when_configured(
    calendar: SessionCalendar, tmp_path: Path
) -> None:
    facts = write_facts(tmp_path / "f.csv", quarter("2023Q4", "2024-03-19"))
    days = [date(2024, 4, 10)]
    assert entries(run(calendar, facts, days)) == [(1, date(2024, 4, 11))]
    blocked = run(calendar, facts, days, **{"risk.on_unknown": "block"})
    assert entries(blocked) == []
    assert "line2 unknown" in decision(blocked, date(2024, 4, 10), "skip")["why"]


def test_ps_ceiling_trims_back_to_stage_one(calendar: SessionCalendar, tmp_path: Path) -> None:
    # TTM revenue 4 x 1,000 RMB m = 4bn RMB over 1bn shares = 4 RMB = 4.40 HKD a share;
    # at HK$12 the P/S is 2.73, above the 2.5 ceiling once the fourth quarter is known
    revenue = [
        fact("revenue", p, a, 1000)
        for p, a in [
            ("2023Q3", "2023-11-20"),
            ("2023Q4", "2024-03-19"),
            ("2024Q1", "2024-05-20"),
            ("2024Q2", "2024-08-20"),
        ]
    ]
    shares = [fact("shares_outstanding", "2024-01-31", "2024-02-05", 1_000_000_000)]
    facts = write_facts(tmp_path / "f.csv", [*PASSING, *revenue, *shares])
    result = run(calendar, facts, [date(2024, 4, 10), date(2024, 5, 22)])
    reasons = dict(zip(result.trades["stage"], result.trades["exit_reason"], strict=True))
    assert reasons == {1: "open", 2: "take_profit_ps"}
    trim = next(d for d in result.decisions if d["action"] == "trim")
    assert trim["date"] == date(2024, 8, 21)
    assert trim["detail"]["ps_ratio"] == pytest.approx(12 / 4.4, abs=1e-4)
    # no add while above the ceiling
    later = run(calendar, facts, [date(2024, 4, 10), date(2024, 8, 22)])
    assert decision(later, date(2024, 8, 22), "skip")["why"].startswith("P/S 2.73 above")


def test_drawdown_breaker_exits_and_cools_down(calendar: SessionCalendar, tmp_path: Path) -> None:
    facts = write_facts(tmp_path / "f.csv", PASSING)
    bars = make_bars(calendar)
    crash = bars.index.get_loc(pd.Timestamp("2024-04-15"))
    bars.iloc[crash:, bars.columns.get_loc("close")] = 11.95
    bars.iloc[crash:, bars.columns.get_loc("open")] = 11.95
    bars.iloc[crash:, bars.columns.get_loc("high")] = 12.0
    bars.iloc[crash:, bars.columns.get_loc("low")] = 11.90
    result = run(
        calendar,
        facts,
        [date(2024, 4, 10), date(2024, 4, 17), date(2024, 5, 30)],
        bars=bars,
        **{
            "risk.drawdown_breaker.max_drawdown_pct": 0.01,
            "risk.drawdown_breaker.cooldown_sessions": 20,
            "allow_small_percent": ["risk.drawdown_breaker.max_drawdown_pct"],  # meant: 0.01%
        },
    )
    first = result.trades.iloc[0]
    assert first["exit_reason"] == "drawdown_breaker"
    assert decision(result, date(2024, 4, 17), "skip")["why"] == "drawdown breaker cooling down"
    assert entries(result)[1] == (1, date(2024, 5, 31))  # open again after the cool-down


def test_stage_one_only_config_never_adds(calendar: SessionCalendar, tmp_path: Path) -> None:
    facts = write_facts(tmp_path / "f.csv", PASSING)
    result = run(calendar, facts, [date(2024, 4, 10), date(2024, 5, 22)], **{"stages.max_stage": 1})
    assert entries(result) == [(1, date(2024, 4, 11))]
    assert decision(result, date(2024, 5, 22), "skip")["why"].startswith("position is fully built")


def test_rule_comes_into_force_on_its_date_without_a_new_fact(
    calendar: SessionCalendar, tmp_path: Path
) -> None:
    """active_from is checked against the session, not the last day the facts changed."""
    facts = write_facts(tmp_path / "f.csv", PASSING)
    rule = {
        "name": "deadline",
        "line": 3,
        "metric": "ev_gross_margin",
        "op": "<",
        "threshold": 99,
        "reports_in_a_row": 1,
        "action": "block",
        "active_from": date(2024, 6, 3),
    }
    before = run(calendar, facts, [date(2024, 5, 31)], **{"risk.rules": [rule]})
    assert entries(before) == [(1, date(2024, 6, 3))]
    assert before.equity.loc["2024-05-31", "line3"] == "ok"
    assert before.equity.loc["2024-06-03", "line3"] == "alarm"
    on_the_day = run(calendar, facts, [date(2024, 6, 3)], **{"risk.rules": [rule]})
    assert entries(on_the_day) == []
    assert decision(on_the_day, date(2024, 6, 3), "skip")["why"].startswith("risk lines say block")


def test_alarm_is_held_when_its_figure_becomes_unknown(
    calendar: SessionCalendar, tmp_path: Path
) -> None:
    """A line in alarm stays in alarm until a later report clears it (STRATEGY §5.2)."""
    rule = {
        "name": "margin",
        "line": 3,
        "metric": "gross_margin_yoy_pp",
        "op": "<",
        "threshold": 0,
        "reports_in_a_row": 1,
        "action": "block",
        "active_from": None,
    }
    # 2023Q4 (20%) is below 2022Q4 (25%): alarm from 2024-03-20. 2024Q1 has no 2023Q1 to
    # compare with: the figure is unknown from 2024-05-21, which must not clear the alarm.
    rows = [
        *quarter("2022Q4", "2023-03-20", gm=25),
        *quarter("2023Q4", "2024-03-19", gm=20),
        *quarter("2024Q1", "2024-05-20", gm=20),
    ]
    facts = write_facts(tmp_path / "f.csv", rows)
    result = run(calendar, facts, [date(2024, 6, 5)], **{"risk.rules": [rule]})
    assert result.equity.loc["2024-03-20", "line3"] == "alarm"
    assert result.equity.loc["2024-05-21", "line3"] == "alarm"
    held = next(
        d
        for d in result.decisions
        if d["action"] == "fundamentals" and d["date"] == date(2024, 5, 21)
    )
    assert "alarm held" in held["lines"]["line3"]["rules"][0]["condition"]
    assert entries(result) == []
    # a later report that clears it ends the alarm
    cleared = write_facts(
        tmp_path / "g.csv",
        [
            *rows,
            *quarter("2023Q1", "2023-05-22", gm=19),
            *quarter("2024Q2", "2024-08-20", gm=30),
            *quarter("2023Q2", "2023-08-21", gm=20),
        ],
    )
    later = run(calendar, cleared, [], **{"risk.rules": [rule]})
    assert later.equity.loc["2024-08-21", "line3"] == "ok"


def test_add_on_announcement_adds_only_at_the_report(
    calendar: SessionCalendar, tmp_path: Path
) -> None:
    facts = write_facts(tmp_path / "f.csv", PASSING)
    bars = make_bars(calendar)
    # stage 2 is added at the 2024Q1 report (05-21) and stopped out on 05-28; no new report
    # follows until 08-21, so there is no re-add in between, however long it waits
    stop_day = bars.index.get_loc(pd.Timestamp("2024-05-28"))
    bars.iloc[stop_day, bars.columns.get_loc("low")] = 11.0
    bars.iloc[stop_day, bars.columns.get_loc("close")] = 11.5
    result = run(
        calendar,
        facts,
        [date(2024, 4, 10), date(2024, 6, 5)],
        bars=bars,
        **{"stages.add_on": "announcement", "exits.max_holding_sessions": None},
    )
    stages_opened = [(stage, day) for stage, day in entries(result)]
    assert (2, date(2024, 5, 22)) in stages_opened
    assert not [
        d for s, d in stages_opened if s == 2 and date(2024, 5, 23) <= d < date(2024, 8, 22)
    ]


def test_minimum_gap_between_tranches(calendar: SessionCalendar, tmp_path: Path) -> None:
    facts = write_facts(tmp_path / "f.csv", PASSING)
    signals = [date(2024, 5, 22), date(2024, 5, 23), date(2024, 5, 24), date(2024, 5, 31)]
    eager = run(calendar, facts, signals)
    assert entries(eager)[:2] == [(1, date(2024, 5, 23)), (2, date(2024, 5, 24))]
    patient = run(calendar, facts, signals, **{"stages.min_sessions_between_tranches": 5})
    assert entries(patient)[:2] == [(1, date(2024, 5, 23)), (2, date(2024, 6, 3))]
    skip = decision(patient, date(2024, 5, 23), "skip")
    assert skip["why"] == "stage 2 waits 5 sessions after the last tranche, 1 so far"
