"""The variants of `xmtrade explain`: one per rule family, each the plan's config with that
family switched off or set to its neutral value, as dotted config overrides.

The built-in table (`VARIANTS`) is the one definition; `--variants FILE` adds to it (a name
already in the table replaces that row). A key may hold `*` for "every key of this mapping
in the plan's config" (`market.charges.*.periods`: every statutory charge, whatever the
config names them). A variant may also name signal columns that must never fire in it
(`silences`): the neutral setting of an entry signal is a value that cannot trigger it, and
the run checks that it did not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xmtrade.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from xmtrade.config import AppConfig, ConfigLayers

PLAN = "plan"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
VARIANT_KEYS = ("label", "rule", "overrides")
ZERO_CHARGE = ({"start": date(1990, 1, 1), "rate_pct": 0},)


@dataclass(frozen=True)
class Variant:
    """One row of the explanation: a name, what it is in words, and its overrides."""

    name: str
    label: str  # the row: "no fundamental gate"
    rule: str  # the part of the plan it takes away, for the summary: "the gate"
    overrides: Mapping[str, Any]
    silences: tuple[str, ...] = ()  # signal columns that must not fire in this variant
    source: str = "built-in"
    notes: tuple[str, ...] = field(default=())


VARIANTS: tuple[Variant, ...] = (
    Variant(
        "no_gate",
        "no fundamental gate",
        "the fundamental gate",
        {"gate.enabled": False},  # every report counts as a pass: stages open on signals
    ),
    Variant("no_risk_lines", "no risk lines", "the risk lines", {"risk.rules": []}),
    Variant("no_ps_ceiling", "no P/S ceiling", "the P/S ceiling", {"valuation.ps_ceiling": None}),
    Variant(
        "no_breaker",
        "no drawdown breaker",
        "the drawdown breaker",
        {"risk.drawdown_breaker": None},
    ),
    Variant(
        "no_trailing_stop",
        "no trailing stop",
        "the trailing stop",
        {"exits.trailing_stop": False},
    ),
    Variant(
        "rsi_only",
        "RSI entries only",
        "the divergence entries",
        # a divergence needs its second swing low known (swing_k bars late) within lookback
        # bars of it: lookback 2 < swing_k 3 can never confirm one
        {
            "entry.require": "any",
            "signals.divergence.lookback": 2,
            "signals.divergence.swing_k": 3,
        },
        silences=("divergence",),
    ),
    Variant(
        "divergence_only",
        "divergence entries only",
        "the RSI entries",
        # RSI below 1e-9 would need a window without a single up close
        {"entry.require": "any", "signals.rsi.oversold": 1e-9},
        silences=("rsi_oversold",),
    ),
    Variant("stage1_only", "stage 1 only", "the stage 2 and 3 adds", {"stages.max_stage": 1}),
    Variant(
        "gap_keep",
        "gap rule keep",
        "the pre-opening gap rule",
        {"entry.gap_rule": "keep"},
    ),
    Variant(
        "zero_costs",
        "zero costs",
        "costs",
        {
            "costs.commission_pct": 0,
            "costs.commission_min": 0,
            "costs.slippage_ticks": 0,
            "market.charges.*.periods": list(ZERO_CHARGE),
        },
    ),
)


def expand(overrides: Mapping[str, Any], plan: Mapping[str, Any], where: str) -> dict[str, Any]:
    """`overrides` with every `*` part replaced by each key of the plan's mapping there."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        for concrete in _keys(key.split("."), plan, "", where, key):
            out[concrete] = value
    return out


def _keys(parts: list[str], node: Any, prefix: str, where: str, key: str) -> list[str]:
    if not parts:
        return [prefix.rstrip(".")]
    head, rest = parts[0], parts[1:]
    if head != "*":
        child = node.get(head) if isinstance(node, Mapping) else None
        return _keys(rest, child, f"{prefix}{head}.", where, key)
    if not isinstance(node, Mapping) or not node:
        raise ConfigError(where, key, f"'*' needs a mapping of keys at {prefix.rstrip('.')}")
    found: list[str] = []
    for name in node:
        found += _keys(rest, node[name], f"{prefix}{name}.", where, key)
    return found


