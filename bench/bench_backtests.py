"""Backtests per second of the default strategy over the full shared 1810.HK history.

Not a test: a measurement, printed as a table (and as JSON with --json). It times

1. the sweep engine in one process (`--jobs 1`): shared prices, each distinct indicator
   setting computed once, fast feed;
2. the sweep engine with a process pool (`--jobs 2` by default);
3. the baseline: the same grid through plain backtrader, `cerebro.optstrategy` of the same
   strategy class with backtrader's defaults (stock `PandasData` feed, standard observers),
   each strategy instance loading its own config, signals and fundamentals as a plain
   backtrader strategy computes its indicators in `__init__`; in one process (`maxcpus=1`);
4. the peak memory of a 1,000-run sweep with the process pool: the largest total resident
   set (RSS) of this process and its workers, sampled every 0.1 s, and the proportional
   set size (PSS, shared pages split between processes) on Linux.

Every run of the engine and of the baseline is checked to give the same Sharpe ratio and
final NAV for the same combination.

    python bench/bench_backtests.py                # the README's figures (about 3 minutes)
    python bench/bench_backtests.py --runs 40 --memory-runs 0   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_PRICES = Path(os.environ.get("XMTRADE_SHARED_DATA", REPO.parent / "shared" / "data"))


MEMORY_GRID: dict[str, Any] = {  # 20 x 10 x 5 = 1,000 combinations, all distinct
    "signals.rsi.oversold": {"range": [20, 39, 1]},
    "exits.rsi_overbought": {"range": [62, 80, 2]},
    "stop.lookback": {"range": [10, 30, 5]},
}


def grid_spec(runs: int) -> dict[str, Any]:
    """A grid of about `runs` combinations over signal, stop and exit settings (random
    sampling with a fixed seed, so the mix of distinct indicator settings is realistic)."""
    return {
        "sample": {"count": runs, "seed": 7},
        "signals.rsi.oversold": {"range": [24, 36, 2]},
        "exits.rsi_overbought": {"range": [64, 80, 4]},
        "stop.lookback": {"range": [10, 40, 5]},
        "exits.max_holding_sessions": [63, 126, 189],
        "signals.divergence.lookback": [40, 60, 80],
    }


def load_inputs(prices: Path) -> tuple[Any, Any]:
    from data_feeds.bars import read_price_csv
    from xmtrade.config import ConfigLayers

    return read_price_csv(prices), ConfigLayers()


def engine(
    bars: Any, layers: Any, runs: int, jobs: int, full: bool = False
) -> tuple[float, dict[int, tuple]]:
    """Seconds for the sweep engine to run the grid (`full`: the first `runs` combinations
    of the 1,000-combination grid), and each combination's results."""
    from xmtrade.sweep.executors import PoolExecutor, SerialExecutor
    from xmtrade.sweep.grid import parse_grid
    from xmtrade.sweep.progress import Progress
    from xmtrade.sweep.runner import build_configs, execute, read_shared
    from xmtrade.sweep.work import Task

    grid = parse_grid(MEMORY_GRID if full else grid_spec(runs), "bench grid", 10**6)
    configs = build_configs(layers, grid)[:runs] if full else build_configs(layers, grid)
    began = time.perf_counter()
    shared = read_shared(bars, configs)
    tasks = [Task(i, cfg, None, None) for i, cfg in enumerate(configs)]
    executor = SerialExecutor() if jobs == 1 else PoolExecutor(jobs)
    outcomes, _ = execute(tasks, shared, executor, Progress(len(tasks), enabled=False))
    seconds = time.perf_counter() - began
    failed = [o for o in outcomes if o.error]
    if failed:
        raise SystemExit(f"engine run failed: {failed[0].error}")
    return seconds, {
        o.key: (o.metrics["sharpe"], o.metrics["final_nav"]) for o in outcomes if o.metrics
    }


