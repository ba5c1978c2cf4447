"""Configs from axes (xmtrade/sweep/combos.py): a combination's config is the base with its
field values applied, equal to `ConfigLayers.build` of the same overrides (same hash), and
a bad value is the same one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from xmtrade.config import ConfigLayers
from xmtrade.errors import ConfigError
from xmtrade.sweep.combos import CombinationBuilder
from xmtrade.sweep.grid import parse_grid
from xmtrade.sweep.runner import build_configs

WHERE = "grid.yaml"
LIMIT = 100_000

EVERY_AXIS = {
    "sample": {"count": 120, "seed": 5},
    "signals.rsi.oversold": {"uniform": [20, 40]},
    "signals.rsi.period": {"randint": [7, 28]},
    "signals.macd.fast": {"choice": [8, 12]},
    "signals.divergence.swing_k": {"randint": [2, 4]},
    "entry.require": {"choice": ["any", "all"]},
    "entry.gap_rule": {"choice": ["skip", "reanchor", "keep"]},
    "sizing.risk_per_trade_pct": {"uniform": [0.5, 3.0]},
    "sizing.target_weight_pct.tactical": {"uniform": [2, 5]},
    "stages.max_stage": {"choice": [1, 2, 3]},
    "stop.method": {"choice": ["lowest_low", "atr", "lowest_low_atr", "swing_low"]},
    "stop.lookback": {"randint": [5, 60]},
    "stop.atr_multiple": {"uniform": [1, 4]},
    "exits.rsi_overbought": {"uniform": [60, 85]},
    "exits.trailing_stop": {"choice": [True, False]},
    "exits.max_holding_sessions": {"choice": [20, 63, None]},
    "risk.drawdown_breaker.max_drawdown_pct": {"uniform": [2, 10]},
}


def test_configs_from_axes_equal_full_builds(tmp_path: Path) -> None:
    layer = tmp_path / "base.yaml"
    layer.write_text("stop:\n  buffer_ticks: 2\n")
    layers = ConfigLayers([layer])
    grid = parse_grid(EVERY_AXIS, WHERE, LIMIT)
    configs = build_configs(layers, grid)
    assert len(configs) == len(grid.combinations) > 100
    for combo, cfg in zip(grid.combinations, configs, strict=True):
        full = layers.build(combo, overrides_source=WHERE)
        assert cfg == full
        assert cfg.config_hash() == full.config_hash()
        assert cfg.source_of("stop.lookback") == WHERE
        assert cfg.source_of("stop.buffer_ticks") == str(layer)
    # unchanged sections are the base's own objects; equal touched ones are shared
    assert len({id(c.market) for c in configs}) == 1
    assert len({id(c.stop) for c in configs}) == len({c.stop for c in configs})


def test_a_bad_value_after_the_first_is_the_same_one_line_error() -> None:
    grid = parse_grid({"signals.rsi.period": [14, 15, 2.5]}, WHERE, LIMIT)
    with pytest.raises(ConfigError) as caught:
        build_configs(ConfigLayers(), grid)
    assert caught.value.line() == "grid.yaml: signals.rsi.period: expected a whole number, got 2.5"


def test_each_distinct_section_is_validated_once() -> None:
    builder = CombinationBuilder(ConfigLayers(), WHERE)
    first = builder.build({"stop.lookback": 10, "exits.trailing_stop": True})
    second = builder.build({"stop.lookback": 10, "exits.trailing_stop": False})
    assert first.stop is second.stop
    assert first.signals is second.signals is builder.base.signals
