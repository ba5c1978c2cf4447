"""`xmtrade config validate|show`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from xmtrade.config import AppConfig, load_config
from xmtrade.errors import ConfigError


def register(verbs: Any, common: argparse.ArgumentParser) -> None:
    """Add the `config` verb and its sub-verbs."""
    parser = verbs.add_parser("config", help="validate or show the merged configuration")
    sub = parser.add_subparsers(dest="config_verb", metavar="ACTION", parser_class=type(parser))
    sub.required = True
    validate = sub.add_parser(
        "validate",
        parents=[common],
        help="check the config layers; exit 2 on the first problem",
        description="Check the packaged defaults with every -c layer over them: keys, types, "
        "ranges, the facts file and the exchange calendar. Exit 2 on the first problem.",
    )
    validate.set_defaults(handler=run_validate)
    show = sub.add_parser(
        "show",
        parents=[common],
        help="print the merged configuration as YAML",
        description="Print the merged configuration (defaults and every -c layer) as YAML, "
        "with its hash. The output works as a config file itself.",
    )
    show.set_defaults(handler=run_show)


def load_from_args(args: argparse.Namespace) -> AppConfig:
    """The config named by the `-c` options of a command."""
    return load_config([Path(p) for p in args.config])


def run_validate(args: argparse.Namespace) -> int:
    """Validate and print a one-line verdict."""
    cfg = load_from_args(args)
    import exchange_calendars

    if cfg.market.calendar not in exchange_calendars.get_calendar_names():
        raise ConfigError(
            cfg.source_of("market.calendar"),
            "market.calendar",
            f"unknown exchange calendar {cfg.market.calendar!r} (expected an exchange_calendars "
            "code such as XHKG)",
        )
    layers = ", ".join(["defaults", *args.config])
    print(f"config OK ({layers}); hash {cfg.config_hash()}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print the merged config with its hash."""
    cfg = load_from_args(args)
    print(f"# merged from: defaults{''.join(', ' + p for p in args.config)}")
    print(f"# config hash: {cfg.config_hash()}")
    print(cfg.to_yaml(), end="")
    return 0