def baseline(bars: Any, runs: int) -> tuple[float, dict[int, tuple]]:
    """Seconds for plain backtrader `optstrategy` to run the same grid in one process."""
    import backtrader as bt

    from data_feeds.calendar import SessionCalendar
    from strategies.three_horizon import StrategyInputs, ThreeHorizonStrategy
    from xmtrade import backtest
    from xmtrade.broker import HkBroker, HkCommission
    from xmtrade.config import load_config
    from xmtrade.reports.figures import summarize
    from xmtrade.sweep.grid import parse_grid

    grid = parse_grid(grid_spec(runs), "bench grid", 10**6)
    results: dict[int, tuple] = {}

    class PlainFeed(bt.feeds.PandasData):
        """backtrader's stock pandas feed with the placeholder-bar flag."""

        lines = ("no_trading",)
        params = (("no_trading", "no_trading"), ("openinterest", None))

    class PlainStrategy(ThreeHorizonStrategy):
        """The same strategy, computing its own inputs in __init__ like any bt strategy."""

        params = (("combo", None), ("calendar", None))

        def __init__(self) -> None:
            index, overrides = self.p.combo
            cfg = load_config(overrides=overrides, overrides_source="bench grid")
            costs = self.broker.getcommissioninfo(self.data).cost_model
            self.p.inputs = StrategyInputs(
                config=cfg,
                bars=bars,
                signals=backtest.signals_for(cfg, bars),
                first_index=0,
                next_session=self.p.calendar.next_session,
                ticks=self.broker.ticks,
                costs=costs,
                fundamentals=backtest.load_fundamentals(cfg, self.p.calendar),
                hkd_per_rmb=backtest.fx_rate(cfg),
            )
            self.combo_index = index
            super().__init__()

        def stop(self) -> None:
            cfg = self.inputs.config
            records = self.records
            result = backtest.BacktestResult(
                config=cfg,
                start=bars.index[0].date(),
                end=bars.index[-1].date(),
                equity=backtest._equity_frame(records),
                trades=backtest._trades_frame(records.tranches),
                fills=backtest._fills_frame(records, self.inputs.costs.kinds()),
                decisions=records.decisions,
                benchmark=bars["close"].astype(float),
                bars=bars,
                fee_kinds=self.inputs.costs.kinds(),
                open_orders=[],
            )
            summary = summarize(result)
            results[self.combo_index] = (summary["sharpe"], summary["final_nav"])

    began = time.perf_counter()
    cfg = load_config()
    calendar = SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)
    ticks, costs = backtest.market_models(cfg)
    cerebro = bt.Cerebro(maxcpus=1)
    feed = PlainFeed(dataname=bars)
    cerebro.adddata(feed)
    broker = HkBroker(ticks=ticks, slippage_ticks=cfg.costs.slippage_ticks)
    broker.setcash(cfg.backtest.initial_nav)
    broker.addcommissioninfo(HkCommission(costs, feed))
    cerebro.setbroker(broker)
    cerebro.optstrategy(
        PlainStrategy, combo=list(enumerate(grid.combinations)), calendar=[calendar]
    )
    cerebro.run()
    return time.perf_counter() - began, results


class PeakMemory:
    """Samples the total RSS and PSS of this process and its children (Linux /proc)."""

    def __init__(self, every: float = 0.1, root: int | None = None) -> None:
        self.every = every
        self.root = root  # the process tree to measure (default: this process's)
        self.peak_rss = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            root = os.getpid() if self.root is None else self.root
            pids = [root, *_children(root)]
            rss = sum(_kib(pid, "status", "VmRSS:") for pid in pids)
            pss = sum(_kib(pid, "smaps_rollup", "Pss:") for pid in pids)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self._stop.wait(self.every)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            out += [int(p) for p in text.split()]
    except OSError:
        return out
    return out + [c for p in out for c in _children(p)]


