"""Layered YAML config: defaults from STRATEGY.md, overrides, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from xmtrade.config import AppConfig, default_config_path, load_config
from xmtrade.errors import ConfigError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_strategy_spec() -> None:
    cfg = load_config()
    assert cfg.instrument.symbol == "1810.HK"
    assert cfg.instrument.board_lot == 200
    assert (cfg.signals.rsi.period, cfg.signals.rsi.oversold) == (14, 30)
    assert (cfg.signals.macd.fast, cfg.signals.macd.slow, cfg.signals.macd.signal) == (12, 26, 9)
    assert (cfg.signals.divergence.lookback, cfg.signals.divergence.swing_k) == (60, 5)
    assert cfg.entry.require == "any"
    assert cfg.sizing.target_weight_pct.tactical == 5
    assert cfg.sizing.max_weight_pct == 15
    assert cfg.sizing.risk_per_trade_pct == 2
    assert (cfg.stop.lookback, cfg.stop.buffer_ticks, cfg.stop.fixed_price) == (20, 1, None)
    assert (cfg.costs.commission_pct, cfg.costs.commission_min) == (0.03, 3)
    assert cfg.costs.slippage_ticks == 1
    assert cfg.market.calendar == "XHKG"
    assert [str(d) for d in cfg.market.adhoc_closures] == ["2023-09-01", "2023-09-08"]
    assert [str(t.effective) for t in cfg.market.tick_tables] == ["1990-01-01", "2025-08-04"]
    assert set(cfg.market.charges) == {
        "stamp_duty",
        "sfc_levy",
        "afrc_levy",
        "trading_fee",
        "settlement_fee",
    }


def test_later_files_override_earlier_ones(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yaml", "signals:\n  rsi:\n    oversold: 25\n")
    over = write(tmp_path, "over.yaml", "signals:\n  rsi:\n    oversold: 35\n")
    assert load_config([base]).signals.rsi.oversold == 25
    assert load_config([base, over]).signals.rsi.oversold == 35
    assert load_config([over, base]).signals.rsi.oversold == 25
    # keys not named keep their defaults
    assert load_config([base, over]).signals.rsi.period == 14


def test_config_is_frozen() -> None:
    cfg = load_config()
    with pytest.raises(ValidationError):
        cfg.signals.rsi.oversold = 10  # type: ignore[misc]


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "signals:\n  rsi:\n    oversld: 25\n")
    with pytest.raises(ConfigError) as err:
        load_config([bad])
    assert err.value.line() == (
        f"{bad}: signals.rsi.oversld: unknown key (expected one of: period, oversold); "
        "did you mean 'signals.rsi.oversold'?"
    )


def test_unknown_top_level_section(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "sizng:\n  max_weight_pct: 10\n")
    with pytest.raises(ConfigError, match=r"sizng: unknown key .*did you mean 'sizing'\?"):
        load_config([bad])


def test_wrong_type_names_file_field_and_value(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "signals:\n  rsi:\n    period: fourteen\n")
    with pytest.raises(ConfigError) as err:
        load_config([bad])
    line = err.value.line()
    assert line.startswith(f"{bad}: signals.rsi.period: expected a whole number")
    assert "'fourteen'" in line


def test_out_of_range_value(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "sizing:\n  risk_per_trade_pct: -1\n")
    with pytest.raises(ConfigError, match=r"sizing\.risk_per_trade_pct: .*greater than 0"):
        load_config([bad])


def test_end_before_start(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "backtest:\n  start: 2024-01-01\n  end: 2023-01-01\n")
    with pytest.raises(ConfigError) as err:
        load_config([bad])
    assert err.value.line() == f"{bad}: backtest: end (2023-01-01) is before start (2024-01-01)"


def test_bad_yaml_names_line_and_column(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "signals:\n  rsi: [14,\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: invalid YAML at line \d+, column \d+"):
        load_config([bad])


def test_not_a_mapping(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping of keys, got list"):
        load_config([bad])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        load_config([tmp_path / "nope.yaml"])


def test_empty_file_changes_nothing(tmp_path: Path) -> None:
    empty = write(tmp_path, "empty.yaml", "# nothing here\n")
    assert load_config([empty]).config_hash() == load_config().config_hash()


def test_hash_follows_every_value(tmp_path: Path) -> None:
    base = load_config().config_hash()
    tweak = write(tmp_path, "t.yaml", "costs:\n  commission_min: 3.01\n")
    assert load_config([tweak]).config_hash() != base
    assert load_config().config_hash() == base


def test_show_output_round_trips(tmp_path: Path) -> None:
    override = write(tmp_path, "o.yaml", "exits:\n  rsi_overbought: 65\n")
    cfg = load_config([override])
    shown = write(tmp_path, "shown.yaml", cfg.to_yaml())
    assert load_config([shown]).config_hash() == cfg.config_hash()


def test_overrides_from_the_command_line_are_checked() -> None:
    assert load_config(overrides={"stop.lookback": 10}).stop.lookback == 10
    with pytest.raises(ConfigError, match=r"command line: stop\.lookbak: unknown key"):
        load_config(overrides={"stop.lookbak": 10})


def test_packaged_default_is_complete() -> None:
    assert default_config_path().is_file()
    assert isinstance(load_config(), AppConfig)


def test_error_names_the_layer_that_broke_a_cross_field_rule(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", "instrument:\n  symbol: '1810.HK'\n")
    second = write(tmp_path, "b.yaml", "signals:\n  macd:\n    fast: 30\n")
    with pytest.raises(ConfigError) as err:
        load_config([first, second])
    assert err.value.line().startswith(f"{second}: signals.macd: fast (30) must be below slow")


def test_hash_leaves_the_facts_file_to_its_own_digest(tmp_path: Path) -> None:
    shipped = load_config()
    copy = tmp_path / "facts.csv"
    copy.write_bytes(shipped.fundamentals.file.read_bytes())
    moved = write(tmp_path, "m.yaml", "fundamentals:\n  file: facts.csv\n")
    assert load_config([moved]).fundamentals.file == copy
    assert load_config([moved]).config_hash() == shipped.config_hash()
    assert load_config([moved]).facts_digest() == shipped.facts_digest()
    copy.write_bytes(copy.read_bytes() + b"revenue,2025Q4,2025-12-31,2026-03-20,,1,RMB_m,x,H\n")
    assert load_config([moved]).config_hash() == shipped.config_hash()
    assert load_config([moved]).facts_digest() != shipped.facts_digest()


def test_hash_leaves_out_the_starting_cash_and_the_paper_and_sweep_sections(
    tmp_path: Path,
) -> None:
    base = load_config().config_hash()
    other = write(
        tmp_path,
        "o.yaml",
        "backtest:\n  initial_nav: 5000000\npaper:\n  retry:\n    max_delay_seconds: 3600\n"
        "sweep:\n  jobs: 1\n",
    )
    assert load_config([other]).config_hash() == base


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "signals:\n  rsi:\n    oversold: 25\n    oversold: 35\n",
            "invalid YAML at line 4, column 5: key 'oversold' is given twice",
        ),
        (
            "backtest: {start: 2024-02-30}\n",
            "backtest.start: expected a valid date or datetime, day value is outside expected "
            "range, got '2024-02-30'",
        ),
        (
            "costs: {commission_pct: .inf}\n",
            "costs.commission_pct: expected a finite number, got inf",
        ),
        ("fundamentals: {file: nope.csv}\n", "fundamentals: facts file {dir}/nope.csv not found"),
    ],
)
def test_more_bad_values(tmp_path: Path, text: str, expected: str) -> None:
    bad = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_config([bad])
    assert err.value.line().startswith(f"{bad}: " + expected.format(dir=tmp_path))