def load_variants(path: Path) -> list[Variant]:
    """The variants of a YAML file: `variants: {name: {label, rule, overrides}}`; every
    mistake is a one-line error naming the file and the key."""
    from xmtrade.config import read_yaml_mapping

    where = str(path)
    data = read_yaml_mapping(path)
    extra = [k for k in data if k != "variants"]
    if extra:
        raise ConfigError(where, str(extra[0]), "unknown key (expected: variants)")
    table = data.get("variants")
    if not isinstance(table, Mapping) or not table:
        raise ConfigError(where, "variants", "expected a mapping of variant names to variants")
    out: list[Variant] = []
    for name, body in table.items():
        at = f"variants.{name}"
        if not isinstance(name, str) or not NAME.match(name) or name == PLAN:
            raise ConfigError(
                where, at, "expected a name of lower-case letters, digits and _ (not 'plan')"
            )
        if not isinstance(body, Mapping):
            raise ConfigError(where, at, "expected a mapping with label, rule and overrides")
        unknown = [k for k in body if k not in VARIANT_KEYS]
        if unknown:
            raise ConfigError(
                where, f"{at}.{unknown[0]}", f"unknown key (expected: {', '.join(VARIANT_KEYS)})"
            )
        overrides = body.get("overrides")
        if not isinstance(overrides, Mapping) or not overrides:
            raise ConfigError(
                where, f"{at}.overrides", "expected a mapping of dotted config keys to values"
            )
        bad = [k for k in overrides if not isinstance(k, str) or not k.strip()]
        if bad:
            raise ConfigError(where, f"{at}.overrides", f"expected dotted keys, got {bad[0]!r}")
        label = body.get("label", name.replace("_", " "))
        rule = body.get("rule", label)
        for key, text in (("label", label), ("rule", rule)):
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(where, f"{at}.{key}", "expected a short text")
        out.append(Variant(name, label, rule, dict(overrides), source=where))
    return out


def variant_table(extra: Sequence[Variant] = ()) -> list[Variant]:
    """The built-in variants, then `extra` (one with a built-in name replaces it in place)."""
    table = {v.name: v for v in VARIANTS}
    for variant in extra:
        table[variant.name] = variant
    return list(table.values())


def variant_configs(
    layers: ConfigLayers, plan: AppConfig, variants: Sequence[Variant]
) -> list[AppConfig]:
    """Each variant's config: the plan's layers with its overrides on top, validated (an
    unknown key or a bad value is a one-line error naming the variant's file and name)."""
    values = plan.model_dump(mode="python")
    configs = []
    for variant in variants:
        where = f"{variant.source}: variant {variant.name}"
        cfg = layers.build(expand(variant.overrides, values, where), overrides_source=where)
        if cfg.instrument.symbol != plan.instrument.symbol:
            raise ConfigError(where, "instrument.symbol", "a variant trades the plan's symbol")
        configs.append(cfg)
    return configs


def check_silences(
    variants: Sequence[Variant], configs: Sequence[AppConfig], bars: pd.DataFrame, first: date
) -> None:
    """Every signal a variant switches off stays off over the traded window (else the
    variant would not be what its name says: a one-line error)."""
    import pandas as pd

    from xmtrade.backtest import signals_for

    for variant, cfg in zip(variants, configs, strict=True):
        if not variant.silences:
            continue
        signals = signals_for(cfg, bars).loc[pd.Timestamp(first) :]
        for column in variant.silences:
            fired = signals.index[signals[column].to_numpy(dtype=bool)]
            if len(fired):
                raise ConfigError(
                    f"variant {variant.name}",
                    column,
                    f"still fires on {fired[0].date()}: its neutral setting does not switch "
                    "it off on these prices",
                )


def overrides_text(variant: Variant) -> str:
    """The overrides in one line, for tables and the page."""
    return ", ".join(f"{k}={_show(v)}" for k, v in variant.overrides.items())


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)