def _kib(pid: int, name: str, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def memory_of_sweep(bars: Any, layers: Any, runs: int, jobs: int) -> dict[str, Any]:
    """Peak memory of a sweep of `runs` combinations with `jobs` worker processes."""
    import resource

    with PeakMemory() as peak:
        seconds, results = engine(bars, layers, runs, jobs, full=True)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "runs": len(results),
        "jobs": jobs,
        "seconds": round(seconds, 2),
        "peak_total_rss_mib": round(peak.peak_rss / 1024, 1),
        "peak_total_pss_mib": round(peak.peak_pss / 1024, 1),
        "getrusage_self_plus_largest_child_mib": round((own + child) / 1024, 1),
    }


MODES = ("single", "pool", "baseline", "memory")


def run_mode(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    bars, layers = load_inputs(args.prices)
    if mode == "memory":
        return memory_of_sweep(bars, layers, args.memory_runs, args.jobs)
    if mode == "single":
        seconds, results = engine(bars, layers, args.runs, 1)
    elif mode == "pool":
        seconds, results = engine(bars, layers, args.runs, args.jobs)
    else:
        seconds, results = baseline(bars, args.runs)
    return {
        "seconds": seconds,
        "runs": len(results),
        "runs_per_second": len(results) / seconds,
        "results": {str(k): v for k, v in sorted(results.items())},
    }


def in_fresh_process(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one mode in a new interpreter, so no mode profits from another's warm caches."""
    import subprocess

    command = [
        sys.executable,
        __file__,
        "--mode",
        mode,
        "--prices",
        str(args.prices),
        "--runs",
        str(args.runs),
        "--jobs",
        str(args.jobs),
        "--memory-runs",
        str(args.memory_runs),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prices", type=Path, default=DEFAULT_PRICES / "1810.HK.csv")
    parser.add_argument("--runs", type=int, default=200, help="combinations timed per mode")
    parser.add_argument("--jobs", type=int, default=2, help="workers of the pool mode")
    parser.add_argument("--memory-runs", type=int, default=1000, help="0: skip the memory run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:  # a child: one measurement, as one JSON line
        print(json.dumps(run_mode(args.mode, args)))
        return 0

    from xmtrade.sweep.executors import cpu_count

    print(
        f"{args.prices.name}, {os.cpu_count()} cores ({cpu_count()} usable); "
        f"grid of {args.runs} sampled combinations; each mode in a fresh process"
    )
    timings: dict[str, dict[str, Any]] = {}
    labels = {
        "single": "engine, 1 process (--jobs 1)",
        "pool": f"engine, {args.jobs} processes (--jobs {args.jobs})",
        "baseline": "baseline: plain backtrader optstrategy, 1 process",
    }
    for mode, label in labels.items():
        timings[mode] = t = in_fresh_process(mode, args)
        print(
            f"  {label:<52} {t['runs']:>5} runs {t['seconds']:8.2f} s "
            f"{t['runs_per_second']:8.2f} runs/s",
            flush=True,
        )
    same = (
        timings["single"]["results"]
        == timings["pool"]["results"]
        == (timings["baseline"]["results"])
    )
    print(f"  same Sharpe and final NAV in every mode for every combination: {same}")
    rate = {m: timings[m]["runs_per_second"] for m in labels}
    figures: dict[str, Any] = {
        "runs": args.runs,
        "cores": os.cpu_count(),
        "single_process_runs_per_second": round(rate["single"], 2),
        f"jobs_{args.jobs}_runs_per_second": round(rate["pool"], 2),
        "baseline_runs_per_second": round(rate["baseline"], 2),
        "speedup_single_vs_baseline": round(rate["single"] / rate["baseline"], 2),
        f"speedup_jobs_{args.jobs}_vs_baseline": round(rate["pool"] / rate["baseline"], 2),
        "identical_results": same,
    }
    if args.memory_runs:
        memory = in_fresh_process("memory", args)
        figures["memory"] = memory
        print(
            f"  {memory['runs']}-run sweep, {args.jobs} processes: {memory['seconds']} s, peak "
            f"RSS {memory['peak_total_rss_mib']} MiB (all processes), PSS "
            f"{memory['peak_total_pss_mib']} MiB"
        )
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
