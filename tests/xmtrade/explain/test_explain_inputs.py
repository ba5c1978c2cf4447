"""Every input of `xmtrade explain` a user can get wrong is one line and exit code 2, before
anything runs or is written; the variant table and its YAML extension."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from xmtrade.config import ConfigLayers
from xmtrade.explain.variants import (
    VARIANTS,
    Variant,
    expand,
    load_variants,
    variant_configs,
    variant_table,
)

Fails = Callable[[list[str]], str]


def _file(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_table_has_one_variant_per_rule_family() -> None:
    names = [v.name for v in VARIANTS]
    assert names == ["no_gate", "no_risk_lines", "no_ps_ceiling", "no_breaker",
                     "no_trailing_stop", "rsi_only", "divergence_only", "stage1_only",
                     "gap_keep", "zero_costs"]  # fmt: skip
    layers = ConfigLayers()
    plan = layers.build()
    configs = variant_configs(layers, plan, VARIANTS)
    by_name = dict(zip(names, configs, strict=True))
    assert by_name["no_risk_lines"].risk.rules == ()
    assert by_name["no_breaker"].risk.drawdown_breaker is None
    assert by_name["no_ps_ceiling"].valuation.ps_ceiling is None
    assert by_name["stage1_only"].stages.max_stage == 1
    assert by_name["gap_keep"].entry.gap_rule == "keep"
    assert by_name["no_trailing_stop"].exits.trailing_stop is False
    zero = by_name["zero_costs"]
    assert set(zero.market.charges) == set(plan.market.charges)
    assert all(p.rate_pct == 0 for c in zero.market.charges.values() for p in c.periods)
    assert zero.costs.commission_pct == zero.costs.commission_min == zero.costs.slippage_ticks == 0
    # each variant changes its own family and nothing else
    for name, cfg in by_name.items():
        assert cfg != plan, name
        assert cfg.signals.rsi.period == plan.signals.rsi.period


def test_the_neutral_signal_settings_never_fire_on_the_shared_prices(real_bars: object) -> None:
    import pandas as pd

    from xmtrade.backtest import signals_for

    layers = ConfigLayers()
    plan = layers.build()
    variants = [v for v in VARIANTS if v.silences]
    for variant, cfg in zip(variants, variant_configs(layers, plan, variants), strict=True):
        signals = signals_for(cfg, real_bars)  # type: ignore[arg-type]
        assert isinstance(signals, pd.DataFrame)
        for column in variant.silences:
            assert not signals[column].any(), (variant.name, column)
    base = signals_for(plan, real_bars)  # type: ignore[arg-type]
    assert base["divergence"].any() and base["rsi_oversold"].any()


def test_a_star_stands_for_every_key_of_the_plans_mapping() -> None:
    plan = {"market": {"charges": {"a": {"periods": [1]}, "b": {"periods": [2]}}}}
    assert expand({"market.charges.*.periods": []}, plan, "here") == {
        "market.charges.a.periods": [],
        "market.charges.b.periods": [],
    }
    assert expand({"x.y": 1}, plan, "here") == {"x.y": 1}


def test_a_variants_file_adds_and_replaces(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        "v.yaml",
        "variants:\n"
        "  wide_stop:\n    label: stop over 40 sessions\n    overrides: {stop.lookback: 40}\n"
        "  no_gate:\n    rule: the gate\n    overrides: {gate.on_unknown: pass}\n",
    )
    extra = load_variants(Path(path))
    table = variant_table(extra)
    assert [v.name for v in table][:1] == ["no_gate"] and table[0].rule == "the gate"
    assert table[-1].name == "wide_stop" and table[-1].rule == "stop over 40 sessions"
    assert len(table) == len(VARIANTS) + 1
    layers = ConfigLayers()
    configs = variant_configs(layers, layers.build(), table)
    assert configs[-1].stop.lookback == 40


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("variants:\n  x:\n    overrides: {stop.lookbak: 40}\n", "stop.lookbak: unknown key"),
        ("variants:\n  x:\n    overrides: {stop.lookback: -1}\n", "stop.lookback"),
        ("variants:\n  x:\n    overrides: {stop.lookback: 4}\n    colour: red\n",
         "variants.x.colour: unknown key"),
        ("variants:\n  x:\n    label: y\n", "variants.x.overrides: expected a mapping"),
        ("variants:\n  Bad Name:\n    overrides: {stop.lookback: 4}\n", "variants.Bad Name"),
        ("variants:\n  plan:\n    overrides: {stop.lookback: 4}\n", "variants.plan"),
        ("variant:\n  x: {}\n", "variant: unknown key"),
        ("variants: []\n", "variants: expected a mapping"),
        ("variants:\n  x:\n    overrides: {stop.lookback.*: 4}\n", "'*' needs a mapping"),
    ],
)  # fmt: skip
def test_bad_variants_files(tmp_path: Path, fails: Fails, text: str, expected: str) -> None:
    path = _file(tmp_path, "v.yaml", text)
    line = fails(["explain", "--variants", path, "--out", str(tmp_path / "out")])
    assert path in line and expected in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("regimes:\n  fall:\n    start: 2021-02-18\n", "regimes.fall.end: expected a date"),
        ("regimes:\n  fall: {start: 2022-01-01, end: 2021-01-01}\n", "is before start"),
        ("regimes:\n  fall: {start: 2021-01-01, end: 2022-01-01, step: 2}\n", "unknown key"),
        ("regimes:\n  future: {start: 2040-01-01, end: 2041-01-01}\n", "holds no session"),
        ("regime: {}\n", "regime: unknown key"),
    ],
)
def test_bad_regimes_files(
    tmp_path: Path, fails: Fails, real_home: Path, text: str, expected: str
) -> None:
    path = _file(tmp_path, "r.yaml", text)
    line = fails(
        ["explain", "--regimes", path, "--data-dir", str(real_home), "--out", str(tmp_path / "o")]
    )
    assert path in line and expected in line, line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--resamples", "5"], "--resamples: expected 100 to 100,000, got 5"),
        (["--seed", "-1"], "--seed: expected 0 or more"),
        (["--report", "pdf"], "--report: expected html or none"),
        (["--jobs", "-2"], "--jobs: expected 0 or more"),
        (["--start", "2021-13-01"], "--start: expected a date"),
        (["--start", "2022-01-01", "--end", "2021-01-01"], "is before --start"),
        (["--variants", "/nonexistent/v.yaml"], "file not found"),
        (["--out", ""], "--out: expected a folder"),
    ],
)
def test_bad_options(tmp_path: Path, fails: Fails, args: list[str], expected: str) -> None:
    line = fails(["explain", *args])
    assert expected in line, line


def test_an_out_folder_holding_other_files_is_refused(
    tmp_path: Path, fails: Fails, real_home: Path
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    line = fails(["explain", "--data-dir", str(real_home), "--out", str(out)])
    assert "holds files that are not an explanation's" in line
    assert (out / "notes.txt").read_text(encoding="utf-8") == "keep me"
    a_file = tmp_path / "file"
    a_file.write_text("x", encoding="utf-8")
    assert "is a file" in fails(["explain", "--data-dir", str(real_home), "--out", str(a_file)])


def test_no_prices_is_one_line(tmp_path: Path, fails: Fails) -> None:
    line = fails(["explain", "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert "1810.HK" in line
    assert not (tmp_path / "o").exists()


def test_variant_is_a_frozen_row() -> None:
    row = Variant("x", "x", "x", {"a.b": 1})
    with pytest.raises(AttributeError):
        row.name = "y"  # type: ignore[misc]
