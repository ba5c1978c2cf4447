"""`xmtrade config validate|show`, and how every command finds its config layers: the
packaged defaults, then `./xmtrade.yaml` when the current folder has one, then each `-c`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from xmtrade.config import (
    HASH_COVERS,
    AppConfig,
    changed_checkout_defaults,
    default_config_path,
    load_config,
    user_config_path,
)
from xmtrade.errors import ConfigError

NOTES_SAID: set[str] = set()  # each note once per command (`paper run` loads it each slot)


def register(verbs: Any, common: argparse.ArgumentParser) -> None:
    """Add the `config` verb and its sub-verbs."""
    parser = verbs.add_parser("config", help="validate or show the merged configuration")
    sub = parser.add_subparsers(dest="config_verb", metavar="ACTION", parser_class=type(parser))
    sub.required = True
    validate = sub.add_parser(
        "validate",
        parents=[common],
        help="check the config layers; exit 2 on the first problem",
        description="Check the packaged defaults with ./xmtrade.yaml and every -c layer over "
        "them: keys, types, ranges, the exchange calendar, and the facts file with the checks of "
        "`xmtrade facts check`. Exit 2 on the first problem.",
    )
    validate.set_defaults(handler=run_validate)
    show = sub.add_parser(
        "show",
        parents=[common],
        help="print the merged configuration as YAML",
        description="Print the merged configuration (defaults, ./xmtrade.yaml and every -c "
        "layer) as YAML, with its hash. The output works as a config file itself.",
    )
    show.add_argument(
        "--diff",
        action="store_true",
        help="print only the values that differ from the packaged defaults",
    )
    show.set_defaults(handler=run_show)


def config_files(args: argparse.Namespace) -> list[Path]:
    """The layers over the packaged defaults: `./xmtrade.yaml` (said once on stderr), then
    each `-c`. Also warns once when this folder is an xmtrade checkout whose
    `configs/default.yaml` is not the packaged copy the program reads."""
    given = [Path(p) for p in getattr(args, "config", [])]
    checkout = changed_checkout_defaults()
    if checkout is not None and "checkout" not in NOTES_SAID:
        NOTES_SAID.add("checkout")
        print(
            f"xmtrade: warning: {checkout} differs from the packaged defaults this program "
            f"reads ({default_config_path()}); edits there do nothing until you reinstall "
            "(pip install .), or pass it with -c configs/default.yaml",
            file=sys.stderr,
        )
    user = user_config_path()
    if user is None or any(p.resolve() == user.resolve() for p in given if p.exists()):
        return given
    if "user" not in NOTES_SAID:
        NOTES_SAID.add("user")
        after = " and the -c files" if given else ""
        print(
            f"xmtrade: using ./{user.name} (over the packaged defaults{after})",
            file=sys.stderr,
        )
    return [user, *given]


def layer_names(files: list[Path]) -> str:
    """The layers in words: `defaults, ./xmtrade.yaml, o.yaml`."""
    return ", ".join(["defaults", *(str(p) for p in files)])


def load_from_args(args: argparse.Namespace) -> AppConfig:
    """The config of a command: the packaged defaults, `./xmtrade.yaml`, each `-c`."""
    return load_config(config_files(args))


def run_validate(args: argparse.Namespace) -> int:
    """Validate and print a one-line verdict."""
    files = config_files(args)
    cfg = load_config(files)
    import exchange_calendars

    if cfg.market.calendar not in exchange_calendars.get_calendar_names():
        raise ConfigError(
            cfg.source_of("market.calendar"),
            "market.calendar",
            f"unknown exchange calendar {cfg.market.calendar!r} (expected an exchange_calendars "
            "code such as XHKG)",
        )
    from data_feeds.facts_check import require_usable_facts
    from strategies.binding import never_binding

    facts = require_usable_facts(cfg.fundamentals.file)
    prices = _check_against_prices(cfg, args)
    print(f"config OK ({layer_names(files)}); hash {cfg.config_hash()}; {HASH_COVERS}")
    print(
        f"facts file OK: {cfg.fundamentals.file} ({cfg.facts_digest()}; {facts.summary()}; "
        f"every finding: xmtrade facts check {cfg.fundamentals.file})"
    )
    if prices:
        print(prices)
    for warning in never_binding(cfg):
        print(f"warning: never binds: {warning}")
    return 0


def _check_against_prices(cfg: AppConfig, args: argparse.Namespace) -> str | None:
    """When the data directory holds the instrument's prices, check the backtest window and
    every lookback against them (else each command checks them when it runs); the line
    that says so, or None when no prices are cached."""
    from data_feeds.cache import PriceCache
    from xmtrade.home import prices_dir, resolve_data_dir

    cache = PriceCache(prices_dir(resolve_data_dir(getattr(args, "data_dir", None))))
    if not cache.exists(cfg.instrument.symbol):
        return None
    from xmtrade.backtest import resolve_window

    bars = cache.load(cfg.instrument.symbol)
    first, last = resolve_window(cfg, bars, None, None)
    return (
        f"prices OK: {len(bars):,} sessions cached ({cache.path_for(cfg.instrument.symbol)}); "
        f"the window {first} to {last} and every lookback fit them"
    )


def run_show(args: argparse.Namespace) -> int:
    """Print the merged config with its hash (only what differs from the defaults with
    `--diff`)."""
    files = config_files(args)
    cfg = load_config(files)
    print(f"# merged from: {layer_names(files)}")
    print(f"# config hash: {cfg.config_hash()}; {HASH_COVERS}")
    if not args.diff:
        print(cfg.to_yaml(), end="")
        return 0
    import yaml

    changed = _differences(cfg.model_dump(mode="json"), load_config().model_dump(mode="json"))
    if not changed:
        print("# no value differs from the packaged defaults")
        return 0
    print("# only the values that differ from the packaged defaults:")
    print(yaml.safe_dump(changed, sort_keys=False, allow_unicode=True), end="")
    return 0


def _differences(values: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The nested mapping of `values` that differ from `defaults` (lists count whole)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        default = defaults.get(key)
        if isinstance(value, dict) and isinstance(default, dict):
            inner = _differences(value, default)
            if inner:
                out[key] = inner
        elif value != default:
            out[key] = value
    return out
