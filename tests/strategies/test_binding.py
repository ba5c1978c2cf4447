"""`config validate` warns about rules that can never bind with the other settings."""

from __future__ import annotations

from strategies.binding import never_binding
from xmtrade.config import load_config


def test_the_defaults_have_no_rule_that_cannot_bind() -> None:
    assert never_binding(load_config()) == []


def test_a_breaker_on_the_whole_nav_cannot_bind() -> None:
    (warning,) = never_binding(load_config(overrides={"risk.drawdown_breaker.basis": "nav"}))
    assert warning.startswith("risk.drawdown_breaker.max_drawdown_pct: 25% of the NAV peak")


def test_other_rules_that_cannot_bind() -> None:
    cfg = load_config(
        overrides={
            "sizing.max_weight_pct": 5,
            "sizing.risk_per_trade_pct": 5,
            "stop.method": "fixed",
            "stop.fixed_price": 15,
        }
    )
    keys = [w.split(":")[0] for w in never_binding(cfg)]
    assert keys == [
        "sizing.risk_per_trade_pct",
        "sizing.target_weight_pct.core",
        "sizing.target_weight_pct.full",
        "sizing.target_weight_pct.core",
        "sizing.target_weight_pct.full",
        "exits.trailing_stop",
    ]
    one = load_config(overrides={"stages.max_stage": 1})
    assert [w.split(":")[0] for w in never_binding(one)] == [
        "valuation.ps_ceiling",
        "risk.rules line2_spread_trim",
    ]
