"""Values that are legal but absurd, and deep or huge YAML (issue 20): each is one line naming
the file and the key with what was expected, exit code 2, before anything runs."""

from __future__ import annotations

from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from xmtrade.cli import main
from xmtrade.config import MAX_YAML_DEPTH, AppConfig, load_config, read_yaml_mapping
from xmtrade.errors import ConfigError


def fails(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the CLI expecting a user error; return its one line without the prefix."""
    capsys.readouterr()
    code = main(list(args))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("xmtrade: error: ")
    return lines[0].removeprefix("xmtrade: error: ")


def write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------- percent written as a fraction


@pytest.mark.parametrize(
    ("text", "key", "intent"),
    [
        ("sizing: {max_weight_pct: 0.15}\n", "sizing.max_weight_pct", "for 15% write 15"),
        (
            "sizing:\n  target_weight_pct: {tactical: 0.05, core: 0.1, full: 0.15}\n",
            "sizing.target_weight_pct",
            "for 5%, 10%, 15% write 5, 10, 15",
        ),
        ("sizing: {risk_per_trade_pct: 0.02}\n", "sizing.risk_per_trade_pct", "for 2% write 2"),
        (
            "risk: {drawdown_breaker: {max_drawdown_pct: 0.25}}\n",
            "risk.drawdown_breaker.max_drawdown_pct",
            "for 25% write 25",
        ),
        ("gate: {wacc: {fixed_pct: 0.09}}\n", "gate.wacc.fixed_pct", "for 9% write 9"),
    ],
)
def test_a_percent_written_as_a_fraction_says_the_likely_intent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, intent: str
) -> None:
    bad = write(tmp_path, text)
    line = fails(capsys, "config", "validate", "-c", str(bad))
    assert line.startswith(f"{bad}: {key}: "), line
    assert intent in line
    assert "allow_small_percent" in line
    # said explicitly, the small value is taken as written
    meant = write(tmp_path, f"{text}allow_small_percent: [{key}]\n", "meant.yaml")
    cfg = load_config([meant])
    assert cfg.allow_small_percent == (key,)
    # a realistic small risk budget is no unit mistake
    assert load_config([write(tmp_path, "sizing: {risk_per_trade_pct: 0.25}\n", "ok.yaml")])


def test_vouching_for_a_small_percent_changes_no_hash(tmp_path: Path) -> None:
    plain = load_config()
    vouched = load_config(
        [write(tmp_path, "allow_small_percent: [sizing.max_weight_pct]\n", "v.yaml")]
    )
    assert vouched.config_hash() == plain.config_hash()
    with pytest.raises(
        ConfigError, match=r"allow_small_percent: .*did you mean 'sizing.max_weight_pct'"
    ):
        load_config([write(tmp_path, "allow_small_percent: [sizing.max_weight]\n", "w.yaml")])


# ---------------------------------------------------------------- numbers too large


def _numeric_fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        args = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
        inner = [a for a in (args or (annotation,)) if a is not type(None)]
        for kind in inner:
            element = get_args(kind)[0] if get_origin(kind) is tuple else kind
            if isinstance(element, type) and issubclass(element, BaseModel):
                found += _numeric_fields(element, f"{prefix}{name}.")
            elif element in (int, float):
                found.append((f"{prefix}{name}", field))
            elif get_origin(element) is dict:
                value = get_args(element)[1]
                if isinstance(value, type) and issubclass(value, BaseModel):
                    found += _numeric_fields(value, f"{prefix}{name}.*.")
    return found


def test_every_numeric_field_has_an_upper_bound() -> None:
    fields = _numeric_fields(AppConfig)
    assert len(fields) > 50
    unbounded = [
        key
        for key, field in fields
        if not any(hasattr(m, "le") or hasattr(m, "lt") for m in field.metadata)
    ]
    assert unbounded == []


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("backtest: {initial_nav: " + "1" + "0" * 41 + "}\n", "backtest.initial_nav", "at most"),
        ("signals: {rsi: {period: 1" + "0" * 26 + "}}\n", "signals.rsi.period", "at most 1,000"),
        ("stop: {lookback: 1" + "0" * 30 + "}\n", "stop.lookback", "at most 10,000"),
        ("costs: {slippage_ticks: 1e300}\n", "costs.slippage_ticks", "at most"),
        ("instrument: {board_lot: 1" + "0" * 5000 + "}\n", None, "invalid value"),
    ],
)
def test_numbers_too_large_are_refused_at_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str | None, expected: str
) -> None:
    bad = write(tmp_path, text)
    line = fails(capsys, "config", "validate", "-c", str(bad))
    assert line.startswith(f"{bad}: {key}: " if key else f"{bad}: "), line
    assert expected in line
    assert len(line) < 400


# ---------------------------------------------------------------- deep or huge YAML


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested deeper than"),
        ("".join(" " * i + f"k{i}:\n" for i in range(3_000)) + " " * 3_000 + "x: 1\n", "nested"),
        (
            "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n"
                for i in range(8)
            ),
            "aliases expand to more than",
        ),
        ("a: &a\n  b: *a\n", "refers to the value that contains it"),
        ("instrument: {symbol: !!binary aGVsbG8=}\n", "the tag !!binary is not allowed"),
        ("instrument: {symbol: !!python/object:os.system x}\n", "!!python/object:os.system"),
        ("instrument: {symbol: !ticker 1810}\n", "the tag !ticker is not allowed"),
        ("signals: {rsi: {period: !!set {14}}}\n", "the tag !!set is not allowed"),
    ],
)
def test_deep_huge_and_tagged_yaml_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    bad = write(tmp_path, text)
    line = fails(capsys, "config", "validate", "-c", str(bad))
    assert line.startswith(f"{bad}: invalid YAML at line "), line
    assert expected in line


def test_the_bounds_hold_for_grids_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid = write(
        tmp_path, "grid:\n  signals.rsi.period: " + "[" * 200 + "]" * 200 + "\n", "grid.yaml"
    )
    line = fails(capsys, "sweep", "--grid", str(grid), "--data-dir", str(tmp_path / "home"))
    assert line.startswith(f"{grid}: invalid YAML at line 2"), line
    assert f"nested deeper than {MAX_YAML_DEPTH} levels" in line
    assert not (tmp_path / "home" / "sweeps").exists()


def test_merge_keys_layer_a_mapping(tmp_path: Path) -> None:
    layered = write(
        tmp_path,
        "risk:\n  rules:\n"
        "    - &rank\n      name: rank_exit\n      line: 1\n      metric: smartphone_rank\n"
        '      op: ">"\n      threshold: 4\n      reports_in_a_row: 1\n      action: exit\n'
        "      active_from: null\n"
        "    - <<: *rank\n      name: rank_block\n      threshold: 3\n      action: block\n",
    )
    rules = load_config([layered]).risk.rules
    assert [(r.name, r.threshold, r.action, r.metric) for r in rules] == [
        ("rank_exit", 4, "exit", "smartphone_rank"),
        ("rank_block", 3, "block", "smartphone_rank"),
    ]
    # a key written twice by hand is still an error, one overriding a merged key is not
    twice = write(tmp_path, "a: &a {x: 1}\nb:\n  <<: *a\n  y: 1\n  y: 2\n", "twice.yaml")
    with pytest.raises(ConfigError, match=r"line 5, column 3: key 'y' is given twice"):
        read_yaml_mapping(twice)


# ---------------------------------------------------------------- impossible dates


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("backtest: {start: 2023-02-30}\n", "backtest.start"),
        ("data: {history_start: 2019-13-01}\n", "data.history_start"),
        ("market: {adhoc_closures: [2023-09-01, 2023-04-31]}\n", "market.adhoc_closures.1"),
    ],
)
def test_an_impossible_date_names_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    bad = write(tmp_path, text)
    line = fails(capsys, "config", "validate", "-c", str(bad))
    assert line.startswith(f"{bad}: {key}: expected a valid date"), line


# ---------------------------------------------------------------- settings beyond the data


@pytest.fixture(scope="module")
def short_home(tmp_path_factory: pytest.TempPathFactory, shared_prices_csv: Path) -> Path:
    """A data directory holding the first 120 sessions of the real prices only."""
    folder = tmp_path_factory.mktemp("short_home")
    lines = shared_prices_csv.read_text().splitlines()[:121]
    short = folder / "short.csv"
    short.write_text("\n".join(lines) + "\n")
    assert main(["data", "import", str(short), "--data-dir", str(folder)]) == 0
    return folder


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("signals: {rsi: {period: 150}}\n", "signals.rsi.period", "150 (it needs 151 sessions)"),
        ("stop: {lookback: 121}\n", "stop.lookback", "121"),
        ("stop: {method: swing_low, swing_k: 60}\n", "stop.swing_k", "60 (it needs 121"),
        ("signals: {macd: {slow: 100, signal: 30}}\n", "signals.macd.signal", "30 (it needs 129"),
    ],
)
def test_a_lookback_longer_than_the_history_is_refused(
    short_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    key: str,
    value: str,
) -> None:
    bad = write(tmp_path, text)
    home = ["--data-dir", str(short_home), "-c", str(bad)]
    # at validate, where the data is known
    line = fails(capsys, "config", "validate", *home)
    assert line.startswith(f"{bad}: {key}: {value}"), line
    assert "120 sessions are available up to 2018-12-28" in line
    # and at run time, before any folder is made
    out = tmp_path / "run"
    assert fails(capsys, "backtest", *home, "--out", str(out), "--report", "none") == line
    assert not out.exists()
    # a lookback that fits is fine
    assert main(["config", "validate", "--data-dir", str(short_home)]) == 0
    assert "120 sessions cached" in capsys.readouterr().out


def test_a_sweep_combination_beyond_the_data_names_the_grid(
    short_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = write(tmp_path, "stop.lookback: [10, 500]\n", "grid.yaml")
    line = fails(capsys, "sweep", "--grid", str(grid), "--data-dir", str(short_home))
    assert line.startswith(f"{grid}: stop.lookback: combination 2 (stop.lookback=500): 500 is"), (
        line
    )
    assert not (short_home / "sweeps").exists()


# ---------------------------------------------------------------- paths


@pytest.mark.parametrize("verb", [["backtest"], ["sweep", "--grid", "configs/sweeps/exits.yaml"]])
def test_an_out_folder_that_cannot_be_one_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: list[str]
) -> None:
    home = ["--data-dir", str(tmp_path / "home")]
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "gone")
    line = fails(capsys, *verb, *home, "--out", str(dangling))
    assert line == (
        f"command line: --out: {dangling} is a symbolic link to {tmp_path / 'gone'}, which does "
        "not exist (expected a folder: remove the link or point it at a folder)"
    )
    assert dangling.is_symlink() and not (tmp_path / "gone").exists()
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    line = fails(capsys, *verb, *home, "--out", str(a_file / "run"))
    assert line == f"command line: --out: {a_file} is a file, so {a_file / 'run'} cannot be made"
    assert (
        fails(capsys, *verb, *home, "--out", "") == "command line: --out: expected a folder, got ''"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "dangling"]


def test_the_bounded_loader_reads_what_yaml_reads(tmp_path: Path) -> None:
    """libyaml's parser under the bounded composer gives PyYAML's own values."""
    import yaml

    from xmtrade.config import default_config_path

    for text in (
        default_config_path().read_text(),
        "a: &a {x: 1, y: [1, 2.5, null, true, 2024-01-02]}\nb:\n  <<: *a\n  y: text\n",
    ):
        path = write(tmp_path, text, "same.yaml")
        assert read_yaml_mapping(path) == yaml.safe_load(text)
