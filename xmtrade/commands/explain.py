"""`xmtrade explain`: the plan taken apart rule by rule, with honest uncertainty."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from xmtrade.commands.dates import parse_window
from xmtrade.errors import ConfigError

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
MIN_RESAMPLES, MAX_RESAMPLES = 100, 100_000


def register(verbs: Any, common: argparse.ArgumentParser) -> None:
    """Add the `explain` verb."""
    parser = verbs.add_parser(
        "explain",
        parents=[common],
        help="what each rule of the plan earns: the plan against one variant per rule family",
        description="Run the configured plan and one variant per rule family (that family "
        "switched off or set to its neutral value: no fundamental gate, no risk lines, no P/S "
        "ceiling, no drawdown breaker, no trailing stop, RSI entries only, divergence entries "
        "only, stage 1 only, gap rule keep, zero costs; more from --variants), each in the "
        "screening kernel and confirmed in backtrader. Each variant's difference to the plan "
        "gets a 95% interval and P(diff > 0) from a stationary block bootstrap of the paired "
        "daily returns, over the whole window, each calendar year and each --regimes span. "
        "Writes explain.json, variants.csv, periods.csv, equity.csv, config.yaml, "
        "variants.yaml and explain.html to a run folder.",
    )
    parser.add_argument("--start", metavar="YYYY-MM-DD", help="first session to trade")
    parser.add_argument("--end", metavar="YYYY-MM-DD", help="last session to trade")
    parser.add_argument(
        "--out", metavar="DIR", help="run folder (default: a new folder under DATA_DIR/explain)"
    )
    parser.add_argument(
        "--variants",
        metavar="FILE",
        help="YAML of more variants: variants: {name: {label, rule, overrides: {dotted.key: "
        "value}}} (a built-in name replaces that variant)",
    )
    parser.add_argument(
        "--regimes",
        metavar="FILE",
        help="YAML of named spans: regimes: {name: {start: YYYY-MM-DD, end: YYYY-MM-DD}}",
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=DEFAULT_RESAMPLES,
        metavar="N",
        help=f"bootstrap resamples (default {DEFAULT_RESAMPLES:,})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        metavar="S",
        help=f"seed of the bootstrap, recorded in the output (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="worker processes (default: sweep.jobs; 0 = one per core); 1 runs in this process",
    )
    parser.add_argument(
        "--json", action="store_true", help="print explain.json to stdout instead of the tables"
    )
    parser.add_argument(
        "--report",
        default="html",
        metavar="html|none",
        help="html: write explain.html (default); none: the data files alone",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(handler=run)


def _checked(args: argparse.Namespace) -> tuple[Any, Any, bool]:
    start, end = parse_window(args.start, args.end)
    report = (args.report or "").strip().lower()
    if report not in ("html", "none"):
        raise ConfigError("command line", "--report", f"expected html or none, got {args.report!r}")
    if not MIN_RESAMPLES <= args.resamples <= MAX_RESAMPLES:
        raise ConfigError(
            "command line",
            "--resamples",
            f"expected {MIN_RESAMPLES} to {MAX_RESAMPLES:,}, got {args.resamples}",
        )
    if args.seed < 0 or args.seed >= 2**63:
        raise ConfigError("command line", "--seed", f"expected 0 or more, got {args.seed}")
    if args.jobs is not None and args.jobs < 0:
        raise ConfigError("command line", "--jobs", f"expected 0 or more, got {args.jobs}")
    if args.out is not None and not args.out.strip():
        raise ConfigError("command line", "--out", "expected a folder, got ''")
    for option, value in (("--variants", args.variants), ("--regimes", args.regimes)):
        if value is not None and not value.strip():
            raise ConfigError("command line", option, "expected a YAML file, got ''")
    return start, end, report == "html"


def _folder(args: argparse.Namespace, data_dir: Path, config_hash: str) -> Path:
    from xmtrade.explain.output import check_out

    if args.out is not None:
        out = Path(args.out)
        check_out(out)
        return out
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root = data_dir / "explain"
    n = 1
    while True:
        candidate = root / (f"{stamp}-{config_hash[:8]}" + ("" if n == 1 else f"-{n}"))
        if not candidate.exists():
            return candidate
        n += 1


def run(args: argparse.Namespace) -> int:
    """Load, run every variant, bootstrap, write the folder, print the tables (or JSON)."""
    start, end, html = _checked(args)

    from data_feeds.cache import PriceCache
    from xmtrade.backtest import resolve_window
    from xmtrade.commands.config import config_files
    from xmtrade.config import ConfigLayers
    from xmtrade.errors import writing
    from xmtrade.explain.analysis import Bootstraps, explain
    from xmtrade.explain.output import document, write_folder
    from xmtrade.explain.runs import run_all
    from xmtrade.explain.spans import load_regimes, make_spans
    from xmtrade.explain.variants import (
        PLAN,
        check_silences,
        load_variants,
        variant_configs,
        variant_table,
    )
    from xmtrade.home import prices_dir, resolve_data_dir
    from xmtrade.interrupts import checkpoint, exit_code, outputs_complete
    from xmtrade.sweep.executors import cpu_count, make_executor
    from xmtrade.sweep.progress import Progress

    files = config_files(args)
    layers = ConfigLayers(files)
    plan = layers.build()
    extra = load_variants(Path(args.variants)) if args.variants else []
    variants = variant_table(extra)
    configs = variant_configs(layers, plan, variants)
    regimes = load_regimes(Path(args.regimes)) if args.regimes else []
    data_dir = resolve_data_dir(args.data_dir)
    from xmtrade.kernel.compiled import first_compile_note, use_cache_dir

    numba_cache = use_cache_dir(data_dir)  # before the kernel is imported, as sweeps do
    bars = PriceCache(prices_dir(data_dir)).load(plan.instrument.symbol)
    first, last = resolve_window(plan, bars, start, end)
    check_silences(variants, configs, bars, first)
    window = [ts.date() for ts in bars.loc[str(first) : str(last)].index]
    spans = make_spans(window, regimes, args.regimes or "--regimes")
    out = _folder(args, data_dir, plan.config_hash())
    jobs = plan.sweep.jobs if args.jobs is None else args.jobs
    names = [PLAN, *(v.name for v in variants)]
    jobs = max(1, min(jobs or cpu_count(), len(names)))
    executor = make_executor("local", jobs)
    print(
        f"explain: the plan and {len(variants)} variants, {first} .. {last}, in the kernel and "
        f"in backtrader on {executor.description}",
        file=sys.stderr,
    )
    note = first_compile_note(numba_cache)
    if note is not None:
        print(f"explain: {note}", file=sys.stderr)
    progress = Progress(len(names), label="runs", enabled=not args.no_progress)
    bootstraps = Bootstraps(spans, args.resamples, args.seed)  # as the runs come back
    records, interrupted = run_all(
        names, [plan, *configs], bars, start, end, executor, progress, bootstraps.add
    )
    if interrupted:
        what = "terminated" if exit_code() == 143 else "interrupted"
        print(f"xmtrade: {what}; nothing was written", file=sys.stderr)
        return exit_code()
    checkpoint()
    if list(records[PLAN].dates) != window:
        raise ConfigError("explain", None, "the runs' sessions are not the window's (a bug)")
    if not args.no_progress:
        print(
            f"explain: {args.resamples:,} bootstrap resamples (seed {args.seed}) for "
            f"{len(names)} runs over {len(spans)} spans, done as the runs came back",
            file=sys.stderr,
        )
    explanation = explain(
        variants, records, spans, plan.backtest.initial_nav, args.resamples, args.seed, bootstraps
    )
    settings = {
        "config_files": [str(p) for p in files],
        "variants_file": args.variants,
        "regimes_file": args.regimes,
        "requested_window": [None if d is None else d.isoformat() for d in (start, end)],
    }
    doc = document(explanation, plan, settings)
    page_text = None
    if html:
        from xmtrade.explain.page import explain_page

        page_text = explain_page(explanation, doc, plan.backtest.initial_nav)
    checkpoint()
    with writing(out):
        folder = write_folder(out, doc, explanation, plan, page_text)
    outputs_complete()
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
        print(f"run folder: {folder}", file=sys.stderr)
        return 0
    from xmtrade.explain.terminal import print_explanation

    print_explanation(explanation)
    print(
        f"{args.resamples:,} resamples, seed {args.seed} (--seed {args.seed} reproduces every "
        "interval); 95% intervals"
    )
    print(f"run folder: {folder}")
    if html:
        print(f"report: {folder / 'explain.html'}")
    return 0
