"""`xmtrade backtest`: run the strategy over the cached prices and write a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from xmtrade.commands.dates import parse_window


def register(verbs: Any, common: argparse.ArgumentParser) -> None:
    """Add the `backtest` verb."""
    parser = verbs.add_parser(
        "backtest",
        parents=[common],
        help="backtest the strategy on the cached prices",
        description="Backtest the strategy on the cached prices and write a run folder with "
        "summary.json, trades.csv, fills.csv, equity.csv, decisions.jsonl and chart.png.",
    )
    parser.add_argument("--start", metavar="YYYY-MM-DD", help="first session to trade")
    parser.add_argument("--end", metavar="YYYY-MM-DD", help="last session to trade")
    parser.add_argument(
        "--out", metavar="DIR", help="run folder (default: a new folder under DATA_DIR/runs)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Load config and prices, run, write the folder, print the metrics table."""
    start, end = parse_window(args.start, args.end)

    from data_feeds.cache import PriceCache
    from xmtrade.backtest import run_backtest
    from xmtrade.commands.config import load_from_args
    from xmtrade.config import session_calendar
    from xmtrade.errors import ConfigError, removed_if_empty, writing
    from xmtrade.home import prices_dir, resolve_data_dir, runs_dir
    from xmtrade.report import metrics_table, new_run_dir, summarize, write_run

    cfg = load_from_args(args)
    data_dir = resolve_data_dir(args.data_dir)
    bars = PriceCache(prices_dir(data_dir)).load(cfg.instrument.symbol)
    calendar = session_calendar(cfg)
    result = run_backtest(cfg, bars, calendar, start=start, end=end)
    summary = summarize(result)
    if args.out is not None and not args.out.strip():
        raise ConfigError("command line", "--out", "expected a folder, got ''")
    ours = args.out is None or not Path(args.out).exists()
    out = Path(args.out) if args.out else new_run_dir(runs_dir(data_dir), cfg.config_hash())
    with removed_if_empty(out, ours), writing(out):
        folder = write_run(result, summary, out)
    print(metrics_table(summary))
    print(f"run folder: {folder}")
    return 0
