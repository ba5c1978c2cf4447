"""The screening kernel against the backtrader path, side by side in one run.

Not a test: a measurement, printed as a table (and as JSON with --json). On the default
strategy over the full shared 1810.HK history it times

1. the compiled kernel alone (`run_kernel` on the precomputed arrays): screening runs/s on
   one core;
2. one screening run as a sweep pays for it (`screen_one`: the kernel plus the sweep's
   metrics, the precomputed arrays already built);
3. the backtrader path (`run_backtest`, the engine of record) on one core;
4. a sweep of `--combinations` combinations (default 10,000) with `--engine kernel` end to
   end on `--jobs` cores: building the configs, screening every one, confirming the best 20
   in backtrader, ranking, the overfitting guards and the output files;
5. the peak memory of that sweep: the total resident set (RSS) of this process and its
   workers, and the proportional set size (PSS: pages the forked workers share with the
   parent split between them);
6. with `--search TRIALS`, the command `xmtrade sweep` on a `search: random` grid of that
   many trials (the optuna study, then every trial screened and the best 20 confirmed), its
   time and the peak memory of its process tree.

Every run of (1) and (2) is checked to give the same daily NAV as (3).

    python bench/bench_kernel.py                        # the README's figures
    python bench/bench_kernel.py --combinations 2000    # a quick look
    python bench/bench_kernel.py --runs 0 --combinations 0 --search 100000   # the search
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_backtests import PeakMemory  # noqa: E402

DEFAULT_PRICES = Path(os.environ.get("XMTRADE_SHARED_DATA", REPO.parent / "shared" / "data"))


def sweep_grid(combinations: int) -> dict[str, Any]:
    """A grid of `combinations` distinct combinations over entry, sizing, stop and exits."""
    return {
        "sample": {"count": combinations, "seed": 11},
        "signals.rsi.oversold": {"range": [24, 36, 2]},
        "sizing.risk_per_trade_pct": {"uniform": [0.5, 3.0]},
        "stop.lookback": {"range": [10, 40, 5]},
        "exits.max_holding_sessions": {"range": [20, 200, 10]},
        "exits.rsi_overbought": {"range": [62, 80, 2]},
    }


def single_runs(bars: Any, runs: int) -> dict[str, Any]:
    import numpy as np

    from data_feeds.calendar import SessionCalendar
    from xmtrade.backtest import run_backtest
    from xmtrade.config import ConfigLayers
    from xmtrade.kernel.kernel import run_kernel
    from xmtrade.kernel.screen import _params, entry_signals, first_difference
    from xmtrade.sweep.screening import screen_one, screener_for
    from xmtrade.sweep.work import SharedData, Task

    cfg = ConfigLayers().build()
    calendar = SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)
    shared = SharedData(bars=bars, facts={})
    screener = screener_for(shared)
    reference = screener.run(cfg)  # compiles (or loads the cache) and builds the arrays
    result = run_backtest(cfg, bars, calendar)
    if first_difference(reference, result) is not None:
        raise SystemExit("the kernel differs from backtrader on the default config")
    cache = screener.cache
    market = next(v for k, v in cache.items() if k[0] == "market")
    funda = next(v for k, v in cache.items() if k[0] == "fundamentals")
    rsi = next(v for k, v in cache.items() if k[0] == "rsi")
    divergence = next(v for k, v in cache.items() if k[0] == "divergence")
    thresholds = (cfg.signals.rsi.oversold, cfg.exits.rsi_overbought or math.nan,
                  cfg.entry.require == "all")  # fmt: skip
    entry, overbought = entry_signals(rsi, divergence, *thresholds)
    stops = next(v for k, v in cache.items() if k[0] == "stops")
    iparams, fparams = _params(cfg)
    n = len(market.dates)
    m, f = market, funda
    nav = np.zeros(n)
    ti, tf = np.zeros((n + 1, 6), dtype=np.int64), np.zeros((n + 1, 5))
    args = (
        m.open, m.high, m.low, m.close, m.no_trading, m.ordinal, m.table_today, m.table_next,
        m.regime_today, m.regime_next, m.lower, m.upper, m.tick, m.bands, m.rates,
        m.per_trade, m.minimum, m.maximum, m.modes, m.cash_rate, m.days, entry, overbought,
        stops, f.streak, f.action, f.line_demand, f.line_reason, f.report, f.usable_from,
        f.ps_above, iparams, fparams, nav, ti, tf,
    )  # fmt: skip
    began = time.perf_counter()
    for _ in range(runs):  # the thresholds are applied per run, as a sweep does
        entry_signals(rsi, divergence, *thresholds)
        run_kernel(*args)
    kernel_seconds = time.perf_counter() - began
    if np.abs(nav - reference.nav).max() >= 0.005:
        raise SystemExit("the bare kernel's NAV differs")
    task = Task((None, 0), cfg, None, None)
    began = time.perf_counter()
    for _ in range(runs):
        screen_one(shared, task)
    screen_seconds = time.perf_counter() - began
    bt_runs = max(3, runs // 200)
    began = time.perf_counter()
    for _ in range(bt_runs):
        run_backtest(cfg, bars, calendar)
    bt_seconds = time.perf_counter() - began
    return {
        "sessions": n,
        "trades": len(reference.trades()),
        "kernel_runs_per_s": round(runs / kernel_seconds, 1),
        "screening_runs_per_s": round(runs / screen_seconds, 1),
        "backtrader_runs_per_s": round(bt_runs / bt_seconds, 2),
        "kernel_vs_backtrader": round((runs / kernel_seconds) / (bt_runs / bt_seconds), 1),
        "screening_vs_backtrader": round((runs / screen_seconds) / (bt_runs / bt_seconds), 1),
    }


def big_sweep(bars: Any, combinations: int, jobs: int, confirm: int) -> dict[str, Any]:
    from xmtrade.config import ConfigLayers
    from xmtrade.sweep.executors import PoolExecutor, SerialExecutor
    from xmtrade.sweep.grid import parse_grid
    from xmtrade.sweep.sweep import run_sweep

    layers = ConfigLayers()
    with tempfile.TemporaryDirectory() as folder, PeakMemory() as memory:
        began = time.perf_counter()
        grid = parse_grid(sweep_grid(combinations), "bench grid", 10**6)
        result = run_sweep(
            layers=layers,
            base_files=[],
            grid=grid,
            bars=bars,
            out=Path(folder) / "sweep",
            executor=SerialExecutor() if jobs == 1 else PoolExecutor(jobs),
            metric="sharpe",
            min_trades=10,
            pbo_splits=16,
            show_progress=False,
            engine="kernel",
            confirm=confirm,
        )
        seconds = time.perf_counter() - began
    return {
        "combinations": result.total,
        "jobs": jobs,
        "confirmed": confirm,
        "seconds_total": round(seconds, 1),
        "seconds_runs": round(result.seconds, 1),
        "peak_rss_mib": round(memory.peak_rss / 1024),
        "peak_pss_mib": round(memory.peak_pss / 1024),
        "best_sharpe": None if result.best is None else result.best.value("sharpe"),
    }


def search_memory(prices: Path, trials: int, jobs: int) -> dict[str, Any]:
    """Peak memory and time of `xmtrade sweep` on a `search: random` grid of `trials` trials
    (the study, then every trial screened and the best 20 confirmed), measured over the
    command's own process tree: the command a user runs, in a fresh data directory."""
    import subprocess

    import yaml

    space = {k: v for k, v in sweep_grid(trials).items() if k != "sample"}
    grid_spec = {"search": "random", "trials": trials, "seed": 11, **space}
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        grid = home / "search.yaml"
        grid.write_text(yaml.safe_dump(grid_spec), encoding="utf-8")
        env = {**os.environ, "XMTRADE_HOME": str(home / "data")}
        xmtrade = [str(Path(sys.executable).with_name("xmtrade"))]  # the console script
        subprocess.run([*xmtrade, "data", "import", str(prices)], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        began = time.perf_counter()
        command = [*xmtrade, "sweep", "--grid", str(grid), "--jobs", str(jobs),
                   "--no-progress", "--out", str(home / "out")]  # fmt: skip
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        with PeakMemory(root=proc.pid) as memory:
            code = proc.wait()
        seconds = time.perf_counter() - began
        if code != 0:
            raise SystemExit(f"the search failed (exit {code})")
        report = json.loads((home / "out" / "sweep.json").read_text(encoding="utf-8"))
    return {
        "trials": trials,
        "combinations_swept": report["combinations"],
        "jobs": jobs,
        "seconds_total": round(seconds, 1),
        "seconds_sweep_runs": report["seconds"],
        "peak_rss_mib": round(memory.peak_rss / 1024),
        "peak_pss_mib": round(memory.peak_pss / 1024),
        "pbo_trials": (report["overfitting"]["pbo"] or {}).get("trials"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prices", type=Path, default=DEFAULT_PRICES / "1810.HK.csv")
    parser.add_argument("--runs", type=int, default=4000, help="single runs to time")
    parser.add_argument("--combinations", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--confirm", type=int, default=20)
    parser.add_argument(
        "--search", type=int, default=0, metavar="TRIALS",
        help="also measure `xmtrade sweep` on a `search: random` grid of TRIALS trials",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from data_feeds.bars import read_price_csv

    bars = read_price_csv(args.prices)
    report = {"single": single_runs(bars, args.runs)} if args.runs else {}
    if args.combinations:
        report["sweep"] = big_sweep(bars, args.combinations, args.jobs, args.confirm)
    if args.search:
        report["search"] = search_memory(args.prices, args.search, args.jobs)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for section, values in report.items():
        print(section)
        for key, value in values.items():
            print(f"  {key:<26} {value}")


if __name__ == "__main__":
    main()
