"""`xmtrade compare RUN_DIR RUN_DIR [...]`: run folders side by side, in the terminal and as
compare.html."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from xmtrade.errors import ConfigError


def register(verbs: Any, common: argparse.ArgumentParser) -> None:
    """Add the `compare` verb."""
    parser = verbs.add_parser(
        "compare",
        help="compare run folders: figures side by side, config changes, equity overlaid",
        description="Compare two or more run folders (of `backtest` or `paper report`): their "
        "figures side by side with the change from the first, the config fields that differ, "
        "and (in compare.html) the equity and drawdown curves overlaid on one axis.",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders, two or more")
    parser.add_argument(
        "--out",
        metavar="FILE",
        default="compare.html",
        help="the HTML page (default: compare.html in the current folder)",
    )
    parser.add_argument("--no-html", action="store_true", help="the terminal tables alone")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Read the folders, print the tables, write compare.html."""
    if len(args.runs) < 2:
        raise ConfigError("command line", "RUN_DIR", "expected two or more run folders")
    from xmtrade.reports.compare import read_runs, terminal_tables, write_compare
    from xmtrade.reports.terminal import print_table

    runs = read_runs([Path(p) for p in args.runs])
    out = Path(args.out)
    if not args.no_html:
        write_compare(out, runs)
    for table in terminal_tables(runs):
        print_table(table)
    if not args.no_html:
        print(f"compare: {out}")
    return 0
