"""`xmtrade backtest`: run the strategy over the cached prices and write a run folder."""

from __future__ import annotations

import argparse
from typing import Any

from xmtrade.commands.dates import parse_window
from xmtrade.commands.paths import out_folder
from xmtrade.reports import add_report_option, parse_formats

BACKTEST_REPORTS = "html"


def register(verbs: Any, common: argparse.ArgumentParser) -> None:
    """Add the `backtest` verb."""
    parser = verbs.add_parser(
        "backtest",
        parents=[common],
        help="backtest the strategy on the cached prices",
        description="Backtest the strategy on the cached prices and write a run folder with "
        "summary.json, trades.csv, fills.csv, equity.csv, decisions.jsonl and report.html (an "
        "interactive report that works offline); chart.png too with --report html,png.",
    )
    parser.add_argument("--start", metavar="YYYY-MM-DD", help="first session to trade")
    parser.add_argument("--end", metavar="YYYY-MM-DD", help="last session to trade")
    parser.add_argument(
        "--out", metavar="DIR", help="run folder (default: a new folder under DATA_DIR/runs)"
    )
    # chart.png costs more than the backtest itself (matplotlib and the drawing); the page
    # holds the same curves: the PNG is drawn when asked (--report html,png or png)
    add_report_option(parser, default=BACKTEST_REPORTS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Load config and prices, run, write the folder, print the metrics table."""
    start, end = parse_window(args.start, args.end)
    formats = parse_formats(args.report)
    given_out = out_folder(args.out)

    from data_feeds.cache import PriceCache
    from xmtrade.backtest import run_backtest
    from xmtrade.commands.config import load_from_args
    from xmtrade.config import session_calendar
    from xmtrade.errors import missing_dirs, removed_if_empty, writing
    from xmtrade.home import prices_dir, resolve_data_dir, runs_dir
    from xmtrade.interrupts import checkpoint, outputs_complete
    from xmtrade.reports.run_folder import new_run_dir, write_run
    from xmtrade.reports.stats import run_summary
    from xmtrade.reports.terminal import print_summary

    cfg = load_from_args(args)
    data_dir = resolve_data_dir(args.data_dir)
    bars = PriceCache(prices_dir(data_dir)).load(cfg.instrument.symbol)
    calendar = session_calendar(cfg)
    result = run_backtest(cfg, bars, calendar, start=start, end=end)
    summary = run_summary(result)
    checkpoint()  # a stop swallowed during the run: nothing is written
    ours = given_out is None or not given_out.exists()
    made = missing_dirs(given_out or runs_dir(data_dir))
    out = given_out or new_run_dir(runs_dir(data_dir), cfg.config_hash())
    with removed_if_empty(out, ours, made), writing(out):
        folder = write_run(result, summary, out, formats)
    outputs_complete()
    print_summary(summary)
    print(f"run folder: {folder}")
    if "html" in formats:
        print(f"report: {folder / 'report.html'}")
    from xmtrade.reports.facts_show import stale_warning

    warning = stale_warning(cfg, calendar, result.end)
    if warning:
        print(warning)
    return 0
