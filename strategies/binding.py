"""Rules of a config that can never bind given its other settings (`config validate` warns).

A rule that cannot bind is not an error (the run is well defined) but usually a mistake: the
user believes a rule protects or shapes the position when it never can.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xmtrade.config import AppConfig


def never_binding(cfg: AppConfig) -> list[str]:
    """One line per rule that can never bind: the key, then why."""
    warnings: list[str] = []
    sizing = cfg.sizing
    cap = sizing.max_weight_pct
    targets = sizing.target_weight_pct
    stages = cfg.stages.max_stage
    breaker = cfg.risk.drawdown_breaker
    if breaker is not None and breaker.basis == "nav" and breaker.max_drawdown_pct > cap:
        warnings.append(
            f"risk.drawdown_breaker.max_drawdown_pct: {breaker.max_drawdown_pct:g}% of the NAV "
            f"peak is more than the whole position can lose (at most {cap:g}% of NAV is "
            "invested); it fires only after a long run of losing trades. basis: allocation "
            "measures it on the cap's share of the peak"
        )
    if sizing.risk_per_trade_pct >= cap:
        warnings.append(
            f"sizing.risk_per_trade_pct: {sizing.risk_per_trade_pct:g}% of NAV is at least the "
            f"cap {cap:g}%: a tranche cannot lose more than it is worth, so the rule never sizes"
        )
    names = {1: "tactical", 2: "core", 3: "full"}
    weights = {1: targets.tactical, 2: targets.core, 3: targets.full}
    for stage in range(1, stages + 1):
        if weights[stage] > cap:
            warnings.append(
                f"sizing.target_weight_pct.{names[stage]}: {weights[stage]:g}% is above the cap "
                f"{cap:g}%: the cap sizes stage {stage}, never the target"
            )
    for stage in range(2, stages + 1):
        below = min(weights[stage - 1], cap)
        if min(weights[stage], cap) <= below:
            warnings.append(
                f"sizing.target_weight_pct.{names[stage]}: stage {stage} can never add: its "
                f"target leaves no room above stage {stage - 1}'s {below:g}%"
            )
    if stages == 1:
        if cfg.valuation.ps_ceiling is not None:
            warnings.append(
                "valuation.ps_ceiling: trims back to stage 1, and stages.max_stage is 1"
            )
        for rule in cfg.risk.rules:
            if rule.action == "trim":
                warnings.append(
                    f"risk.rules {rule.name}: trims back to stage 1, and stages.max_stage is 1"
                )
    if cfg.stop.method == "fixed" and cfg.exits.trailing_stop:
        warnings.append(
            "exits.trailing_stop: a fixed stop is the same price every session, so it never "
            "trails while the fixed stop's dates apply"
        )
    end = cfg.backtest.end
    for rule in cfg.risk.rules:
        if end is not None and rule.active_from is not None and rule.active_from > end:
            warnings.append(
                f"risk.rules {rule.name}: in force from {rule.active_from}, after "
                f"backtest.end {end}"
            )
    return warnings


__all__ = ["never_binding"]
