"""Grid files: expansion (lists, ranges, pinned values, nesting, sampling) and every bad grid
as one line naming the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from xmtrade.config import ConfigLayers, load_config
from xmtrade.errors import ConfigError
from xmtrade.sweep.grid import load_grid, nest, parse_grid
from xmtrade.sweep.runner import build_configs

WHERE = "grid.yaml"
LIMIT = 10_000


def expand(spec: dict[str, Any], limit: int = LIMIT) -> list[dict[str, Any]]:
    return list(parse_grid(spec, WHERE, limit).combinations)


def error(spec: dict[str, Any], limit: int = LIMIT) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_grid(spec, WHERE, limit)
    return caught.value.line()


def test_cartesian_product_in_file_order_last_field_fastest() -> None:
    combos = expand({"signals.rsi.oversold": [25, 30], "stop.lookback": [10, 20, 30]})
    assert combos == [
        {"signals.rsi.oversold": 25, "stop.lookback": 10},
        {"signals.rsi.oversold": 25, "stop.lookback": 20},
        {"signals.rsi.oversold": 25, "stop.lookback": 30},
        {"signals.rsi.oversold": 30, "stop.lookback": 10},
        {"signals.rsi.oversold": 30, "stop.lookback": 20},
        {"signals.rsi.oversold": 30, "stop.lookback": 30},
    ]


def test_ranges_include_the_stop_and_floats_are_exact() -> None:
    assert expand({"a.b": {"range": [20, 40, 5]}}) == [{"a.b": v} for v in (20, 25, 30, 35, 40)]
    assert expand({"a.b": {"range": [20, 38, 5]}}) == [{"a.b": v} for v in (20, 25, 30, 35)]
    assert expand({"a.b": {"range": [1, 3]}}) == [{"a.b": v} for v in (1, 2, 3)]
    floats = [c["a.b"] for c in expand({"a.b": {"range": [0.1, 0.3, 0.1]}})]
    assert floats == [0.1, 0.2, 0.3]
    assert all(isinstance(v, int) for v in (c["a.b"] for c in expand({"a.b": {"range": [1, 3]}})))


def test_pinned_values_nesting_and_explicit_value_lists() -> None:
    grid = parse_grid(
        {
            "signals": {"rsi": {"oversold": [25, 30]}},
            "exits.max_holding_sessions": 126,
            "market.adhoc_closures": {"values": [[], ["2023-09-01"]]},
        },
        WHERE,
        LIMIT,
    )
    assert grid.paths == [
        "signals.rsi.oversold",
        "exits.max_holding_sessions",
        "market.adhoc_closures",
    ]
    assert len(grid.combinations) == 4
    assert {c["exits.max_holding_sessions"] for c in grid.combinations} == {126}
    assert grid.varying == ["signals.rsi.oversold", "market.adhoc_closures"]


def test_random_sampling_is_reproducible_and_respects_each_distribution() -> None:
    spec = {
        "sample": {"count": 40, "seed": 7},
        "signals.rsi.oversold": {"uniform": [20, 40]},
        "signals.rsi.period": {"randint": [10, 20]},
        "entry.require": {"choice": ["any", "all"]},
        "stop.lookback": [10, 20],
    }
    first, again = expand(spec), expand(spec)
    assert first == again and len(first) == 40
    assert expand({**spec, "sample": {"count": 40, "seed": 8}}) != first
    for combo in first:
        assert 20 <= combo["signals.rsi.oversold"] <= 40
        assert round(combo["signals.rsi.oversold"], 6) == combo["signals.rsi.oversold"]
        assert isinstance(combo["signals.rsi.period"], int)
        assert 10 <= combo["signals.rsi.period"] <= 20
        assert combo["entry.require"] in ("any", "all")
        assert combo["stop.lookback"] in (10, 20)
    assert {c["signals.rsi.period"] for c in first} >= {10, 20}  # both ends reachable


def test_duplicate_draws_are_dropped() -> None:
    grid = parse_grid(
        {"sample": {"count": 50, "seed": 1}, "entry.require": {"choice": ["any", "all"]}},
        WHERE,
        LIMIT,
    )
    assert sorted(c["entry.require"] for c in grid.combinations) == ["all", "any"]
    assert grid.sample_count == 50


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "grid.yaml: empty grid: name at least one config field to vary"),
        ({"sample": {"count": 3, "seed": 1}}, "grid.yaml: empty grid"),
        ({"a.b": []}, "grid.yaml: a.b: empty list: no values to try"),
        ({"a": {}}, "grid.yaml: a: empty mapping: no values to try"),
        ({"a.b": {"ramge": [1, 2]}}, "grid.yaml: a.b: unknown spec 'ramge'"),
        ({"a.b": {"range": [1, 5], "values": [1]}}, "grid.yaml: a.b: expected one of"),
        ({"a.b": {"range": [5, 1]}}, "grid.yaml: a.b.range: stop (1) is below start (5)"),
        ({"a.b": {"range": [1, 5, 0]}}, "grid.yaml: a.b.range: step must be positive"),
        ({"a.b": {"range": [1, "x"]}}, "grid.yaml: a.b.range: expected [start, stop]"),
        ({"a.b": {"uniform": [1, 2]}}, "grid.yaml: a.b: a random distribution needs"),
        (
            {"sample": {"count": 3, "seed": 1}, "a.b": {"randint": [1, 2.5]}},
            "grid.yaml: a.b.randint: expected [low, high], two integers",
        ),
        ({"sample": {"count": 3}, "a.b": [1]}, "grid.yaml: sample: expected {count: N, seed: S}"),
        (
            {"sample": {"count": 0, "seed": 1}, "a.b": [1]},
            "grid.yaml: sample.count: expected at least 1",
        ),
    ],
)
def test_bad_grids_are_one_line(spec: dict[str, Any], message: str) -> None:
    assert error(spec).startswith(message)


def test_a_grid_bigger_than_the_limit_is_refused() -> None:
    line = error({"a.b": list(range(100)), "c.d": list(range(100))}, limit=5000)
    assert "10,000 combinations is more than sweep.max_combinations (5,000)" in line
    assert "sample" in line


def test_unknown_field_says_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text("signals.rsi.oversld: [25, 30]\n")
    grid = load_grid(path, LIMIT)
    with pytest.raises(ConfigError) as caught:
        build_configs(ConfigLayers(), grid)
    assert caught.value.line() == (
        f"{path}: signals.rsi.oversld: unknown key (expected one of: period, oversold); "
        "did you mean 'signals.rsi.oversold'?"
    )


def test_the_first_combination_with_a_wrong_type_is_reported_with_its_path() -> None:
    grid = parse_grid({"signals.rsi.period": [14, 15, "fourteen", 2.5]}, WHERE, LIMIT)
    with pytest.raises(ConfigError) as caught:
        build_configs(ConfigLayers(), grid)
    line = caught.value.line()
    assert line.startswith("grid.yaml: signals.rsi.period: expected")
    assert "'fourteen'" in line


def test_a_cross_field_error_of_a_combination_names_the_grid() -> None:
    grid = parse_grid({"signals.macd.fast": [12, 30]}, WHERE, LIMIT)
    with pytest.raises(ConfigError) as caught:
        build_configs(ConfigLayers(), grid)
    assert caught.value.line() == "grid.yaml: signals.macd: fast (30) must be below slow (26)"


def test_a_sweep_cannot_vary_the_instrument() -> None:
    grid = parse_grid({"instrument.symbol": ["1810.HK", "0700.HK"]}, WHERE, LIMIT)
    with pytest.raises(ConfigError, match="a sweep runs on one price series"):
        build_configs(ConfigLayers(), grid)


def test_combination_configs_equal_load_config_with_the_same_overrides(tmp_path: Path) -> None:
    layer = tmp_path / "base.yaml"
    layer.write_text("stop:\n  lookback: 25\n")
    grid = parse_grid({"signals.rsi.oversold": [25, 35]}, WHERE, LIMIT)
    configs = build_configs(ConfigLayers([layer]), grid)
    for combo, cfg in zip(grid.combinations, configs, strict=True):
        assert cfg == load_config([layer], overrides=combo)
        assert cfg.stop.lookback == 25


def test_nest_builds_an_overlay() -> None:
    assert nest({"signals.rsi.oversold": 25, "signals.rsi.period": 10, "stop.lookback": 5}) == {
        "signals": {"rsi": {"oversold": 25, "period": 10}},
        "stop": {"lookback": 5},
    }


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).resolve().parents[3] / "configs" / "sweeps").glob("*.yaml"))
)
def test_every_example_grid_is_valid(path: Path) -> None:
    grid = load_grid(path, LIMIT)
    assert len(build_configs(ConfigLayers(), grid)) == len(grid.combinations) > 1


def test_repeated_values_run_once() -> None:
    grid = parse_grid({"signals.rsi.oversold": [30, 30, 30]}, WHERE, LIMIT)
    assert list(grid.combinations) == [{"signals.rsi.oversold": 30}]
    assert grid.duplicates == 2
    grid = parse_grid(
        {"signals.rsi.oversold": [30, 40, 30], "exits.exit_on_stage": [True, 1, True]},
        WHERE,
        LIMIT,
    )
    assert list(grid.combinations) == [
        {"signals.rsi.oversold": 30, "exits.exit_on_stage": True},
        {"signals.rsi.oversold": 30, "exits.exit_on_stage": 1},
        {"signals.rsi.oversold": 40, "exits.exit_on_stage": True},
        {"signals.rsi.oversold": 40, "exits.exit_on_stage": 1},
    ]
    assert grid.duplicates == 9 - 4
    assert parse_grid({"signals.rsi.oversold": [30, 40]}, WHERE, LIMIT).duplicates == 0


def test_repeated_values_count_against_the_limit_once() -> None:
    grid = parse_grid({"signals.rsi.oversold": [30] * 50}, WHERE, 10)
    assert len(grid.combinations) == 1
