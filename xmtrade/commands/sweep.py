"""`xmtrade sweep` and `xmtrade walkforward`: search a grid of config values, and check the
search out of sample."""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xmtrade.commands.dates import parse_window
from xmtrade.commands.paths import out_folder
from xmtrade.errors import ConfigError
from xmtrade.interrupts import exit_code
from xmtrade.reports import add_report_option, parse_formats

if TYPE_CHECKING:
    import pandas as pd

    from xmtrade.config import AppConfig, ConfigLayers
    from xmtrade.sweep.executors import Executor
    from xmtrade.sweep.grid import Grid
    from xmtrade.sweep.runner import Row

TOP_ROWS = 5


def _shared_options(parser: argparse.ArgumentParser, grid_required: bool = True) -> None:
    parser.add_argument(
        "--grid",
        required=grid_required,
        metavar="GRID.yaml",
        help="the grid file (configs/sweeps/)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="worker processes (default: sweep.jobs; 0 = one per core); 1 runs in this process",
    )
    parser.add_argument(
        "--metric", help="what the best combination maximises (default: sweep.metric)"
    )
    parser.add_argument(
        "--min-trades",
        type=int,
        metavar="N",
        help="fewest closed trades a winner needs (default: sweep.min_trades)",
    )
    parser.add_argument("--start", metavar="YYYY-MM-DD", help="first session of the sweep")
    parser.add_argument("--end", metavar="YYYY-MM-DD", help="last session of the sweep")
    parser.add_argument(
        "--executor",
        choices=("local", "dask", "dask-local"),
        default="local",
        help="local: a process pool here (default); dask: a Dask scheduler (--scheduler); "
        "dask-local: a Dask cluster started here (needs the dask extra)",
    )
    parser.add_argument(
        "--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://10.0.0.5:8786"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_report_option(parser)
    parser.add_argument(
        "--engine",
        choices=("kernel", "backtrader"),
        default="kernel",
        help="kernel: screen every combination in the compiled kernel, then confirm the best "
        "in backtrader (default); backtrader: run everything in backtrader",
    )
    parser.add_argument(
        "--confirm",
        type=int,
        default=20,
        metavar="N",
        help="with --engine kernel: how many of the best screened rows (per training span in "
        "a walk-forward) run again in backtrader (default 20)",
    )


def register(verbs: Any, common: argparse.ArgumentParser) -> None:
    """Add the `sweep` and `walkforward` verbs."""
    sweep = verbs.add_parser(
        "sweep",
        parents=[common],
        help="backtest every combination of a grid of config values and rank them",
        description="Backtest every combination of a grid of config values (lists, ranges or "
        "random samples of dotted config fields) and write results.csv (ranked by the metric), "
        "best.yaml (the winner as a -c overlay), report.html (ranked table, heatmap or parallel "
        "coordinates, leaders' equity), heatmap.png (two varying fields) and "
        "sweep.json (with the deflated Sharpe ratio and the probability of backtest "
        "overfitting). Ctrl-C stops and keeps the finished rows; --resume DIR continues a "
        "stopped or killed sweep from them.",
    )
    _shared_options(sweep, grid_required=False)
    sweep.add_argument(
        "--out", metavar="DIR", help="output folder (default: a new folder under DATA_DIR/sweeps)"
    )
    sweep.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the stopped or killed sweep in DIR from its finished runs, with the "
        "grid, config files, window, metric and engine it was started with",
    )
    sweep.set_defaults(handler=run_sweep_command)

    walk = verbs.add_parser(
        "walkforward",
        parents=[common],
        help="choose the best combination on each training span, test it on the next span",
        description="Walk forward: on each training span run the grid and pick the best "
        "combination, then trade it on the test span that follows (starting the session after "
        "the training span ends). The test spans are stitched into one out-of-sample equity "
        "curve; in- and out-of-sample metrics are reported per window and overall, in "
        "walkforward.json, report.html and walkforward.png.",
    )
    _shared_options(walk)
    walk.add_argument("--train", required=True, metavar="LENGTH", help="training span: 3y, 18m…")
    walk.add_argument("--test", required=True, metavar="LENGTH", help="test span: 1y, 6m…")
    walk.add_argument(
        "--min-train-sharpe",
        default="default",
        metavar="S",
        help="a window whose best in-sample Sharpe is below S stays in cash (default 0: a "
        "combination that did not beat cash on its training span is not deployed; none: "
        "deploy every winner)",
    )
    walk.add_argument(
        "--anchored",
        action="store_true",
        help="training spans all start at the first session (default: they roll forward)",
    )
    walk.add_argument(
        "--out",
        metavar="DIR",
        help="output folder (default: a new folder under DATA_DIR/walkforward)",
    )
    walk.set_defaults(handler=run_walkforward_command)


