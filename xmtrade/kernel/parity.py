"""Random configurations over every grid field and stop method, for the parity test and the
benchmark: the kernel against backtrader on configs no one picked by hand."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

STOP_METHODS = ("lowest_low", "atr", "lowest_low_atr", "swing_low", "fixed")


def random_overrides(rng: random.Random, first: date, last: date, span: int) -> dict[str, Any]:
    """One configuration's dotted overrides, drawn over every field a sweep may vary, with a
    window of about `span` calendar days inside [first, last]."""
    o: dict[str, Any] = {}
    o["signals.rsi.period"] = rng.randint(5, 25)
    o["signals.rsi.oversold"] = rng.choice([25, 30, 35, 40, 45, round(rng.uniform(20, 50), 3)])
    fast = rng.randint(5, 15)
    o["signals.macd.fast"] = fast
    o["signals.macd.slow"] = fast + rng.randint(5, 20)
    o["signals.macd.signal"] = rng.randint(3, 12)
    o["signals.divergence.lookback"] = rng.randint(20, 90)
    o["signals.divergence.swing_k"] = rng.randint(2, 7)
    o["entry.require"] = rng.choice(["any", "any", "all"])
    o["entry.gap_rule"] = rng.choice(["skip", "reanchor", "keep"])
    tactical = rng.choice([3, 5, 8, 10])
    core = tactical + rng.choice([0, 3, 5])
    full = core + rng.choice([0, 3, 5])
    o["sizing.target_weight_pct.tactical"] = tactical
    o["sizing.target_weight_pct.core"] = core
    o["sizing.target_weight_pct.full"] = full
    o["sizing.max_weight_pct"] = rng.choice([full, full, 10, 15, 30, 100])
    o["sizing.risk_per_trade_pct"] = rng.choice([0.5, 1, 2, 3, round(rng.uniform(0.3, 5), 4)])
    o["stages.max_stage"] = rng.choice([1, 2, 3, 3])
    core_passes = rng.randint(1, 3)
    o["stages.core_after_passes"] = core_passes
    o["stages.full_after_passes"] = core_passes + rng.randint(0, 2)
    o["stages.add_on"] = rng.choice(["signal", "announcement"])
    o["stages.min_sessions_between_tranches"] = rng.choice([0, 0, 5, 20])
    o["stages.one_step_per_report"] = rng.random() < 0.7
    o["valuation.ps_ceiling"] = rng.choice([None, 1.5, 2.5, 4.0])
    if rng.random() < 0.2:
        o["risk.drawdown_breaker"] = None
    else:
        o["risk.drawdown_breaker.max_drawdown_pct"] = rng.choice([2, 5, 10, 25, 50])
        o["risk.drawdown_breaker.cooldown_sessions"] = rng.choice([0, 5, 20])
        o["risk.drawdown_breaker.basis"] = rng.choice(["nav", "allocation"])
        o["risk.drawdown_breaker.reset"] = rng.choice(
            [
                "at_fire",
                "at_fire",
                "none",
                "after_sessions 1",
                f"after_sessions {rng.randint(2, 40)}",
            ]
        )
    o["gate.ev_gross_margin_min_pct"] = rng.choice([0, 10, 15, 20])
    o["gate.roic_wacc_spread_min_pp"] = rng.choice([-30, -10, 0, 2])
    o["gate.on_unknown"] = rng.choice(["fail", "pass", "pass"])
    o["gate.invested_capital"] = rng.choice(["operating", "total"])
    o["gate.wacc.fixed_pct"] = rng.choice([5, 9, 12])
    draw = rng.random()
    if draw < 0.2:
        o["risk.rules"] = []
    elif draw < 0.6:
        o["risk.rules"] = _random_rules(rng)
    o["risk.on_unknown"] = rng.choice(["ignore", "block"])
    method = rng.choice(STOP_METHODS)
    o["stop.method"] = method
    o["stop.lookback"] = rng.randint(2, 40)
    o["stop.buffer_ticks"] = rng.randint(0, 3)
    o["stop.atr_period"] = rng.randint(5, 20)
    o["stop.atr_multiple"] = rng.choice([1, 1.5, 2, 3, round(rng.uniform(0.5, 4), 3)])
    o["stop.swing_k"] = rng.randint(2, 6)
    if method == "fixed":
        o["stop.fixed_price"] = rng.choice([8, 12, 15, 20, 30])
        if rng.random() < 0.5:
            o["stop.fixed_from"] = first + timedelta(days=rng.randint(0, span))
            o["stop.fixed_to"] = o["stop.fixed_from"] + timedelta(days=rng.randint(0, span))
    o["exits.rsi_overbought"] = rng.choice([None, 60, 65, 70, 75, 80])
    o["exits.trailing_stop"] = rng.random() < 0.6
    o["exits.max_holding_sessions"] = rng.choice([None, 5, 20, 63, 126])
    o["costs.slippage_ticks"] = rng.choice([0, 1, 1, 2])
    o["costs.commission_pct"] = rng.choice([0.03, 0.08, 0.25])
    o["costs.commission_min"] = rng.choice([0, 3, 50])
    if rng.random() < 0.3:
        o["cash.rate"] = [{"start": date(1990, 1, 1), "rate_pct": rng.choice([1, 2.5, 4])}]
    if rng.random() < 0.35:  # a staged config: a tactical trade that lives long enough to add
        o["stages.max_stage"] = 3
        o["signals.rsi.oversold"] = rng.choice([45, 50, 55])
        o["exits.rsi_overbought"] = rng.choice([None, 85])
        o["exits.max_holding_sessions"] = None
        o["exits.trailing_stop"] = rng.random() < 0.3
        o["stop.method"] = rng.choice(["lowest_low", "atr", "fixed"])
        o["stop.atr_multiple"] = rng.choice([3, 5])
        if o["stop.method"] == "fixed":
            o["stop.fixed_price"] = rng.choice([5, 8, 10])
        else:
            o.pop("stop.fixed_price", None)
            o.pop("stop.fixed_from", None)
            o.pop("stop.fixed_to", None)
        o["stop.lookback"] = rng.choice([40, 60])
        o["gate.ev_gross_margin_min_pct"] = 0
        o["gate.roic_wacc_spread_min_pp"] = -30
        o["gate.on_unknown"] = "pass"
        o["sizing.max_weight_pct"] = rng.choice([15, 30, 100])
    o["backtest.initial_nav"] = rng.choice([100_000, 1_000_000, 1_000_000, 5_000_000, 777_777.77])
    o["instrument.board_lot"] = rng.choice([200, 200, 100, 500, 1000])
    if rng.random() < 0.2:
        o["stages.max_stage"] = 2
    if rng.random() < 0.3:
        o["valuation.hkd_per_rmb"] = [
            {"start": date(1990, 1, 1), "rate": 1.1},
            {"start": first + timedelta(days=rng.randint(0, span)), "rate": rng.choice([0.9, 1.3])},
        ]
    if rng.random() < 0.2:
        o["gate.ev_scale.enabled"] = True
        o["gate.ev_scale.min_annualised_deliveries"] = rng.choice([1, 100000, 350000])
    if rng.random() < 0.2:
        o["gate.wacc.method"] = "capm"
    if rng.random() < 0.2:  # a charge whose rate changes inside the window
        o["market.charges.stamp_duty.periods"] = [
            {"start": date(1990, 1, 1), "rate_pct": 0.1},
            {"start": first + timedelta(days=rng.randint(0, span)), "rate_pct": 0.13},
        ]
    if rng.random() < 0.3:
        o["cash.rate"] = [
            {"start": date(1990, 1, 1), "rate_pct": 1.5},
            {
                "start": first + timedelta(days=rng.randint(0, span)),
                "rate_pct": rng.choice([0, 3.25]),
            },
        ]
    start = first + timedelta(days=rng.randint(0, max(0, (last - first).days - span)))
    o["backtest.start"] = start
    o["backtest.end"] = min(last, start + timedelta(days=span))
    return o


def _random_rules(rng: random.Random) -> list[dict[str, Any]]:
    """Risk lines with thresholds drawn so that trims, exits and blocks fire now and then."""
    return [
        {
            "name": "line1_rank",
            "line": 1,
            "metric": "smartphone_rank",
            "op": ">",
            "threshold": rng.choice([2, 3, 4]),
            "reports_in_a_row": 1,
            "action": rng.choice(["exit", "trim", "block"]),
            "active_from": None,
        },
        {
            "name": "line2_spread",
            "line": 2,
            "metric": "roic_minus_wacc_pp",
            "op": "<=",
            "threshold": rng.choice([-20, -5, 0, 5, 20]),
            "reports_in_a_row": rng.choice([1, 2]),
            "action": rng.choice(["trim", "trim", "exit", "block"]),
            "active_from": None,
        },
        {
            "name": "line3_margin",
            "line": 3,
            "metric": "gross_margin_yoy_pp",
            "op": "<",
            "threshold": rng.choice([-2, 0, 2]),
            "reports_in_a_row": rng.choice([1, 2]),
            "action": rng.choice(["block", "trim", "exit"]),
            "active_from": rng.choice([None, date(2022, 1, 1)]),
        },
    ]


__all__ = ["STOP_METHODS", "random_overrides"]
