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
    if rng.random() < 0.2:
        o["risk.rules"] = []
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
    o["backtest.initial_nav"] = rng.choice([100_000, 1_000_000, 1_000_000, 5_000_000])
    start = first + timedelta(days=rng.randint(0, max(0, (last - first).days - span)))
    o["backtest.start"] = start
    o["backtest.end"] = min(last, start + timedelta(days=span))
    return o


__all__ = ["STOP_METHODS", "random_overrides"]