def _settings(args: argparse.Namespace, base: AppConfig) -> tuple[str, int, int]:
    """Metric, minimum trades and job count: flags over the config's `sweep` section."""
    from xmtrade.sweep.executors import cpu_count
    from xmtrade.sweep.runner import check_metric

    metric = check_metric(args.metric or base.sweep.metric)
    if getattr(args, "confirm", 0) < 0:
        raise ConfigError("command line", "--confirm", f"expected 0 or more, got {args.confirm}")
    min_trades = base.sweep.min_trades if args.min_trades is None else args.min_trades
    if min_trades < 0:
        raise ConfigError("command line", "--min-trades", f"expected 0 or more, got {min_trades}")
    jobs = base.sweep.jobs if args.jobs is None else args.jobs
    if jobs < 0:
        raise ConfigError("command line", "--jobs", f"expected 0 (every core) or more, got {jobs}")
    return metric, min_trades, jobs or cpu_count()


def _load(args: argparse.Namespace) -> tuple[ConfigLayers, AppConfig, Grid, pd.DataFrame, Path]:
    from data_feeds.cache import PriceCache
    from xmtrade.commands.config import config_files
    from xmtrade.config import ConfigLayers
    from xmtrade.home import prices_dir, resolve_data_dir
    from xmtrade.sweep.grid import load_grid

    layers = ConfigLayers(config_files(args))
    base = layers.build()
    grid = load_grid(Path(args.grid), base.sweep.max_combinations)
    data_dir = resolve_data_dir(args.data_dir)
    from xmtrade.kernel.compiled import use_cache_dir

    args.numba_cache = use_cache_dir(data_dir)  # before the kernel is imported
    bars = PriceCache(prices_dir(data_dir)).load(base.instrument.symbol)
    return layers, base, grid, bars, data_dir


def _executor(args: argparse.Namespace, jobs: int) -> Executor:
    """The executor, checked (a Dask scheduler reached) before any output is written."""
    from xmtrade.sweep.executors import make_executor

    executor = make_executor(args.executor, jobs, args.scheduler)
    executor.check()
    return executor


def _dropped(grid: Grid) -> str:
    """How many repeated combinations the grid's lists held, if any."""
    if not grid.duplicates:
        return ""
    return f" ({grid.duplicates} repeated {'one' if grid.duplicates == 1 else 'ones'} dropped)"


def _cap(args: argparse.Namespace, jobs: int, runs: int) -> int:
    """No more workers than runs: --jobs 500 for 147 combinations starts 147 (and says so)."""
    if args.executor == "dask" or jobs <= runs:
        return jobs
    print(f"{args.verb}: {jobs} workers capped at {runs}, one per run", file=sys.stderr)
    return max(1, runs)


def _out(args: argparse.Namespace, data_dir: Path, kind: str, grid: Grid) -> Path:
    """The output folder: --out (absent or empty, else a one-line error), or a new folder
    under DATA_DIR/<kind>, reserved at once so no other run can take it."""
    from xmtrade.sweep.output import check_folder, reserve_folder

    out = out_folder(args.out)
    if out is not None:
        check_folder(out)
        return out
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return reserve_folder(data_dir / kind, f"{stamp}-{Path(grid.source).stem}")


_FIXED_BY_RESUME = (("grid", "--grid"), ("config", "-c"), ("metric", "--metric"),
                    ("min_trades", "--min-trades"), ("start", "--start"), ("end", "--end"),
                    ("out", "--out"), ("data_dir", "--data-dir"))  # fmt: skip


