"""Checks beyond each field's own type and range: a percent written as a fraction, and
settings beyond the data (a lookback longer than the history)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from xmtrade.config.base import SMALL_PERCENT_RULES
from xmtrade.errors import ConfigError

if TYPE_CHECKING:
    from xmtrade.config.app import AppConfig

# ---------------------------------------------------------------- percent written as a fraction


def _percent_values(cfg: AppConfig, key: str) -> tuple[float, ...]:
    if key == "sizing.target_weight_pct":
        t = cfg.sizing.target_weight_pct
        return (t.tactical, t.core, t.full)
    node: Any = cfg
    for part in key.split("."):
        node = getattr(node, part, None)
    return (node,) if isinstance(node, int | float) and not isinstance(node, bool) else ()


def _refuse_unit_mistakes(cfg: AppConfig) -> None:
    """A percent that is legal but almost surely a fraction (`max_weight_pct: 0.15` meant as
    15%) is an error naming the file, the key and the likely intent, unless the config says
    the small value is meant (`allow_small_percent: [key]`)."""
    for key, below in SMALL_PERCENT_RULES.items():
        values = _percent_values(cfg, key)
        if key in cfg.allow_small_percent or not values:
            continue
        if all(0 < v < below for v in values):
            said = ", ".join(f"{v:g}" for v in values)
            means = ", ".join(f"{v:g}%" for v in values)
            meant = ", ".join(f"{v * 100:g}" for v in values)
            raise ConfigError(
                cfg.source_of(key),
                key,
                f"{said} {'are' if len(values) > 1 else 'is'} {means}; for "
                f"{', '.join(f'{m}%' for m in meant.split(', '))} write {meant} (percent keys "
                f"are written in percent; if {means} is meant, list {key} in "
                "allow_small_percent)",
            )


# ---------------------------------------------------------------- settings beyond the data


LOOKBACK_KEYS = (
    "signals.rsi.period",
    "signals.macd.slow",
    "signals.macd.signal",
    "signals.divergence.swing_k",
    "stop.lookback",
    "stop.atr_period",
    "stop.swing_k",
)


def lookbacks(cfg: AppConfig) -> list[tuple[str, int, int]]:
    """Each lookback `cfg` uses as (dotted key, value, sessions of history it needs before the
    indicator or level has a first value). `signals.divergence.lookback` is not one: it is the
    longest span between two swing lows, and a shorter history still finds divergences."""
    sig, stop = cfg.signals, cfg.stop
    needs = [
        ("signals.rsi.period", sig.rsi.period, sig.rsi.period + 1),
        ("signals.macd.slow", sig.macd.slow, sig.macd.slow),
        ("signals.macd.signal", sig.macd.signal, sig.macd.slow + sig.macd.signal - 1),
        ("signals.divergence.swing_k", sig.divergence.swing_k, 2 * sig.divergence.swing_k + 1),
    ]
    if stop.method in ("lowest_low", "lowest_low_atr", "fixed"):  # fixed: outside its dates
        needs.append(("stop.lookback", stop.lookback, stop.lookback))
    if stop.method in ("atr", "lowest_low_atr"):
        needs.append(("stop.atr_period", stop.atr_period, stop.atr_period + 1))
    if stop.method == "swing_low":
        needs.append(("stop.swing_k", stop.swing_k, 2 * stop.swing_k + 1))
    return needs


def require_history(
    cfg: AppConfig,
    sessions: int,
    up_to: date,
    prefix: str = "",
    sources: Mapping[str, str] | None = None,
) -> None:
    """Refuse a lookback longer than the `sessions` of history up to `up_to` (the last traded
    session): such a run could never trade. The error names the key, its value and the
    sessions available; `prefix` says which combination of a sweep it is, `sources` which
    file set each key when the config does not know (a sweep's grid)."""
    for key, value, needed in lookbacks(cfg):
        if needed > sessions:
            what = f"{value}" if needed == value else f"{value} (it needs {needed} sessions)"
            raise ConfigError(
                (sources or {}).get(key) or cfg.source_of(key),
                key,
                f"{prefix}{what} is longer than the history: {sessions} sessions are available "
                f"up to {up_to} (the run could never trade; shorten it or fetch more history)",
            )