def _resume_settings(args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """`--resume DIR`: the sweep's own settings put into `args`; its folder and marker."""
    from xmtrade.sweep.resume import read_marker, resumable

    for name, option in _FIXED_BY_RESUME:
        if getattr(args, name, None) not in (None, []):
            raise ConfigError(
                "command line",
                "--resume",
                f"a resumed sweep keeps the grid, config files, window, metric and folder it "
                f"was started with: drop {option}",
            )
    folder = Path(args.resume)
    meta = read_marker(folder)
    dead = resumable(folder, meta)
    kept = meta["resume"]
    args.grid, args.config = kept["grid"], list(kept["config_files"])
    args.data_dir, args.start, args.end = kept["data_dir"], kept["start"], kept["end"]
    args.metric, args.min_trades = kept["metric"], kept["min_trades"]
    args.engine, args.confirm, args.report = kept["engine"], kept["confirm"], kept["report"]
    args.out = str(folder)
    status = meta.get("status")
    why = f"killed: {dead.words()}, no longer running" if dead is not None else f"{status}"
    meta["why"] = why
    return folder, meta


def run_sweep_command(args: argparse.Namespace) -> int:
    """Run the sweep, print the leaders and the overfitting guards."""
    resumed: tuple[Path, dict[str, Any]] | None = None
    if args.resume is not None:
        resumed = _resume_settings(args)
    elif not args.grid:
        raise ConfigError("command line", "--grid", "expected a grid file (or --resume DIR)")
    start, end = parse_window(args.start, args.end)
    formats = parse_formats(args.report)
    out_folder(args.out)  # a folder that cannot be one is refused before any work
    from xmtrade.errors import missing_dirs, removed_if_empty
    from xmtrade.sweep.resume import prices_digest, read_outcomes
    from xmtrade.sweep.sweep import check_sweep, run_sweep

    data_dir_given = bool(args.data_dir) and (
        resumed is None or resumed[1]["resume"].get("data_dir_given")
    )
    layers, base, grid, bars, data_dir = _load(args)
    kept = None
    if resumed is not None:
        if resumed[1].get("prices") != prices_digest(bars):
            raise ConfigError(
                str(resumed[0]),
                None,
                "the prices changed since the sweep began (a data update?): start a new sweep",
            )
        kept = read_outcomes(resumed[0])
    metric, min_trades, jobs = _settings(args, base)
    engine = _engine(args, metric, say_compiling=False)
    if resumed is not None:
        reuse = (
            f"{len(kept or {})} finished runs kept"
            if engine == "backtrader"
            else "the kernel screens every combination again"
        )
        print(
            f"sweep: resuming the sweep in {resumed[0]} ({resumed[1]['why']}): {reuse}",
            file=sys.stderr,
        )
    if grid.search is not None:
        grid, stopped = _study(args, layers, grid, bars, data_dir, metric, min_trades, start, end)
        if stopped:
            return exit_code()
    configs = check_sweep(layers, grid, bars, start, end)
    jobs = _cap(args, jobs, len(configs))
    executor = _executor(args, jobs)
    ours = resumed is None and (args.out is None or not Path(args.out).exists())
    made = missing_dirs(Path(args.out) if args.out else data_dir / "sweeps")
    out = resumed[0] if resumed is not None else _out(args, data_dir, "sweeps", grid)
    if engine == "kernel":
        _say_compiling(args)  # after every refusal: a refused sweep stays one line
    print(
        f"sweep: {len(grid.combinations)} combinations{_dropped(grid)} of {', '.join(grid.paths)} "
        f"on {executor.description}; metric {metric}, at least {min_trades} trades",
        file=sys.stderr,
    )
    settings = {
        "grid": str(Path(grid.source).resolve()),
        "config_files": [str(Path(p).resolve()) for p in layers.files],
        "data_dir": str(data_dir.resolve()),
        # best.yaml's command names the data directory when the sweep was told one
        "data_dir_given": str(data_dir.resolve()) if data_dir_given else None,
        "start": args.start,
        "end": args.end,
        "metric": metric,
        "min_trades": min_trades,
        "engine": args.engine,
        "confirm": args.confirm,
        "report": args.report,
    }
    with removed_if_empty(out, ours, made):
        result = run_sweep(
            layers=layers,
            base_files=[str(p) for p in layers.files],
            grid=grid,
            bars=bars,
            out=out,
            executor=executor,
            metric=metric,
            min_trades=min_trades,
            pbo_splits=base.sweep.pbo_splits,
            start=start,
            end=end,
            show_progress=not args.no_progress,
            configs=configs,
            formats=formats,
            engine=engine,
            confirm=args.confirm,
            settings=settings,
            resume=kept,
        )
    finished = len(result.ranked)
    print_table(_leaders(result.ranked, grid.paths, metric, min_trades))
    print(_guards(result.report))
    if not result.interrupted:
        from xmtrade.reports.sweep_page import default_value, is_default, sweep_notes

        defaults = {p: default_value(base, p) for p in grid.paths}
        default_row = next((r for r in result.ranked if is_default(r, defaults)), None)
        for note in sweep_notes(result.ranked, result.best, default_row, metric, min_trades):
            print(f"note: {note}")
    rate = finished / result.seconds if result.seconds > 0 else 0.0
    print(f"{finished} runs in {result.seconds:.1f} s ({rate:.1f} runs/s)")
    if result.interrupted:
        print(f"results so far: {result.results_csv}")
        what = "terminated" if exit_code() == 143 else "interrupted"
        print(
            f"xmtrade: {what} after {finished} of {result.total} runs; the finished rows "
            f"are in {result.results_csv} (no best.yaml: the sweep did not finish)",
            file=sys.stderr,
        )
        return exit_code()
    if result.best is None:
        print(f"no combination has {metric} and at least {min_trades} closed trades: no best.yaml")
    else:
        print(f"best: {result.folder / 'best.yaml'}")
    print(f"results: {result.results_csv}")
    if "html" in formats and (result.folder / "report.html").exists():
        print(f"report: {result.folder / 'report.html'}")
    return 0


def run_walkforward_command(args: argparse.Namespace) -> int:
    """Walk forward and print each window's in- and out-of-sample figures."""
    start, end = parse_window(args.start, args.end)
    formats = parse_formats(args.report)
    out_folder(args.out)  # a folder that cannot be one is refused before any work
    from xmtrade.errors import missing_dirs, removed_if_empty
    from xmtrade.sweep.walkforward import DEFAULT_MIN_TRAIN_SHARPE, plan_windows, run_walkforward
    from xmtrade.sweep.windows import parse_span

    args.min_train_sharpe = _sharpe_floor(args.min_train_sharpe, DEFAULT_MIN_TRAIN_SHARPE)
    train = parse_span(args.train, "--train")
    test = parse_span(args.test, "--test")
    layers, base, grid, bars, data_dir = _load(args)
    if grid.search is not None:
        raise ConfigError(
            grid.source, "search", "a search runs in `xmtrade sweep`; walkforward takes a grid"
        )
    metric, min_trades, jobs = _settings(args, base)
    windows = plan_windows(base, bars, start, end, train, test, args.anchored)
    jobs = _cap(args, jobs, len(grid.combinations) * len(windows))
    _executor(args, jobs).close()  # check the executor options before anything is written
    ours = args.out is None or not Path(args.out).exists()
    made = missing_dirs(Path(args.out) if args.out else data_dir / "walkforward")
    out = _out(args, data_dir, "walkforward", grid)
    with removed_if_empty(out, ours, made):
        result = run_walkforward(
            layers=layers,
            base_files=[str(p) for p in layers.files],
            grid=grid,
            bars=bars,
            out=out,
            executor_factory=lambda: _executor(args, jobs),
            train=train,
            test=test,
            anchored=args.anchored,
            metric=metric,
            min_trades=min_trades,
            pbo_splits=base.sweep.pbo_splits,
            start=start,
            end=end,
            show_progress=not args.no_progress,
            formats=formats,
            engine=_engine(args, metric),
            confirm=args.confirm,
            min_train_sharpe=args.min_train_sharpe,
        )
    print_table(_windows_table(result, metric))
    oos = result.overall["out_of_sample"]
    ins = result.overall["in_sample"]
    print(
        f"out of sample (stitched) {oos['start']} .. {oos['end']}: total return "
        f"{_pct(oos['total_return'])}"
        f", CAGR {_pct(oos['cagr'])}, Sharpe {_num(oos['sharpe'])}, max drawdown "
        f"{_pct(oos['max_drawdown'])}, {oos['n_trades']} trades (buy and hold "
        f"{_pct(oos['benchmark_total_return'])})"
    )
    efficiency = result.overall["walk_forward_efficiency"]
    print(
        f"mean of the windows' {metric}: {_num(ins[f'mean_window_{metric}'])} in sample, "
        f"{_num(oos[f'mean_window_{metric}'])} out of sample; walk-forward efficiency "
        + (
            result.overall.get("walk_forward_efficiency_note") or "n/a"
            if efficiency is None
            else f"{_num(efficiency)} (stitched out-of-sample CAGR / mean in-sample CAGR)"
        )
    )
    below = result.overall.get("windows_below_sharpe_floor", 0)
    if below:
        print(
            f"{below} window(s) left in cash: best in-sample Sharpe below "
            f"--min-train-sharpe {args.min_train_sharpe}"
        )
    print(f"folder: {result.folder}")
    if "html" in formats and (result.folder / "report.html").exists():
        print(f"report: {result.folder / 'report.html'}")
    if result.interrupted:
        what = "terminated" if exit_code() == 143 else "interrupted"
        print(
            f"xmtrade: {what}; the finished training rows are in {result.folder / 'train'}"
            f"; windows.partial.csv and oos_equity.partial.csv come from part of them and "
            "are not a finished walk-forward",
            file=sys.stderr,
        )
        return exit_code()
    return 0


def _study(
    args: argparse.Namespace,
    layers: ConfigLayers,
    grid: Grid,
    bars: pd.DataFrame,
    data_dir: Path,
    metric: str,
    min_trades: int,
    start: Any,
    end: Any,
) -> tuple[Grid, bool]:
    """Run (or resume) the grid's optuna study; the grid with every trial as a combination,
    and whether Ctrl-C stopped the study."""
    import dataclasses

    from xmtrade.sweep.runner import read_shared, status, to_row
    from xmtrade.sweep.screening import screen_one
    from xmtrade.sweep.search import run_study, study_file
    from xmtrade.sweep.work import LOWER_IS_BETTER, Task, run_one

    engine = _engine(args, metric)
    shared = read_shared(bars, [layers.build()])
    layer_text = [Path(p).read_text(encoding="utf-8") for p in layers.files]
    key = {"layers": layer_text, "metric": metric, "min_trades": min_trades, "engine": engine,
           "window": [start, end]}  # fmt: skip
    storage, name = study_file(data_dir, grid, key)

    def objective(params: dict[str, Any]) -> float | None:
        task = Task((None, 0), layers.build(params, overrides_source=grid.source), start, end)
        outcome = screen_one(shared, task) if engine == "kernel" else None
        if outcome is None:
            outcome = run_one(shared, task)
        row = to_row(outcome, params, 0)
        return row.value(metric) if status(row, metric, min_trades) == "ok" else None

    print(f"sweep: {grid.search} search, study {name} in {storage}", file=sys.stderr)
    combos, stopped = run_study(
        grid,
        storage,
        name,
        objective,
        metric in LOWER_IS_BETTER,
        say=lambda line: print(f"sweep: {line}", file=sys.stderr),
    )
    if stopped:
        print(
            f"xmtrade: interrupted; the study keeps its {len(combos)} finished trials in "
            f"{storage}: run the same command again to resume it",
            file=sys.stderr,
        )
    return dataclasses.replace(grid, combinations=combos), stopped


def _engine(args: argparse.Namespace, metric: str, say_compiling: bool = True) -> str:
    """The engine to screen with: the kernel, unless asked for backtrader or the metric is one
    the kernel does not compute (then it says so). `say_compiling`: print now the line said
    while the kernel first compiles (else `_say_compiling` does, once the inputs are checked)."""
    from xmtrade.kernel.screen import NOT_SCREENED

    if args.engine == "kernel" and metric in NOT_SCREENED:
        print(
            f"{args.verb}: the kernel does not compute {metric}; every run goes to backtrader",
            file=sys.stderr,
        )
        return "backtrader"
    if args.engine == "kernel" and say_compiling:
        _say_compiling(args)
    return str(args.engine)


def _say_compiling(args: argparse.Namespace) -> None:
    """The one line said before the kernel's first compile after an install (nothing when
    numba's cache holds it)."""
    from xmtrade.kernel.compiled import first_compile_note

    note = first_compile_note(args.numba_cache)
    if note is not None:
        print(f"{args.verb}: {note}", file=sys.stderr)


def _pct(value: float | None) -> str:
    from xmtrade.reports.terminal import pct

    return pct(value)


def _num(value: float | None) -> str:
    from xmtrade.reports.terminal import num

    return num(value)


def print_table(table: Any) -> None:
    from xmtrade.reports.terminal import print_table as show

    show(table)


def _leaders(ranked: list[Row], paths: list[str], metric: str, min_trades: int) -> Any:
    """The first TOP_ROWS rows, in the terminal's one number format."""
    from xmtrade.reports.terminal import metric as fmt
    from xmtrade.reports.terminal import ranked_table
    from xmtrade.sweep.runner import status

    shown = ["total_return", "sharpe", "max_drawdown", "n_trades"]
    names = list(dict.fromkeys([metric, *shown]))
    rows = [
        [
            str(n),
            *(str(row.params[p]) for p in paths),
            *(fmt(m, row.value(m)) for m in names),
            status(row, metric, min_trades),
        ]
        for n, row in enumerate(ranked[:TOP_ROWS], start=1)
    ]
    title = f"best {min(TOP_ROWS, len(ranked))} of {len(ranked)} by {metric}"
    return ranked_table(
        rows, ["#", *paths, *names, "status"], title if ranked else "no run finished"
    )


def _guards(report: dict[str, Any]) -> str:
    parts = [
        f"combinations tried: {report['combinations_tried']} "
        f"({report['completed']} completed, {report['failed']} failed)"
    ]
    dsr = report.get("deflated_sharpe")
    if dsr:
        parts.append(
            f"deflated Sharpe ratio of the best: {_num(dsr['dsr'])} (Sharpe "
            f"{_num(dsr['sharpe_annualised'])} against "
            f"{_num(dsr['expected_max_sharpe_annualised'])}"
            f" expected from the best of {dsr['trials']} skill-less trials; PSR(0) "
            f"{_num(dsr['psr'])})"
        )
    pbo = report.get("pbo")
    if pbo:
        parts.append(
            f"probability of backtest overfitting: {_num(pbo['pbo'])} "
            f"(CSCV, {pbo['splits']} blocks, {pbo['combinations']} splits)"
        )
    return "\n".join(parts)


def _sharpe_floor(text: str, default: float) -> float | None:
    """--min-train-sharpe: a number, `none` (no floor), or unset (`default`)."""
    if text == "default":
        return default
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(
            "command line", "--min-train-sharpe", f"expected a Sharpe ratio or none, got {text!r}"
        )
    return value


def _chosen_cell(best: Any, refused: Any, metric: str) -> str:
    from xmtrade.reports.terminal import short_params

    if best is not None:
        return str(short_params(best.params))
    if refused is not None:
        return (
            f"{short_params(refused.params)} (Sharpe {_num(refused.value('sharpe'))}, not deployed)"
        )
    return "none eligible"


def _windows_table(result: Any, metric: str) -> Any:
    from xmtrade.reports.terminal import metric as fmt
    from xmtrade.reports.terminal import ranked_table
    from xmtrade.sweep.windows import window_label

    rows = []
    refused = result.refused
    for w, best, test, no in zip(result.windows, result.chosen, result.tests, refused, strict=True):
        rows.append(
            [
                str(w.number),
                f"{w.train_start}..{w.train_end}",
                f"{w.test_start}..{w.test_end}{'*' if w.partial else ''}",
                fmt(metric, best.value(metric)) if best else "n/a",
                fmt(metric, test.value(metric)) if test else "n/a",
                fmt("total_return", test.value("total_return")) if test else "n/a",
                fmt("n_trades", test.value("n_trades")) if test else "n/a",
                _chosen_cell(best, no, metric),
                window_label(best, test, no is not None),
            ]
        )
    columns = [
        "window",
        "train",
        "test (* cut short)",
        f"IS {metric}",
        f"OOS {metric}",
        "OOS return",
        "OOS trades",
        "chosen",
        "note",
    ]
    return ranked_table(rows, columns, "walk-forward windows")
